"""The interactive API docs work offline (issue 16, item 4): /docs (Swagger UI) and /redoc (ReDoc) load
every script, style and icon from the app's own origin — files of the installed fastapi-offline
package — and their Content-Security-Policy names no external host and allows the one inline start
script by its hash only. Who may see them is unchanged: the pages and the schema are public."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from shopsentinel.api import docs_ui
from shopsentinel.core.clock import ManualClock

PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")
ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture
def anonymous(api_factory: Any, tmp_path: Any, clock: ManualClock) -> Any:
    return api_factory(f"sqlite:///{tmp_path / 'docs.db'}", clock).as_token("")


def referenced(page: str) -> list[str]:
    """Every URL a docs page loads: src/href attributes, Swagger UI's ``url:`` and ReDoc's ``spec-url``."""
    return re.findall(r'(?:src|href|spec-url)="([^"]+)"', page) + re.findall(r"\burl: '([^']+)'", page)


def test_the_pages_load_only_from_their_own_origin(anonymous: Any) -> None:
    loaded: set[str] = set()
    for path in ("/docs", "/redoc"):
        response = anonymous.get(path)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        page = response.text
        assert "http://" not in page and "https://" not in page, path  # no CDN, no Google Fonts, no remote favicon
        urls = referenced(page)
        assert "/openapi.json" in urls and any(u.endswith(".js") for u in urls), (path, urls)
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), (path, url)
        loaded.update(urls)
    assert loaded - {"/openapi.json"} == {f"{docs_ui.ASSETS_PATH}/{name}" for name in (
        "swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")}
    for url in sorted(loaded):
        asset = anonymous.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
        if url == "/openapi.json":
            assert "/api/v1/points" in asset.json()["paths"]
        else:
            assert ASSET_TYPES[url[url.rindex("."):]] in asset.headers["content-type"], (url, asset.headers["content-type"])
    assert b"SwaggerUIBundle" in anonymous.get(f"{docs_ui.ASSETS_PATH}/swagger-ui-bundle.js").content
    assert b"Redoc" in anonymous.get(f"{docs_ui.ASSETS_PATH}/redoc.standalone.js").content
    assert b".swagger-ui" in anonymous.get(f"{docs_ui.ASSETS_PATH}/swagger-ui.css").content


def test_the_policy_names_no_external_host_and_inline_scripts_only_by_hash(anonymous: Any) -> None:
    for path in PAGES:
        response = anonymous.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert policy == docs_ui.CONTENT_SECURITY_POLICY, path
        assert "http" not in policy and "fonts." not in policy and "cdn" not in policy
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
        assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", response.text, re.DOTALL)
        for body in inline:  # the browser runs an inline script only if its hash is listed
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in directives["script-src"].split(), path
        assert len(inline) == (0 if path == "/redoc" else 1), path
    assert anonymous.get("/openapi.json").headers["content-security-policy"] != docs_ui.CONTENT_SECURITY_POLICY


def test_who_may_see_the_docs_is_unchanged(anonymous: Any) -> None:
    """Public as before: the pages, the schema and the assets need no token; the API itself does."""
    for url in (*PAGES, "/openapi.json", f"{docs_ui.ASSETS_PATH}/swagger-ui-bundle.js"):
        assert anonymous.get(url).status_code == 200, url
    assert anonymous.get("/api/v1/alerts").status_code == 401
    assert anonymous.get(f"{docs_ui.ASSETS_PATH}/no-such-file.js").status_code == 404
