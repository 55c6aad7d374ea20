"""Every HTTP response carries the security headers (issue 14, item 5): a Content-Security-Policy, nosniff,
X-Frame-Options and Referrer-Policy — on an API route, an alert-center page, a 404, a 401 and the 413
of the body limit; /docs gets its own policy for Swagger UI (tests/api/test_docs_offline.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from shopsentinel.core.clock import ManualClock

POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
          "img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
          "frame-ancestors 'none'")


def assert_secure(response: httpx.Response, policy: str = POLICY) -> None:
    headers = response.headers
    assert headers.get_list("content-security-policy") == [policy]
    assert headers.get_list("x-content-type-options") == ["nosniff"]
    assert headers.get_list("x-frame-options") == ["DENY"]
    assert headers.get_list("referrer-policy") == ["no-referrer"]


@pytest.fixture
def small(api_factory: Any, tmp_path: Any, clock: ManualClock) -> Any:
    return api_factory(f"sqlite:///{tmp_path / 'headers.db'}", clock, max_body_bytes=1024)


def test_api_page_404_401_and_413_carry_the_headers(small: Any) -> None:
    api = small
    cases = {
        "api": (api.get("/api/v1/alerts"), 200),
        "health": (api.get("/healthz"), 200),
        "login page": (api.as_token("").get("/login"), 200),
        "static": (api.get("/static/app.css"), 200),
        "404": (api.get("/no/such/page"), 404),
        "api 404": (api.get("/api/v1/silences/999"), 404),
        "401": (api.as_token("").get("/api/v1/alerts"), 401),
        "413": (api.as_token("").post("/api/v1/points", content=b"x" * 2048), 413),
        "422": (api.get("/api/v1/alerts", params={"limit": 0}), 422),
    }
    for name, (response, status) in cases.items():
        assert response.status_code == status, (name, response.status_code)
        assert_secure(response)
    assert "text/html" in cases["login page"][0].headers["content-type"]


def test_the_login_page_needs_nothing_the_policy_forbids(small: Any) -> None:
    page = small.as_token("").get("/login").text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # no inline script
    assert "<style" not in page and " on" + "click=" not in page
    for src in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not src.startswith(("http:", "https:", "//")), src  # only the app's own origin


def test_docs_get_their_own_policy(small: Any) -> None:
    docs = small.get("/docs")
    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert policy != POLICY and "http" not in policy and "frame-ancestors 'none'" in policy  # no CDN any more
    assert_secure(docs, policy)
    assert_secure(small.get("/openapi.json"))  # the schema itself is plain JSON under the strict policy
