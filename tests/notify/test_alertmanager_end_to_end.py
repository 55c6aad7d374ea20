"""Must show: an alert our own detection raises is delivered through an ``alertmanager_webhook`` channel to
a receiver that validates every payload against Alertmanager's documented format — firing, then
resolved when the data recovers — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.sim.channels import run_fake_server
from tests.notify.alertmanager_receiver import AlertmanagerReceiver

BEARER = "flashduty-integration-key"

pytestmark = pytest.mark.usefixtures("secret_key")


def hour(api: Any, clock: ManualClock, uv: float) -> None:
    ts = clock.now().replace(minute=0)
    points = [{"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": "tm-1", "metric": "uv", "value": uv}]
    assert api.post("/api/v1/points", json={"points": points}).json()["accepted"] == 1
    clock.advance(timedelta(hours=1))
    api.service.tick()


def test_our_traffic_crash_reaches_an_alertmanager_receiver_firing_then_resolved(api: Any, clock: ManualClock) -> None:
    receiver = AlertmanagerReceiver(authorization=f"Bearer {BEARER}")
    with run_fake_server(receiver.app) as base_url:
        response = api.put("/api/v1/channels", json={
            "name": "flashduty", "kind": "alertmanager_webhook", "medium": "im", "receiver": "default",
            "settings": {"url": f"{base_url}/alerts", "auth": "bearer", "credentials": BEARER,
                         "external_url": "https://alerts.example.com"}})  # fmt: skip
        assert response.status_code == 200, response.text
        assert BEARER not in response.text and BEARER not in api.get("/api/v1/channels").text
        api.put("/api/v1/rules", json={"rules": [{"id": "traffic.crash", "name": {"zh": "流量骤降", "en": "traffic crash"},
                                                  "severity": "critical", "for": "1h",
                                                  "when": {"metric": "uv", "type": "threshold", "below": 50}}]})
        for uv in (500, 20, 10, 8):
            hour(api, clock, uv)
        assert receiver.rejected == []
        [firing] = receiver.received
        [alert] = firing["alerts"]
        [stored] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
        assert firing["status"] == alert["status"] == "firing" and firing["version"] == "4"
        assert alert["labels"]["alertname"] == "traffic.crash" and alert["labels"]["store"] == "tm-1"
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["kind"] == "business"
        assert alert["fingerprint"] == stored["id"] and alert["startsAt"] == stored["starts_at"]
        assert alert["generatorURL"] == f"https://alerts.example.com/alerts/{stored['id']}"
        assert alert["annotations"]["summary"] == stored["message"] and alert["annotations"]["description"].startswith("[严重] uv 天猫")
        for uv in (500, 520, 510, 530, 505, 515):
            hour(api, clock, uv)
        for _ in range(3):
            clock.advance(timedelta(minutes=6))
            api.service.tick()
    assert receiver.rejected == []
    assert [p["status"] for p in receiver.received] == ["firing", "resolved"]
    [ended] = receiver.received[1]["alerts"]
    [closed] = api.get("/api/v1/alerts", params={"state": "resolved"}).json()["items"]
    assert ended["fingerprint"] == closed["id"] and ended["endsAt"] == closed["ends_at"] != "0001-01-01T00:00:00Z"
    attempts = api.get("/api/v1/notifications").json()["items"]
    assert {(a["channel"], a["outcome"]) for a in attempts} == {("flashduty", "sent")}
