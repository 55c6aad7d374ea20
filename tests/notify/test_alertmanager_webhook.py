"""The ``alertmanager_webhook`` channel: every payload it sends is a valid Alertmanager webhook payload
(validated by a real loopback receiver against the JSON Schema of the documented format), firing and
resolved, grouped alerts root cause first, with the labels, Chinese annotations, links and
authorization receivers need."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shopsentinel.core.errors import PermanentDeliveryError
from shopsentinel.notify import builtin_registry
from shopsentinel.notify.base import Notification
from shopsentinel.notify.channels.alertmanager import ZERO_TIME, alertmanager_payload
from shopsentinel.sim.channels import run_fake_server
from tests.notify.alertmanager_receiver import AlertmanagerReceiver, payload_errors
from tests.notify.conftest import TRAFFIC_INCIDENT, make_notification

TOKEN = "am-receiver-bearer-token"
GROUP_KEY = "default|platform=tmall,store=tm-flagship@20261111T020000Z>am-hook"


@pytest.fixture
def receiver() -> Iterator[tuple[AlertmanagerReceiver, str]]:
    fake = AlertmanagerReceiver(authorization=f"Bearer {TOKEN}")
    with run_fake_server(fake.app) as base_url:
        yield fake, f"{base_url}/alerts"


def deliver(settings: dict[str, Any], notification: Notification) -> None:
    notifier = builtin_registry().build("alertmanager_webhook", settings)

    async def go() -> None:
        async with httpx.AsyncClient() as client:
            await notifier.send(notification, client)

    asyncio.run(go())


def test_a_firing_group_reaches_the_receiver_as_a_valid_alertmanager_payload(receiver: Any) -> None:
    fake, url = receiver
    deliver({"url": url, "auth": "bearer", "credentials": TOKEN}, make_notification(key=GROUP_KEY, alerts=TRAFFIC_INCIDENT[:2]))
    assert fake.rejected == []
    [payload] = fake.received
    assert payload["version"] == "4" and payload["status"] == "firing" and payload["truncatedAlerts"] == 0
    assert payload["receiver"] == "default"
    assert payload["groupLabels"] == {"platform": "tmall", "store": "tm-flagship"}
    assert payload["groupKey"] == '{}/{receiver="default"}:{platform="tmall", store="tm-flagship"}'
    assert payload["externalURL"] == "https://sentinel.example.com"  # the origin of the message's links
    assert [a["fingerprint"] for a in payload["alerts"]] == ["a-2", "a-1"]  # as the pipeline ordered them
    uv = payload["alerts"][1]
    assert uv["labels"] == {"alertname": "uv_drop", "severity": "critical", "store": "tm-flagship", "platform": "tmall",
                            "metric": "uv", "kind": "business", "incident": "inc-1"}
    assert uv["annotations"]["summary"] == "访客数骤降 75%"
    assert uv["annotations"]["description"] == "[严重] uv 天猫 · tm-flagship：当前 1,200，预期 4,800 · 11-11 10:00 — 访客数骤降 75%"
    assert uv["startsAt"] == "2026-11-11T02:00:00Z" and uv["endsAt"] == ZERO_TIME
    assert uv["generatorURL"] == "https://sentinel.example.com/alerts/a-1"
    assert payload["commonLabels"] == {"store": "tm-flagship", "platform": "tmall", "kind": "business", "incident": "inc-1"}
    assert payload["commonAnnotations"] == {}  # two alerts, two summaries


def test_a_resolved_message_says_resolved_with_the_end_time(receiver: Any) -> None:
    fake, url = receiver
    resolved = [{**TRAFFIC_INCIDENT[1], "state": "resolved", "ts": "2026-11-11T05:00:00Z", "starts_at": "2026-11-11T02:00:00Z",
                 "runbook_url": "https://wiki.example.com/runbooks/uv"}]
    deliver({"url": url, "auth": "bearer", "credentials": TOKEN, "external_url": "https://alerts.example.com/"},
            make_notification(key=GROUP_KEY, alerts=resolved, title="已恢复：天猫旗舰店流量骤降"))
    assert fake.rejected == []
    [payload] = fake.received
    [alert] = payload["alerts"]
    assert payload["status"] == alert["status"] == "resolved"
    assert alert["startsAt"] == "2026-11-11T02:00:00Z" and alert["endsAt"] == "2026-11-11T05:00:00Z"
    assert alert["annotations"]["runbook_url"] == "https://wiki.example.com/runbooks/uv"
    assert alert["generatorURL"] == "https://alerts.example.com/alerts/a-1"
    assert payload["commonAnnotations"]["summary"] == "访客数骤降 75%"


def test_max_alerts_cuts_the_list_and_counts_the_rest(receiver: Any) -> None:
    fake, url = receiver
    deliver({"url": url, "auth": "bearer", "credentials": TOKEN, "max_alerts": 2}, make_notification(key=GROUP_KEY))
    [payload] = fake.received
    assert len(payload["alerts"]) == 2 and payload["truncatedAlerts"] == 1
    assert payload["groupLabels"] == {"platform": "tmall", "store": "tm-flagship"}  # of the alerts listed
    deliver({"url": url, "auth": "bearer", "credentials": TOKEN}, make_notification(alerts=TRAFFIC_INCIDENT[2:]))
    assert fake.received[1]["alerts"][0]["labels"]["sku"] == "SKU-8841" and fake.received[1]["truncatedAlerts"] == 0


def test_basic_auth_and_no_auth_send_what_the_receiver_expects() -> None:
    fake = AlertmanagerReceiver(authorization="Basic " + base64.b64encode(b"flashduty:pa55-word").decode())
    with run_fake_server(fake.app) as base_url:
        deliver({"url": f"{base_url}/alerts", "auth": "basic", "username": "flashduty", "credentials": "pa55-word"},
                make_notification())
        with pytest.raises(PermanentDeliveryError, match="HTTP 401") as raised:
            deliver({"url": f"{base_url}/alerts", "auth": "bearer", "credentials": "wrong-token-value"}, make_notification())
    assert "wrong-token-value" not in str(raised.value)
    assert len(fake.received) == 1 and fake.rejected == [["authorization header differs"]]
    open_receiver = AlertmanagerReceiver(authorization=None)
    with run_fake_server(open_receiver.app) as base_url:
        deliver({"url": f"{base_url}/alerts"}, make_notification())
    assert len(open_receiver.received) == 1


def test_the_settings_page_test_message_without_alerts_is_still_a_valid_payload(receiver: Any) -> None:
    fake, url = receiver
    deliver({"url": url, "auth": "bearer", "credentials": TOKEN},
            Notification(key="test:am-hook:1", title="ShopSentinel 测试消息", severity="info", alerts=[]))
    [payload] = fake.received
    assert payload["alerts"][0]["labels"]["alertname"] == "ShopSentinel 测试消息"
    assert payload["receiver"] == "shopsentinel"


def test_settings_need_the_credentials_their_auth_names() -> None:
    registry = builtin_registry()
    with pytest.raises(Exception, match="credentials: required for auth=bearer"):
        registry.config("alertmanager_webhook", {"url": "https://x.example.com", "auth": "bearer"})
    with pytest.raises(Exception, match="username: required for auth=basic"):
        registry.config("alertmanager_webhook", {"url": "https://x.example.com", "auth": "basic", "credentials": "p"})


def test_the_schema_refuses_what_alertmanager_would_never_send() -> None:
    """The receiver's schema is not vacuous: each broken variant of a good payload is refused."""
    good = alertmanager_payload(make_notification(key=GROUP_KEY), builtin_registry().config(  # type: ignore[arg-type]
        "alertmanager_webhook", {"url": "https://x.example.com"}))
    assert payload_errors(good) == []
    alert = good["alerts"][0]
    broken = [
        {**good, "version": "3"},
        {k: v for k, v in good.items() if k != "groupKey"},
        {**good, "status": "pending"},
        {**good, "truncatedAlerts": -1},
        {**good, "commonLabels": {"bad-name": "x"}},
        {**good, "alerts": []},
        {**good, "alerts": [{**alert, "endsAt": "2026-11-11 02:00"}]},
        {**good, "alerts": [{**alert, "endsAt": "2026-11-11T03:00:00Z"}]},  # firing yet ended
        {**good, "alerts": [{**alert, "labels": {"severity": "critical"}}]},  # no alertname
        {**good, "alerts": [{**alert, "labels": {**alert["labels"], "value": 3}}]},  # label values are strings
        {**good, "alerts": [{k: v for k, v in alert.items() if k != "fingerprint"}]},
        {**good, "extra": 1},
    ]
    for document in broken:
        assert payload_errors(document), document
