"""The API docs render in a real browser with no way out to the internet (issue 16, item 4): Debian's
chromium resolves no host but 127.0.0.1, every request to another origin is aborted and recorded, and
Swagger UI and ReDoc still show the operations — under the docs' Content-Security-Policy, with no
violation reported but ReDoc's remote footer logo, which the policy refuses."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from shopsentinel.core.clock import ManualClock
from tests.web.conftest import LiveServer, make_app
from tests.web.fleet import NOW

LOAD_TIMEOUT_MS = 60_000  # the deadline of each wait: rendering a 1.5 MB bundle on a busy 2-core machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'state.db'}", ManualClock(NOW))
    with LiveServer(app) as live:
        yield live
    app.state.service.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium that resolves no host name but 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                     args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        yield chromium
        chromium.close()


@pytest.fixture
def offline_page(server: LiveServer, browser: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page that can reach only the server: (page, requests to other origins, console errors)."""
    outside: list[str] = []
    errors: list[str] = []
    context = browser.new_context(locale="zh-CN", service_workers="block")
    own = urlsplit(server.url).netloc

    def only_own_origin(route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != own:
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_own_origin)
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page, outside, errors
    context.close()


def test_swagger_ui_lists_the_operations_offline(server: LiveServer, offline_page: tuple[Any, list[str], list[str]]) -> None:
    from playwright.sync_api import expect

    page, outside, errors = offline_page
    page.goto(f"{server.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ShopSentinel", timeout=LOAD_TIMEOUT_MS)
    points = page.locator(".opblock-summary-path", has_text="/api/v1/points").first
    expect(points).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    assert page.locator(".opblock").count() > 20
    assert outside == [] and errors == [], (outside, errors)


def test_redoc_lists_the_operations_offline(server: LiveServer, offline_page: tuple[Any, list[str], list[str]]) -> None:
    from playwright.sync_api import expect

    page, outside, errors = offline_page
    page.goto(f"{server.url}/redoc")
    expect(page.get_by_role("heading", level=1, name=re.compile("ShopSentinel"))).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(page.locator("div.api-content").get_by_text("/api/v1/points").first).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    # ReDoc's side-menu footer always points its logo at cdn.redoc.ly; the policy refuses it before any
    # request (the image hides itself on error). That refusal is the one error, and shows the policy holds.
    def logo_refusals() -> list[str]:
        return [e for e in errors if "https://cdn.redoc.ly/redoc/logo-mini.svg" in e and "img-src 'self' data:" in e]

    deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
    while not logo_refusals() and time.monotonic() < deadline:  # the footer renders after the first paint
        page.wait_for_timeout(50)  # lets the page's console events through
    logo = logo_refusals()
    assert outside == [] and len(logo) == 1 and [e for e in errors if e not in logo] == [], (outside, errors)
    expect(page.get_by_alt_text("redocly logo")).to_have_count(0, timeout=LOAD_TIMEOUT_MS)
