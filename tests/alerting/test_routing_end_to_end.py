"""End to end through the API and a real loopback DingTalk fake: points in → one DingTalk message
for a traffic crash incident (root cause first, the orders-drop symptom inhibited and counted);
channel secrets stored encrypted and never returned; every attempt at /api/v1/notifications."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shopsentinel.core.clock import ManualClock
from shopsentinel.sim.channels import FakeAliyun, run_fake_server
from shopsentinel.store.state import ChannelRow

TOKEN, SECRET = "ops-robot-token", "SECops-robot-secret-0001"


pytestmark = pytest.mark.usefixtures("secret_key")  # robot and secret_key: tests/support/channels.py


def _rule(rule_id: str, metric: str, below: float, name: str) -> dict[str, Any]:
    return {"id": rule_id, "name": {"zh": name, "en": rule_id}, "severity": "critical",
            "when": {"metric": metric, "type": "threshold", "below": below}, "for": "1h"}


def add_robot(api: Any, base_url: str) -> dict[str, Any]:
    response = api.put("/api/v1/channels", json={
        "name": "ops-robot", "kind": "dingtalk", "medium": "im", "receiver": "default",
        "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "markdown"},
    })  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@contextmanager
def sms_gateway(api: Any, clock: ManualClock) -> Iterator[FakeAliyun]:
    """A signature-checking Aliyun SMS fake registered as the ``ops-sms`` channel."""
    gateway = FakeAliyun({"LTAI5tFakeKeyId": "fake-access-key-secret"}, templates={"SMS_460000001": {"level", "title", "count"}},
                         sign_names={"店铺预警"}, clock=clock)
    with run_fake_server(gateway.app) as sms_url:
        assert api.put("/api/v1/channels", json={
            "name": "ops-sms", "kind": "aliyun_sms", "medium": "sms",
            "settings": {"access_key_id": "LTAI5tFakeKeyId", "access_key_secret": "fake-access-key-secret",
                         "sign_name": "店铺预警", "template_code": "SMS_460000001", "endpoint": sms_url},
        }).status_code == 200  # fmt: skip
        yield gateway


def traffic_crash(api: Any, clock: ManualClock) -> None:
    """Five hours of tm-1's visitors, collapsing after the first (one tick per hour)."""
    for uv in (500, 20, 10, 8, 6):
        points = [{"ts": f"{clock.now():%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": "tm-1", "metric": "uv", "value": uv}]
        api.post("/api/v1/points", json={"points": points})
        clock.advance(timedelta(hours=1))
        api.service.tick()


def test_traffic_crash_incident_gives_exactly_one_dingtalk_message(api: Any, clock: ManualClock, robot: Any) -> None:
    fake, base_url = robot
    channel = add_robot(api, base_url)
    assert TOKEN not in str(channel) and SECRET not in str(channel)
    assert set(channel["secret_fields"]) == {"access_token", "secret", "callback_secret"}
    with api.service.sessions() as session:
        stored = session.scalars(select(ChannelRow)).one().settings
    assert stored["secret"].startswith("enc:") and SECRET not in str(stored)
    assert TOKEN not in api.get("/api/v1/channels").text
    api.put("/api/v1/rules", json={"rules": [_rule("traffic.crash", "uv", 50, "流量骤降"), _rule("orders.low", "orders", 5, "订单骤降")]})
    for uv, orders in [(500, 30), (20, 25), (10, 2), (8, 1), (6, 1)]:
        ts = f"{clock.now():%Y-%m-%dT%H:%M:%SZ}"
        points = [{"ts": ts, "platform": "tmall", "store": "tm-1", "metric": m, "value": v}
                  for m, v in (("uv", uv), ("orders", orders))]
        assert api.post("/api/v1/points", json={"points": points}).json()["accepted"] == 2
        clock.advance(timedelta(hours=1))
        api.service.tick()
    for _ in range(6):  # group_interval passes several times: nothing new, nothing sent
        clock.advance(timedelta(minutes=6))
        api.service.tick()
    firing = {a["rule"] for a in api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]}
    assert firing == {"traffic.crash", "orders.low"}
    assert len(fake.received) == 1
    text = fake.received[0].payload["markdown"]["text"]
    assert "流量骤降" in text
    assert "已抑制 1 条由 traffic.crash 引起的告警（orders.low）" in text
    assert "订单骤降" not in text  # the symptom is counted, not listed
    attempts = api.get("/api/v1/notifications").json()["items"]
    assert [(a["channel"], a["outcome"]) for a in attempts] == [("ops-robot", "sent")]
    assert api.get("/api/v1/outbox").status_code == 200
    actions = [e["action"] for e in api.get("/api/v1/audit").json()]
    assert "channel.put" in actions


