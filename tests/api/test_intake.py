"""Alerts from Grafana and Alertmanager (``POST /api/v1/intake/…``) ride our own pipeline: a Grafana
alert reaches a real loopback DingTalk fake through routing, and the resolved post resolves it and
sends the recovery; bodies are validated (422, Chinese first, naming the field) and bounded; only
editor tokens may post."""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from shopsentinel.alerting.external import MAX_ALERTS, MAX_LABEL_VALUE
from shopsentinel.core.clock import ManualClock
from shopsentinel.store.state import AlertEventRow, OutboxRow

TOKEN, SECRET = "intake-robot-token", "SECintake-robot-secret-01"

pytestmark = pytest.mark.usefixtures("secret_key")  # robot and secret_key: tests/support/channels.py

# Grafana's documented webhook body (one alert), as Grafana sends it when the rule fires.
GRAFANA_FIRING: dict[str, Any] = {
    "receiver": "ShopSentinel", "status": "firing", "orgId": 1,
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1", "severity": "critical",
                   "store": "tm-1", "platform": "tmall"},
        "annotations": {"description": "The system has high memory usage", "runbook_url": "https://myrunbook.com/runbook/1234",
                        "summary": "内存使用率过高 / high memory usage"},
        "startsAt": "2026-11-10T00:00:00.157076+08:00", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit", "fingerprint": "c6eadffa33fcdf37",
        "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2",
        "dashboardURL": "", "panelURL": "", "values": {"B": 44.23943737541908, "C": 1},
    }],
    "groupLabels": {"alertname": "High memory usage"}, "commonLabels": {"team": "blue"}, "commonAnnotations": {},
    "externalURL": "https://play.grafana.org/", "version": "1", "groupKey": "{}:{alertname=\"High memory usage\"}",
    "truncatedAlerts": 0, "title": "[FIRING:1] High memory usage (blue)", "state": "alerting",
    "message": "**Firing**\n\nLabels:\n - alertname = High memory usage",
}  # fmt: skip


def resolved(body: dict[str, Any], ends_at: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["status"] = "resolved"
    out["state"] = "ok"
    for alert in out["alerts"]:
        alert["status"], alert["endsAt"] = "resolved", ends_at
    return out


def add_robot(api: Any, base_url: str) -> None:
    response = api.put("/api/v1/channels", json={
        "name": "ops-robot", "kind": "dingtalk", "medium": "im", "receiver": "default",
        "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "markdown"},
    })  # fmt: skip
    assert response.status_code == 200, response.text


def editor(api: Any) -> Any:
    response = api.post("/api/v1/tokens", json={"user": "grafana-sender", "role": "editor"})
    assert response.status_code == 201, response.text
    return api.as_token(response.json()["token"])


def run_pipeline(api: Any, clock: ManualClock, minutes: int = 4) -> None:
    for _ in range(minutes):
        clock.advance(timedelta(minutes=1))
        api.service.tick()


def test_a_grafana_alert_reaches_dingtalk_through_routing_and_its_resolution_resolves_it(
        api: Any, clock: ManualClock, robot: Any) -> None:
    fake, base_url = robot
    add_robot(api, base_url)
    sender = editor(api)
    first = sender.post("/api/v1/intake/grafana", json=GRAFANA_FIRING)
    assert first.status_code == 200, first.text
    [alert_id] = first.json()["created"]
    again = sender.post("/api/v1/intake/grafana", json=GRAFANA_FIRING)  # Grafana repeats itself: nothing new
    assert again.json() == {"created": [], "resolved": [], "unchanged": [alert_id]}
    run_pipeline(api, clock)
    [alert] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    assert alert["id"] == alert_id and alert["kind"] == "external" and alert["rule"] == "High memory usage"
    assert (alert["platform"], alert["store"], alert["severity"]) == ("tmall", "tm-1", "critical")
    assert alert["starts_at"] == "2026-11-09T16:00:00Z" and alert["value"] == pytest.approx(44.23943737541908)
    assert len(fake.received) == 1
    text = fake.received[0].payload["markdown"]["text"]
    assert "内存使用率过高" in text and "The system has high memory usage" in text
    with api.service.sessions() as session:  # the sender's labels and links are kept with the alert
        source = session.scalars(select(AlertEventRow.detail).where(AlertEventRow.alert_id == alert_id,
                                                                    AlertEventRow.event == "source")).one()
        assert '"team": "blue"' in source and '"fingerprint": "c6eadffa33fcdf37"' in source and "silenceURL" in source
        channels = {row.channel for row in session.scalars(select(OutboxRow)).all()}
    assert "ops-robot" in channels  # routed to the receiver's channel, through the outbox like our own alerts

    done = sender.post("/api/v1/intake/grafana", json=resolved(GRAFANA_FIRING, "2026-11-10T00:03:30Z"))
    assert done.status_code == 200 and done.json()["resolved"] == [alert_id]
    run_pipeline(api, clock)
    assert api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"] == []
    [closed] = api.get("/api/v1/alerts", params={"state": "resolved"}).json()["items"]
    assert closed["ends_at"] == "2026-11-10T00:03:30Z"
    assert len(fake.received) == 2
    assert "已恢复" in fake.received[1].payload["markdown"]["text"]
    again = sender.post("/api/v1/intake/grafana", json=resolved(GRAFANA_FIRING, "2026-11-10T00:03:30Z"))
    assert again.json()["unchanged"] == [alert_id]


def test_alertmanager_alerts_are_keyed_by_fingerprint_and_episode(api: Any) -> None:
    body = {"version": "4", "groupKey": "{}:{alertname=\"ShopDown\"}", "truncatedAlerts": 0, "status": "firing",
            "receiver": "shopsentinel", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am.example.com:9093",
            "alerts": [{"status": "firing", "labels": {"alertname": "ShopDown", "instance": "shop-a:9100", "severity": "warning"},
                        "annotations": {"summary": "店铺接口不可用"}, "startsAt": "2026-11-09T23:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom:9090/graph", "fingerprint": "1a30ba71cca2921f"},
                       {"status": "firing", "labels": {"alertname": "ShopDown", "instance": "shop-b:9100"},
                        "annotations": {}, "startsAt": "2026-11-09T23:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": ""}]}  # fmt: skip
    first = api.post("/api/v1/intake/alertmanager", json=body)
    assert first.status_code == 200, first.text
    ids = first.json()["created"]
    assert len(set(ids)) == 2  # two label sets, two alerts (the second keyed by its labels)
    items = {a["store"]: a for a in api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]}
    assert set(items) == {"shop-a:9100", "shop-b:9100"}
    assert items["shop-a:9100"]["platform"] == "alertmanager" and items["shop-b:9100"]["severity"] == "warning"
    assert items["shop-a:9100"]["message"] == "店铺接口不可用（来自 Alertmanager）"
    later = copy.deepcopy(body)
    later["alerts"] = [{**body["alerts"][0], "startsAt": "2026-11-10T00:00:00Z"}]  # a new episode after a recovery
    [new] = api.post("/api/v1/intake/alertmanager", json=later).json()["created"]
    assert new not in ids


