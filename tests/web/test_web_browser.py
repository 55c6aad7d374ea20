"""The alert center in a real browser: Debian's chromium through Playwright against uvicorn serving
the real app (SQLite file, alerts from points pushed through the ingest API and a real tick)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shopsentinel.core.clock import ManualClock
from tests.web.conftest import ADMIN_TOKEN, PASSWORDS, Client, LiveServer, make_app
from tests.web.fleet import NOW, STORES, seed, uv_at

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, ManualClock, Any]]:
    clock = ManualClock(NOW)
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('web') / 'state.db'}", clock)
    seed(Client(app, ADMIN_TOKEN), clock)
    with LiveServer(app) as server:
        yield server, clock, app
    app.state.service.close()


@pytest.fixture
def own_live(tmp_path: Any) -> Iterator[tuple[LiveServer, ManualClock, Any]]:
    """An empty app of its own (users only), for a test whose points would change what the shared one shows."""
    clock = ManualClock(NOW)
    app = make_app(f"sqlite:///{tmp_path / 'state.db'}", clock)
    with LiveServer(app) as server:
        yield server, clock, app
    app.state.service.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def api(live: tuple[LiveServer, ManualClock, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live[0].url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


def login(browser: Any, base: str, user: str) -> Any:
    from playwright.sync_api import expect

    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(PASSWORDS[user])
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/")
    return page


def test_overview_detail_chart_and_acknowledge(live: Any, browser: Any, api: httpx.Client) -> None:
    from playwright.sync_api import expect

    server, _clock, _app = live
    page = login(browser, server.url, "editor")
    expect(page.locator("h1")).to_contain_text("预警总览")
    expect(page.locator("[data-count='critical']")).to_have_text("1")
    expect(page.locator("[data-light='red']")).to_contain_text("tm-1")
    page.get_by_role("link", name=re.compile("流量骤降")).first.click()
    expect(page.locator("#trend-chart")).to_be_visible()
    d = page.locator("#trend-chart path[data-series='value']").get_attribute("d") or ""
    assert d.count("L") >= 70
    expect(page.locator("#trend-chart rect.window")).to_have_count(1)
    expect(page.locator("#related-uv path")).to_have_count(1)
    page.get_by_role("button", name="确认").click()
    expect(page.locator("#alert-state")).to_contain_text("已确认")
    expect(page.locator("#acked-by")).to_have_text("editor")
    expect(page.locator("#timeline")).to_contain_text("已确认")
    alert_id = page.url.rsplit("/", 1)[1]
    assert api.get(f"/api/v1/alerts/{alert_id}").json()["acked_by"] == "editor"


def test_create_a_silence(live: Any, browser: Any, api: httpx.Client) -> None:
    from playwright.sync_api import expect

    server, _clock, _app = live
    page = login(browser, server.url, "editor")
    page.get_by_role("link", name="静默").click()
    page.locator("#name0").select_option("store")
    page.locator("#value0").fill("tm-1")
    page.locator("#ends").fill("6h")
    page.locator("#comment").fill("直播间维护")
    page.get_by_role("button", name="创建静默").click()
    expect(page.locator("#silence-table")).to_contain_text("store=tm-1")
    expect(page.locator("#silence-table")).to_contain_text("生效中")
    items = api.get("/api/v1/silences", params={"active": "true"}).json()["items"]
    assert any(s["comment"] == "直播间维护" and s["created_by"] == "editor" for s in items)


def test_editing_a_rule_changes_the_backtest_preview(live: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    server, _clock, _app = live
    page = login(browser, server.url, "admin")
    page.goto(f"{server.url}/rules")
    editor = page.locator("#yaml-text")
    original = editor.input_value()
    page.get_by_role("button", name=re.compile("回测预览")).click()
    expect(page.locator("#preview-edited")).to_have_text("2")  # nothing changed: every rule, both versions equal
    expect(page.locator("#preview-current")).to_have_text("2")
    editor = page.locator("#yaml-text")
    editor.fill(original.replace("below: 50.0", "below: 120.0"))
    page.get_by_role("button", name=re.compile("回测预览")).click()
    expect(page.locator("#preview-current")).to_have_text("1")
    edited = int(page.locator("#preview-edited").inner_text())
    assert edited >= 10
    assert page.locator("#preview-chart rect.edited").count() > page.locator("#preview-chart rect.current").count()
    page.locator("#yaml-text").fill(original.replace("severity: critical", "severity: loud", 1))
    page.get_by_role("button", name="校验").click()
    expect(page.locator("#rule-error")).to_contain_text("traffic.crash")


def test_switch_to_english_and_back(live: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    server, _clock, _app = live
    page = login(browser, server.url, "viewer")
    page.locator("#lang-switch").click()
    expect(page.locator("h1")).to_contain_text("Alert overview")
    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page.locator("#alert-table")).to_contain_text("traffic.crash")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#lang-switch").click()
    expect(page.locator("h1")).to_contain_text("告警列表")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_a_viewer_gets_no_edit_buttons_and_a_403_when_forcing_a_post(live: Any, browser: Any, api: httpx.Client) -> None:
    from playwright.sync_api import expect

    server, _clock, _app = live
    page = login(browser, server.url, "viewer")
    alert_id = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"][0]["id"]
    page.goto(f"{server.url}/alerts/{alert_id}")
    expect(page.locator("#trend-chart")).to_be_visible()
    expect(page.locator("#ack-button")).to_have_count(0)
    expect(page.locator("#resolve-button")).to_have_count(0)
    page.goto(f"{server.url}/rules")
    expect(page.locator("#save-button")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "ss_csrf")
    forced = page.request.post(f"{server.url}/alerts/{alert_id}/resolve", form={"csrf": csrf})
    assert forced.status == 403 and "编辑" in forced.text()
    no_token = page.request.post(f"{server.url}/alerts/{alert_id}/resolve", form={})
    assert no_token.status == 403
    assert api.get(f"/api/v1/alerts/{alert_id}").json()["state"] == "firing"


def test_a_post_without_the_csrf_token_is_rejected_in_the_browser(live: Any, browser: Any) -> None:
    server, _clock, _app = live
    page = login(browser, server.url, "admin")
    response = page.request.post(f"{server.url}/silences", form={"name0": "store", "value0": "x", "ends": "1h"})
    assert response.status == 403 and "CSRF" in response.text()


def test_new_alerts_appear_without_reload(live: Any, browser: Any, api: httpx.Client) -> None:
    from playwright.sync_api import expect

    server, clock, app = live
    page = login(browser, server.url, "editor")
    expect(page.locator("#recent-alerts")).to_contain_text("tm-1")
    expect(page.locator("#recent-alerts")).not_to_contain_text("pdd-1")
    listing = page.context.new_page()
    listing.goto(f"{server.url}/alerts")
    expect(listing.locator("#alert-table")).not_to_contain_text("pdd-1")
    ts = clock.now()
    points = [{"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": p, "store": s, "metric": "uv",
               "value": 6 if s == "pdd-1" else uv_at(ts)} for p, s in STORES]
    assert api.post("/api/v1/points", json={"points": points}).status_code == 200
    clock.advance(timedelta(hours=1))
    app.state.service.tick()
    expect(page.locator("#recent-alerts tr.new")).to_contain_text("pdd-1", timeout=15_000)
    expect(page.locator("#recent-alerts tr.new")).to_contain_text("严重")
    expect(page.locator("[data-new-badge]")).to_be_visible()
    row = listing.locator("#alert-table tr.new")
    expect(row).to_contain_text("拼多多 / pdd-1", timeout=15_000)
    expect(row.locator("td")).to_have_count(8)  # same columns as the drawn rows, checkbox included
    expect(row.locator("input[name='ids']")).to_have_count(1)


def test_predictions_page_highlights_the_sku_about_to_sell_out_in_both_languages(own_live: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    from tests.insight.conftest import upsert
    from tests.insight.test_predictive_alerts import _selling

    server, clock, app = own_live
    upsert(Client(app, ADMIN_TOKEN), _selling("tm-1", "SKU-LOW", clock.now(), 28, final_stock=150)
           + _selling("tm-1", "SKU-DEEP", clock.now(), 28, final_stock=5000, seed=8))
    page = login(browser, server.url, "viewer")
    page.get_by_role("link", name="预测", exact=True).click()
    expect(page.locator("h1")).to_contain_text("预测")
    page.locator("#store-select").select_option("tmall/tm-1")
    page.get_by_role("button", name="查看预测").click()
    expect(page.locator("#stockout-table tbody tr").first).to_have_attribute("data-sku", "SKU-LOW")
    expect(page.locator("tr[data-sku='SKU-LOW']")).to_have_class(re.compile(r"\brisk-high\b"))
    expect(page.locator("tr[data-sku='SKU-DEEP']")).not_to_have_class(re.compile(r"\brisk-high\b"))
    background = page.locator("tr[data-sku='SKU-LOW'] td").first.evaluate("td => getComputedStyle(td).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")  # the highlight is visible, not only a class
    page.locator("#lang-switch").click()
    expect(page.locator("h1")).to_contain_text("Predictions")
    expect(page.locator("#h-stockouts")).to_have_text("Stock-out risk within 72 h")
    expect(page.locator("tr[data-sku='SKU-LOW'] .tag")).to_have_text("High risk")