def test_channel_settings_are_validated_without_echoing_secrets(api: Any) -> None:
    response = api.put("/api/v1/channels", json={"name": "bad", "kind": "dingtalk", "medium": "im",
                                                 "settings": {"secret": "SECleak-me", "unknown": 1}})
    assert response.status_code == 422 and "SECleak-me" not in response.text
    assert api.put("/api/v1/channels", json={"name": "x", "kind": "pigeon", "medium": "im", "settings": {}}).status_code == 422
    viewer = api.post("/api/v1/tokens", json={"user": "v", "role": "viewer"})
    assert viewer.status_code == 201
    assert api.as_token(viewer.json()["token"]).get("/api/v1/channels").status_code == 403


def test_critical_alert_goes_to_im_and_to_the_subscribed_phones_by_sms(api: Any, clock: ManualClock, robot: Any) -> None:
    fake, base_url = robot
    add_robot(api, base_url)
    with sms_gateway(api, clock) as gateway:
        members = {"ops_lead": ["13800000001"], "inventory_manager": ["13800000002"], "director": ["13800000003"]}
        assert api.put("/api/v1/routing", json={"members": members}).status_code == 200
        for sub in ({"role": "ops_lead", "platforms": ["tmall"], "min_severity": "warning"},
                    {"role": "inventory_manager", "categories": ["inventory"]},
                    {"role": "director", "min_severity": "fatal"}):
            assert api.post("/api/v1/subscriptions", json=sub).status_code == 201
        api.put("/api/v1/rules", json={"rules": [_rule("traffic.crash", "uv", 50, "流量骤降")]})
        traffic_crash(api, clock)
        assert len(fake.received) == 1  # critical → IM ...
        [sms] = gateway.received  # ... and SMS, only to the subscribed 运营负责人
        assert sms.payload["PhoneNumbers"] == "13800000001"
    channels = {a["channel"] for a in api.get("/api/v1/notifications").json()["items"] if a["outcome"] == "sent"}
    assert channels == {"ops-robot", "ops-sms"}


def test_mute_until_resolved_stops_messages_for_that_episode_only(api: Any, clock: ManualClock, robot: Any) -> None:
    fake, base_url = robot
    add_robot(api, base_url)
    api.put("/api/v1/rules", json={"rules": [_rule("traffic.crash", "uv", 50, "流量骤降")]})

    def hour(uv: float) -> None:
        ts = clock.now().replace(minute=0)
        points = [{"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": "tm-1", "metric": "uv", "value": uv}]
        api.post("/api/v1/points", json={"points": points})
        clock.advance(timedelta(hours=1))
        api.service.evaluator.evaluate([("tmall", "tm-1")])  # evaluate only: the group has not flushed yet

    for uv in (500, 20, 10):
        hour(uv)
    [alert] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    viewer = api.post("/api/v1/tokens", json={"user": "v", "role": "viewer"}).json()["token"]
    assert api.as_token(viewer).post(f"/api/v1/alerts/{alert['id']}/mute").status_code == 403
    assert api.post(f"/api/v1/alerts/{alert['id']}/mute").status_code == 200
    for uv in (8, 6):
        hour(uv)
        api.service.tick()
    for _ in range(4):
        clock.advance(timedelta(minutes=10))
        api.service.tick()
    assert fake.received == []  # muted before its group flushed: nobody was paged
    detail = api.get(f"/api/v1/alerts/{alert['id']}").json()
    assert detail["muted_by"] == "admin" and "muted" in [e["event"] for e in detail["history"]]
    for uv in (500, 510, 520, 515, 505, 500):  # recovers for good: the muted episode resolves silently
        hour(uv)
        api.service.tick()
    assert fake.received == []
    assert api.post(f"/api/v1/alerts/{alert['id']}/mute").status_code == 409  # resolved: nothing to mute
    for uv in (10, 9, 8):  # a new episode is a new alert and pages again
        hour(uv)
        api.service.tick()
    for _ in range(4):
        clock.advance(timedelta(minutes=10))
        api.service.tick()
    assert len(fake.received) == 1 and "流量骤降" in fake.received[0].payload["markdown"]["text"]
    assert "alert.mute" in [e["action"] for e in api.get("/api/v1/audit").json()]