def test_bad_bodies_are_422_in_chinese_first_naming_the_field(api: Any) -> None:
    def post(body: Any) -> str:
        response = api.post("/api/v1/intake/grafana", json=body)
        assert response.status_code == 422, response.text
        detail: str = response.json()["detail"]
        assert detail.startswith("请求体无效：") and " / invalid body: " in detail
        return detail

    no_start = copy.deepcopy(GRAFANA_FIRING)
    del no_start["alerts"][0]["startsAt"]
    assert "字段 alerts.0.startsAt 缺少必填字段" in post(no_start)
    naive = copy.deepcopy(GRAFANA_FIRING)
    naive["alerts"][0]["startsAt"] = "2026-11-10T00:00:00"
    assert "alerts.0.startsAt 须带时区" in post(naive)
    status = copy.deepcopy(GRAFANA_FIRING)
    status["alerts"][0]["status"] = "pending"
    assert "alerts.0.status" in post(status)
    long_label = copy.deepcopy(GRAFANA_FIRING)
    long_label["alerts"][0]["labels"]["zone"] = "z" * (MAX_LABEL_VALUE + 1)
    detail = post(long_label)
    assert "alerts.0.labels.zone 太长" in detail and "z" * 50 not in detail  # the value is never echoed
    too_many = copy.deepcopy(GRAFANA_FIRING)
    too_many["alerts"] = too_many["alerts"] * (MAX_ALERTS + 1)
    assert "字段 alerts 条目太多" in post(too_many)
    assert "字段 alerts 缺少必填字段" in post({"status": "firing"})
    nul = copy.deepcopy(GRAFANA_FIRING)
    nul["alerts"][0]["annotations"]["summary"] = "bad\x00text"
    assert "alerts.0.annotations.summary" in post(nul)
    assert api.get("/api/v1/alerts").json()["items"] == []


def test_only_editor_tokens_may_post(api: Any) -> None:
    assert api.as_token("").post("/api/v1/intake/alertmanager", json=GRAFANA_FIRING).status_code == 401
    viewer = api.post("/api/v1/tokens", json={"user": "v", "role": "viewer"}).json()["token"]
    assert api.as_token(viewer).post("/api/v1/intake/grafana", json=GRAFANA_FIRING).status_code == 403
    assert editor(api).post("/api/v1/intake/grafana", json=GRAFANA_FIRING).status_code == 200
    actions = [e["action"] for e in api.get("/api/v1/audit").json()]
    assert "intake.grafana" in actions


def web_login(api: Any, username: str, password: str) -> None:
    page = api.get("/login")  # sets the CSRF cookie the form post must echo
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    response = api.post("/login", data={"username": username, "password": password, "csrf": token.group(1), "next": "/"})
    assert response.status_code == 303, response.text


def test_the_alert_center_lists_and_shows_an_external_alert(database_url: str, clock: ManualClock, api_factory: Any) -> None:
    api = api_factory(database_url, clock, bootstrap_admin=SecretStr("admin:admin-pass-1"))
    [alert_id] = api.post("/api/v1/intake/grafana", json=GRAFANA_FIRING).json()["created"]
    browser = api.as_token("")
    web_login(browser, "admin", "admin-pass-1")
    listing = browser.get("/alerts", params={"kind": "external"})
    assert listing.status_code == 200 and alert_id in listing.text
    detail = browser.get(f"/alerts/{alert_id}")
    assert detail.status_code == 200
    assert "外部" in detail.text and "High memory usage" in detail.text  # kind 外部 and the rule
    assert "c6eadffa33fcdf37" in detail.text and "zone" in detail.text  # the sender's labels in the timeline
