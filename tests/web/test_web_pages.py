"""The alert-center pages over real alerts (points in through the ingest API, a real tick), without
a browser: what each page shows, every form's effect through the JSON API, bad input, polling."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from shopsentinel.core.clock import ManualClock
from tests.web.conftest import ADMIN_TOKEN, Client
from tests.web.fleet import STORES, uv_at


@pytest.fixture
def api(seeded_app: FastAPI) -> Client:
    return Client(seeded_app, ADMIN_TOKEN)


@pytest.fixture
def admin(seeded_app: FastAPI) -> Client:
    client = Client(seeded_app)
    assert client.login("admin").status_code == 303
    return client


def _alert(api: Client, rule: str) -> dict[str, Any]:
    return next(a for a in api.get("/api/v1/alerts").json()["items"] if a["rule"] == rule)


def test_overview_shows_firing_alerts_lights_and_sync_lag(admin: Client) -> None:
    page = admin.get("/").text
    assert "流量骤降" in page and 'data-count="critical">1<' in page and 'data-count="warning">1<' in page
    cards = re.findall(r'data-light="(\w+)".*?store=([\w-]+)"', page, flags=re.S)
    assert dict((s, light) for light, s in cards) == {"tm-1": "red", "jd-1": "green", "pdd-1": "green"}
    assert "延迟 1.0 小时" in page  # last point at 23:00, now 00:00
    assert page.count('class="bar critical"') == 1  # one day with a critical alert in the 14-day chart


def test_alert_list_filters_sorts_and_pages(admin: Client) -> None:
    everything = admin.get("/alerts").text
    assert "共 2 条" in everything
    critical = admin.get("/alerts", params={"severity": "critical"}).text
    assert "流量骤降" in critical and "订单骤降" not in critical
    assert "共 0 条" in admin.get("/alerts", params={"platform": "jd"}).text
    assert "共 1 条" in admin.get("/alerts", params={"q": "订单"}).text
    by_rule = admin.get("/alerts", params={"sort": "rule", "dir": "asc"}).text
    assert by_rule.index("orders.low") < by_rule.index("traffic.crash")
    by_rule_desc = admin.get("/alerts", params={"sort": "rule", "dir": "desc"}).text
    assert by_rule_desc.index("traffic.crash") < by_rule_desc.index("orders.low")
    paged = admin.get("/alerts", params={"per_page": "10", "page": "2"}).text
    assert "第 2 / 1 页" in paged and "没有符合条件的告警" in paged
    assert admin.get("/alerts", params={"page": "x"}).status_code == 422


def test_alert_detail_draws_the_trend_band_last_week_and_related_metrics(admin: Client, api: Client) -> None:
    alert = _alert(api, "traffic.crash")
    page = admin.get(f"/alerts/{alert['id']}").text
    value_path = re.search(r'data-series="value" d="([^"]+)"', page)
    assert value_path is not None and value_path.group(1).count("L") == 72 + 5 - 1  # 72 h before + the 5 crash hours
    assert re.search(r'data-series="lastweek" d="M', page)
    assert 'class="window"' in page
    for metric in ("uv", "pay_conversion_rate", "aov", "orders", "gmv"):
        assert f'id="related-{metric}"' in page
    assert 'href="https://myseller.taobao.com"' in page
    members = re.findall(r'<a href="/alerts/(\w+)">|<div class="root">', page)
    assert members, "the incident section lists its alerts"
    section = page[page.index('id="h-incident"'):]
    assert section.index("根因") < section.index("订单骤降")  # root cause first
    rca = api.get(f"/api/v1/alerts/{alert['id']}/rca").json()  # the response loop noted it when the alert fired
    note = re.search(r'<p id="rca-text">([^<]+)</p>', page)
    assert note is not None and note.group(1).split("：")[0] in str(rca)


def test_acknowledge_assign_comment_feedback_resolve(admin: Client, api: Client) -> None:
    alert = _alert(api, "traffic.crash")
    url = f"/alerts/{alert['id']}"
    assert admin.form(f"{url}/ack").status_code == 303
    detail = api.get(f"/api/v1/alerts/{alert['id']}").json()
    assert detail["acked_by"] == "admin"
    assert admin.form(f"{url}/assign", {"assignee": "editor"}).status_code == 303
    assert admin.form(f"{url}/comment", {"body": "直通车预算用完，已追加"}).status_code == 303
    assert admin.form(f"{url}/feedback", {"verdict": "false_alarm"}).status_code == 303
    assert admin.form(f"{url}/feedback", {"verdict": "maybe"}).status_code == 422
    assert admin.form(f"{url}/resolve", {"note": "已处理"}).status_code == 303
    assert admin.form(f"{url}/resolve").status_code == 409
    detail = api.get(f"/api/v1/alerts/{alert['id']}").json()
    assert detail["assignee"] == "editor" and detail["state"] == "resolved"
    assert [f["verdict"] for f in detail["feedback"]] == ["false_alarm"]
    page = admin.get(url).text
    timeline = page[page.index('id="timeline"'):page.index('id="h-similar"')]
    for text in ("已确认", "已指派", "直通车预算用完，已追加", "误报", "已恢复"):
        assert text in timeline


def test_bulk_acknowledge_and_bulk_silence(admin: Client, api: Client) -> None:
    ids = [a["id"] for a in api.get("/api/v1/alerts").json()["items"]]
    assert admin.form("/alerts/bulk", {"action": "ack", "ids": ids}).status_code == 303
    assert all(api.get(f"/api/v1/alerts/{i}").json()["acked_by"] == "admin" for i in ids)
    assert admin.form("/alerts/bulk", {"action": "silence", "ids": ids, "hours": "6"}).status_code == 303
    silences = api.get("/api/v1/silences", params={"active": "true"}).json()["items"]
    assert {tuple(sorted((m["name"], m["value"]) for m in s["matchers"])) for s in silences} == {
        (("platform", "tmall"), ("rule", "orders.low"), ("store", "tm-1")),
        (("platform", "tmall"), ("rule", "traffic.crash"), ("store", "tm-1")),
    }
    assert admin.form("/alerts/bulk", {"action": "delete", "ids": ids}).status_code == 422


def test_similar_past_alerts_show_their_comments(admin: Client, api: Client, clock: ManualClock) -> None:
    first = _alert(api, "traffic.crash")
    admin.form(f"/alerts/{first['id']}/comment", {"body": "原因：店铺被降权"})
    admin.form(f"/alerts/{first['id']}/resolve")
    from shopsentinel.alerting.repository import get_alert
    from shopsentinel.insight.kb import record_resolution

    with api.service.sessions() as session:  # what the response loop records when an alert is closed
        row = get_alert(session, first["id"])
        assert row is not None
        record_resolution(session, row, cause="搜索降权", fix="申诉后恢复", tags=["流量"], author="admin", now=clock.now())
        session.commit()
    for _hour in range(3):  # jd-1 crashes next: the same rule on the same metric
        ts = clock.now()
        points = [{"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": p, "store": s, "metric": "uv",
                   "value": 9 if s == "jd-1" else uv_at(ts)} for p, s in STORES]
        assert api.post("/api/v1/points", json={"points": points}).status_code == 200
        clock.advance(timedelta(hours=1))
        api.service.tick()
    second = next(a for a in api.get("/api/v1/alerts", params={"store": "jd-1"}).json()["items"] if a["rule"] == "traffic.crash")
    page = admin.get(f"/alerts/{second['id']}").text
    similar = page[page.index('id="h-similar"'):]
    assert f"/alerts/{first['id']}" in similar and "原因：店铺被降权" in similar
    assert "原因：搜索降权" in similar and "处理办法：申诉后恢复" in similar and "相同：规则、指标" in similar
    assert 'href="https://shop.jd.com"' in page


def test_polling_reports_new_alerts_since_the_cursor(admin: Client, api: Client, clock: ManualClock) -> None:
    first = admin.get("/poll").json()
    assert first["firing"]["critical"] == 1 and first["new"] == [] and first["cursor"]
    assert admin.get("/poll", params={"since": first["cursor"]}).json()["new"] == []
    ts = clock.now()
    points = [{"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": p, "store": s, "metric": "uv", "value": 7 if s == "pdd-1" else 300}
              for p, s in STORES]
    api.post("/api/v1/points", json={"points": points})
    clock.advance(timedelta(hours=1))
    api.service.tick()
    fresh = admin.get("/poll", params={"since": first["cursor"]}).json()
    assert [(a["store"], a["rule"]) for a in fresh["new"]] == [("pdd-1", "traffic.crash")]
    assert fresh["new"][0]["labels"] == {"severity": "严重", "platform": "拼多多", "state": "告警中"}
    assert fresh["firing"]["critical"] == 2
    assert admin.get("/poll", params={"since": "yesterday"}).status_code == 422
    assert Client(admin.app).get("/poll").status_code == 401


def test_rule_editor_validates_previews_and_saves_versions(admin: Client, api: Client) -> None:
    page = admin.get("/rules").text
    text = re.search(r'<textarea id="yaml-text"[^>]*>(.*?)</textarea>', page, flags=re.S)
    assert text is not None
    yaml_text = text.group(1).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    broken = admin.form("/rules", {"yaml_text": yaml_text.replace("severity: critical", "severity: loud", 1), "action": "validate"})
    assert broken.status_code == 422 and "校验失败" in broken.text and "traffic.crash" in broken.text
    same = admin.form("/rules", {"yaml_text": yaml_text, "action": "preview"}).text
    current = int(re.search(r'id="preview-current">(\d+)<', same).group(1))  # type: ignore[union-attr]
    assert current == int(re.search(r'id="preview-edited">(\d+)<', same).group(1)) >= 1  # type: ignore[union-attr]
    looser = yaml_text.replace("below: 50.0", "below: 120.0")
    assert looser != yaml_text
    preview = admin.form("/rules", {"yaml_text": looser, "action": "preview"}).text
    edited = int(re.search(r'id="preview-edited">(\d+)<', preview).group(1))  # type: ignore[union-attr]
    assert int(re.search(r'id="preview-current">(\d+)<', preview).group(1)) == 1  # type: ignore[union-attr]
    assert edited >= 10  # every night's trough is now below the threshold
    assert preview.count('class="bar edited"') >= 10 and "traffic.crash" in preview
    saved = admin.form("/rules", {"yaml_text": looser, "action": "save"})
    assert saved.status_code == 303 and saved.headers["location"] == "/rules?saved=2"
    rules = api.get("/api/v1/rules").json()
    assert rules["version"] == 2 and rules["pack"]["rules"][0]["when"]["below"] == 120.0
    assert admin.form("/rules/traffic.crash/toggle").status_code == 303
    assert api.get("/api/v1/rules").json()["pack"]["rules"][0]["enabled"] is False
    assert [v["version"] for v in api.get("/api/v1/rules/versions").json()] == [3, 2, 1]
    assert admin.form("/rules/nope/toggle").status_code == 404


def test_silences_are_created_with_matchers_and_expired(admin: Client, api: Client) -> None:
    bad = admin.form("/silences", {"name0": "store", "value0": "tm-[", "regex0": "on", "ends": "2h"})
    assert bad.status_code == 422 and "regular expression" in bad.text
    assert admin.form("/silences", {"name0": "store", "value0": "tm-1", "ends": "yesterday"}).status_code == 422
    assert admin.form("/silences", {"name0": "store", "value0": "", "ends": "2h"}).status_code == 422
    ok = admin.form("/silences", {"name0": "store", "value0": "tm-.*", "regex0": "on", "name1": "severity", "value1": "critical",
                                  "ends": "3d", "comment": "大促期间"})
    assert ok.status_code == 303
    [silence] = api.get("/api/v1/silences", params={"active": "true"}).json()["items"]
    assert silence["matchers"][0] == {"name": "store", "value": "tm-.*", "regex": True, "negate": False}
    assert silence["comment"] == "大促期间" and silence["created_by"] == "admin"
    assert admin.form(f"/silences/{silence['id']}/expire").status_code == 303
    assert api.get("/api/v1/silences", params={"active": "true"}).json()["items"] == []


def test_calendar_subscriptions_and_escalation_forms(admin: Client, api: Client) -> None:
    assert admin.form("/calendar", {"name": "双11", "kind": "promotion", "start": "2026-11-11T00:00",
                                    "end": "2026-11-12T00:00"}).status_code == 303
    [event] = api.get("/api/v1/calendar").json()["items"]
    assert event["name"] == "双11"
    assert admin.form("/calendar", {"name": "x", "start": "2026-11-12T00:00", "end": "2026-11-11T00:00"}).status_code == 422
    assert admin.form(f"/calendar/{event['id']}/delete").status_code == 303
    assert api.get("/api/v1/calendar").json()["items"] == []
    assert admin.form("/subscriptions", {"role": "ops_lead", "platforms": "tmall，jd", "min_severity": "warning"}).status_code == 303
    [sub] = api.get("/api/v1/subscriptions").json()
    assert sub["subscription"]["platforms"] == ["tmall", "jd"]
    assert admin.form("/subscriptions", {"min_severity": "warning"}).status_code == 422
    assert "运营负责人" in admin.get("/routing").text
    policy = "name: night\nsteps:\n  - {after_minutes: 0, role: ops_lead}\n  - {after_minutes: 15, user: editor}\n"
    assert admin.form("/escalation", {"body": policy}).status_code == 303
    assert [p["policy"]["name"] for p in api.get("/api/v1/escalation-policies").json()] == ["night"]
    unordered = admin.form("/escalation", {"body": "name: x\nsteps:\n  - {after_minutes: 9, role: ops_lead}\n  - {after_minutes: 1, role: director}\n"})
    assert unordered.status_code == 422 and "after_minutes" in unordered.text
    assert admin.form("/escalation/night/delete").status_code == 303


def test_credentials_need_the_services_sync_database(admin: Client) -> None:
    page = admin.get("/stores/jd/jd-1").text
    assert "服务未配置平台同步" in page and "保存凭据</button>" not in page
    refused = admin.form("/stores/jd/jd-1/credentials", {"store": "jd-1", "app_key": "k"})
    assert refused.status_code == 503


def test_connector_credentials_form_seals_secrets_and_never_echoes_them(tmp_path: Path, clock: ManualClock,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from shopsentinel.sources.registry import config_fields
    from tests.web.conftest import make_app

    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())
    app = make_app(f"sqlite:///{tmp_path / 'state.db'}", clock, sync_db=tmp_path / "sync.duckdb")
    try:
        point = {"ts": "2026-11-01T00:00:00Z", "platform": "jd", "store": "jd-1", "metric": "uv", "value": 1}
        assert Client(app, ADMIN_TOKEN).post("/api/v1/points", json={"points": [point]}).status_code == 200
        admin = Client(app)
        assert admin.login("admin").status_code == 303
        page = admin.get("/stores/jd/jd-1").text
        assert 'name="app_secret" type="password"' in page and "未配置" in page
        assert 'value="jd-1"' in page and 'value="2026-11-01T00:00:00Z"' in page  # suggested from the store
        fields = {f["name"]: f for f in config_fields("jd")}
        values = {name: ("SECRET-VALUE-123" if f["secret"] else "value-1") for name, f in fields.items() if f["required"]}
        values.update(store="jd-1", start="2026-11-01T00:00:00Z")
        missing = admin.form("/stores/jd/jd-1/credentials", {k: v for k, v in values.items() if not fields[k]["secret"]})
        assert missing.status_code == 422 and "app_secret: Field required" in missing.text
        wrong = admin.form("/stores/jd/jd-1/credentials", {**values, "page_size": "many"})
        assert wrong.status_code == 422 and "page_size" in wrong.text and "SECRET-VALUE-123" not in wrong.text
        saved = admin.form("/stores/jd/jd-1/credentials", values)
        assert saved.status_code == 303, saved.text
        after = admin.get("/stores/jd/jd-1").text
        assert "已配置" in after and "SECRET-VALUE-123" not in after
        runner = app.state.service.sync_runner()
        record = runner.db.store("jd", "jd-1")
        assert record is not None and record.config["app_secret"].startswith("enc:")
        assert "SECRET-VALUE-123" not in str(record.config)
        with runner._lock:  # a sync in progress holds the database: the form says so instead of waiting forever
            busy = admin.form("/stores/jd/jd-1/credentials", values)
        assert busy.status_code == 503 and "正在同步" in busy.text and "SECRET-VALUE-123" not in busy.text
    finally:
        app.state.service.close()


def test_stores_catalog_incidents_and_errors(admin: Client) -> None:
    stores = admin.get("/stores").text
    assert "tm-1" in stores and "jd-1" in stores
    catalog = admin.get("/catalog").text
    assert "访客数" in catalog and "支付转化率" in catalog and "<code>" in catalog
    incidents = admin.get("/incidents").text
    assert incidents.index("根因") < incidents.index("订单骤降")
    missing = admin.get("/alerts/nope")
    assert missing.status_code == 404 and "出错了" in missing.text
    assert admin.get("/static/app.css").status_code == 200
    assert admin.get("/api/v1/alerts/nope").status_code in (401, 404)  # the JSON API keeps its JSON errors


def test_the_overview_draws_the_worst_sixty_stores_and_links_to_all(admin: Client, api: Client, clock: ManualClock) -> None:
    ts = f"{clock.now() - timedelta(hours=2):%Y-%m-%dT%H:%M:%SZ}"
    points = [{"ts": ts, "platform": "douyin", "store": f"dy-{i:02d}", "metric": "uv", "value": 100} for i in range(70)]
    assert api.post("/api/v1/points", json={"points": points}).json()["accepted"] == 70
    page = admin.get("/").text
    assert page.count('class="store-card"') == 60
    assert page.index('data-light="red"') < page.index('data-light="green"')  # the red store comes first
    assert "共 73 家店铺：红灯 1、黄灯 0、绿灯 72" in page
    assert page.count("dy-") >= 57 and "/stores" in page
    assert admin.get("/stores").text.count("dy-6") >= 10  # every store on the stores page