def test_paging_reaches_people_through_the_user_directory(api: Any, clock: ManualClock, robot: Any) -> None:
    from shopsentinel.store.state import UserRow

    fake, base_url = robot
    add_robot(api, base_url)
    with api.service.sessions() as session:
        session.add_all([
            UserRow(username="wang", display_name="王运营", role="editor", duties=["ops_lead"], email="", phone="13900000009",
                    im_ids={}, locale="zh-CN", active=True, password_hash="", created_at=clock.now()),
            UserRow(username="li", display_name="李离职", role="viewer", duties=["ops_lead"], email="", phone="13900000010",
                    im_ids={}, locale="zh-CN", active=False, password_hash="", created_at=clock.now()),
        ])  # fmt: skip
        session.commit()
    with sms_gateway(api, clock) as gateway:
        # a directory user, an inactive one (left the company) and a bare phone number listed directly
        assert api.put("/api/v1/routing", json={"members": {"ops_lead": ["wang", "li", "13800000001"]}}).status_code == 200
        assert api.post("/api/v1/subscriptions", json={"role": "ops_lead", "min_severity": "warning"}).status_code == 201
        api.put("/api/v1/rules", json={"rules": [_rule("traffic.crash", "uv", 50, "流量骤降")]})
        traffic_crash(api, clock)
        [sms] = gateway.received
        assert sms.payload["PhoneNumbers"] == "13800000001,13900000009"


def test_signed_links_acknowledge_from_a_phone_and_refuse_tampered_or_expired_tokens(
        api_factory: Any, database_url: str, clock: ManualClock, robot: Any) -> None:
    from urllib.parse import parse_qs, urlsplit

    fake, base_url = robot
    api = api_factory(database_url, clock, public_url="https://sentinel.example.com")
    assert api.put("/api/v1/channels", json={
        "name": "ops-robot", "kind": "dingtalk", "medium": "im", "receiver": "default",
        "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "actionCard"},
    }).status_code == 200  # fmt: skip
    api.put("/api/v1/rules", json={"rules": [_rule("traffic.crash", "uv", 50, "流量骤降")]})
    traffic_crash(api, clock)
    [message] = fake.received
    buttons = message.payload["actionCard"]["btns"]
    ack_url = next(b["actionURL"] for b in buttons if "认领" in b["title"])
    view_url = next(b["actionURL"] for b in buttons if "详情" in b["title"])
    assert ack_url.startswith("https://sentinel.example.com/actions/ack?token=")
    ack_path = urlsplit(ack_url).path + "?" + urlsplit(ack_url).query
    [alert] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]

    page = api.get(ack_path)  # what a chat app's link preview fetches: shows, changes nothing
    assert page.status_code == 200 and "认领 / Acknowledge" in page.text
    # no inline <style> for the Content-Security-Policy to block: the phone page keeps its layout
    assert "<style" not in page.text and 'href="/static/action.css"' in page.text
    assert api.get("/static/action.css").status_code == 200
    assert api.get(f"/api/v1/alerts/{alert['id']}").json()["acked_by"] is None
    token = parse_qs(urlsplit(ack_url).query)["token"][0]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert api.post("/actions/ack", params={"token": forged}).status_code == 403
    view = urlsplit(view_url)
    assert api.post("/actions/ack", params={"token": parse_qs(view.query)["token"][0]}).status_code == 403  # wrong action
    # Nobody is on duty for this robot: the link was issued to no one, so it asks who acknowledges
    # and records that name (marked as given on the link), never a hash.
    assert api.post(ack_path).status_code == 400
    done = api.post(ack_path, data={"name": "值班 小王"})
    assert done.status_code == 200 and "已认领" in done.text
    detail = api.get(f"/api/v1/alerts/{alert['id']}").json()
    assert detail["acked_by"] == "值班 小王（链接认领）" and "link:" not in detail["acked_by"]
    assert "alert.ack" in [e["action"] for e in api.get("/api/v1/audit").json()]
    opened = api.get(view.path + "?" + view.query, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/alerts/{alert['id']}"
    clock.advance(timedelta(hours=25))  # links live 24 h
    assert api.post(ack_path).status_code == 410
