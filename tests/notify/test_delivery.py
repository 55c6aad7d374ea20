"""Routed delivery: a DingTalk robot over its 20/min limit gets one digest instead of message
21+ (never the robot's 10-minute lockout); escalation pages through the service's channels after
N minutes unacknowledged and stops on acknowledgement; subscriptions and policies via the API.
A timed back-off (DingTalk 130101, ``Retry-After`` on a 429) pauses the whole channel until then;
a channel secret the key cannot open fails its entries for good instead of retrying forever."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import RecoverableDeliveryError
from shopsentinel.core.types import Severity
from shopsentinel.notify import Notification
from shopsentinel.notify.channels.dingtalk import THROTTLE_LOCKOUT_SECONDS, Config, DingTalkNotifier
from shopsentinel.sim.channels import FakeDingTalk, FakeWebhookReceiver, run_fake_server
from shopsentinel.store.state import OutboxRow
from tests.support.service import START


@pytest.fixture
def clock() -> ManualClock:
    """The service tests' clock (tests/support/service.py), not the notify package's own."""
    return ManualClock(START)

TOKEN, SECRET = "rl-robot-token", "SECrl-robot-secret-0001"


pytestmark = pytest.mark.usefixtures("secret_key")  # robot and secret_key: tests/support/channels.py


def add_robot(api: Any, base_url: str, medium: str = "im") -> None:
    response = api.put("/api/v1/channels", json={
        "name": "robot", "kind": "dingtalk", "medium": medium,
        "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "markdown"},
    })  # fmt: skip
    assert response.status_code == 200, response.text


def enqueue(api: Any, count: int) -> None:
    now = api.service.clock.now()
    with api.service.sessions() as session:
        for i in range(count):
            n = Notification(key=f"msg-{i}", title=f"告警 {i}", severity="warning", alerts=[
                {"id": f"a-{i}", "ts": "2026-11-10T00:00:00Z", "state": "firing", "platform": "tmall", "store": f"tm-{i}",
                 "metric": "uv", "rule": "traffic.crash", "severity": "warning", "kind": "business", "value": 1.0}])
            session.add(OutboxRow(key=n.key, alert_id=f"a-{i}", payload=n.model_dump(mode="json"), muted=False,
                                  created_at=now, status="pending", attempts=0, last_error="", channel="robot"))
        session.commit()


def test_robot_over_20_per_minute_gets_a_digest_instead_of_message_21_and_later(api: Any, clock: ManualClock, robot: Any) -> None:
    fake, base_url = robot
    add_robot(api, base_url)
    enqueue(api, 25)
    api.service.tick()
    assert [m.payload["markdown"]["title"].split("] ")[1] for m in fake.received] == [f"告警 {i}" for i in range(20)]
    clock.advance(timedelta(seconds=30))
    api.service.tick()
    assert len(fake.received) == 20  # still inside the minute: held, not sent
    clock.advance(timedelta(seconds=31))
    api.service.tick()
    assert len(fake.received) == 21
    digest = fake.received[20].payload["markdown"]
    assert "告警摘要：5 条通知因发送频率限制合并" in digest["title"]
    text = digest["text"].replace("\\", "")  # markdown escapes (tm\-20) aside
    assert all(f"tm-{i}" in text for i in range(20, 25))
    clock.advance(timedelta(minutes=5))
    api.service.tick()
    assert len(fake.received) == 21
    outcomes = [a["outcome"] for a in api.get("/api/v1/notifications", params={"limit": 100}).json()["items"]]
    assert outcomes.count("sent") == 21 and outcomes.count("rate_limited") == 5 and outcomes.count("digested") == 5
    assert "retry" not in outcomes  # the robot never answered 130101 "send too fast"
    with api.service.sessions() as session:
        assert {r.status for r in session.scalars(select(OutboxRow))} == {"sent", "digested"}


def test_subscriptions_and_policies_via_the_api_are_validated_and_audited(api: Any) -> None:
    created = api.post("/api/v1/subscriptions", json={"role": "inventory_manager", "categories": ["inventory"], "min_severity": "warning"})
    assert created.status_code == 201
    assert api.post("/api/v1/subscriptions", json={"role": "janitor"}).status_code == 422
    assert api.post("/api/v1/subscriptions", json={"platforms": ["jd"]}).status_code == 422
    assert [s["subscription"]["role"] for s in api.get("/api/v1/subscriptions").json()] == ["inventory_manager"]
    policy = {"name": "store-ops", "steps": [{"after_minutes": 0, "role": "ops_lead"}, {"after_minutes": 15, "role": "director"}]}
    assert api.put("/api/v1/escalation-policies/store-ops", json=policy).status_code == 200
    assert api.put("/api/v1/escalation-policies/other", json=policy).status_code == 422
    bad = {**policy, "steps": list(reversed(policy["steps"]))}
    assert api.put("/api/v1/escalation-policies/store-ops", json=bad).status_code == 422
    assert api.delete(f"/api/v1/subscriptions/{created.json()['id']}").status_code == 204
    actions = {e["action"] for e in api.get("/api/v1/audit").json()}
    assert {"subscription.create", "subscription.delete", "escalation_policy.put"} <= actions


def _crash(api: Any, clock: ManualClock) -> None:
    rule = {"id": "traffic.crash", "name": {"zh": "流量骤降", "en": "crash"}, "severity": "critical",
            "when": {"metric": "uv", "type": "threshold", "below": 50}, "for": "1h"}
    api.put("/api/v1/rules", json={"rules": [rule]})
    for uv in (500, 20, 10, 8):  # stop at the tick where the alert fires: escalation counts from there
        points = [{"ts": f"{clock.now():%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": "tm-1", "metric": "uv", "value": uv}]
        api.post("/api/v1/points", json={"points": points})
        clock.advance(timedelta(hours=1))
        api.service.tick()
        if api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]:
            return
    raise AssertionError("the traffic crash never fired")


def _escalation_titles(fake: FakeDingTalk) -> list[str]:
    return [m.payload["markdown"]["title"] for m in fake.received if "升级" in m.payload["markdown"]["title"]]


@pytest.mark.parametrize("ack_after_minutes", [None, 20])
def test_service_escalates_unacknowledged_alerts_and_stops_on_ack(
    api: Any, clock: ManualClock, robot: Any, ack_after_minutes: int | None
) -> None:
    fake, base_url = robot
    add_robot(api, base_url)
    routing = {"route": {"receiver": "default", "escalation_policy": "store-ops"},
               "members": {"ops_lead": ["13800000001"], "cs_supervisor": ["13800000002"], "director": ["13800000003"]}}
    assert api.put("/api/v1/routing", json=routing).status_code == 200
    policy = {"name": "store-ops", "steps": [{"after_minutes": 0, "role": "ops_lead"},
                                             {"after_minutes": 15, "role": "cs_supervisor"},
                                             {"after_minutes": 45, "role": "director"}]}
    assert api.put("/api/v1/escalation-policies/store-ops", json=policy).status_code == 200
    _crash(api, clock)
    [alert] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    assert len(_escalation_titles(fake)) == 1  # step 1 (on duty) pages at once
    for minute in range(1, 61):
        clock.advance(timedelta(minutes=1))
        if ack_after_minutes is not None and minute == ack_after_minutes:
            assert api.post(f"/api/v1/alerts/{alert['id']}/ack").status_code in (200, 201)
        api.service.tick()
    titles = _escalation_titles(fake)
    expected = ["1/3", "2/3"] if ack_after_minutes == 20 else ["1/3", "2/3", "3/3"]
    assert [t.split("【升级 ")[1].split("】")[0] for t in titles] == expected


# --- timed back-off and secrets the key cannot open (issue 14) ------------------------------------

HOOK_SECRET = "delivery-test-hook-secret"


def put_channel(api: Any, body: dict[str, Any]) -> None:
    response = api.put("/api/v1/channels", json=body)
    assert response.status_code == 200, response.text


def outbox_rows(api: Any) -> list[OutboxRow]:
    with api.service.sessions() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def enqueue_for(api: Any, channel: str, count: int) -> None:
    enqueue(api, count)
    with api.service.sessions() as session:
        for row in session.scalars(select(OutboxRow)):
            row.channel = channel
        session.commit()


def naive(ts: Any) -> Any:
    return ts.replace(tzinfo=None) if ts is not None else None


def test_dingtalk_130101_pauses_the_whole_robot_until_its_lockout_ends(api: Any, clock: ManualClock) -> None:
    # The robot's own limit is 2/min (then a 10-minute lockout); ours is set higher, so the robot answers 130101.
    fake = FakeDingTalk({TOKEN: SECRET}, clock=clock, per_minute=2)
    with run_fake_server(fake.app) as base_url:
        put_channel(api, {"name": "robot", "kind": "dingtalk", "medium": "im", "per_minute": 100, "settings": {
            "access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "markdown"}})
        enqueue(api, 5)
        start = clock.now()
        api.service.tick()
        assert len(fake.received) == 2 and fake.requests_seen == 3  # the third is answered 130101; no fourth try
        rows = outbox_rows(api)
        assert [r.status for r in rows] == ["sent", "sent", "pending", "pending", "pending"]
        # The whole channel waits out the lockout (600 s), not just the throttled entry, and not 60 s.
        assert {naive(r.next_attempt_at) for r in rows[2:]} == {naive(start + timedelta(seconds=600))}
        assert "errcode 130101" in rows[2].last_error
        clock.advance(timedelta(minutes=9))
        api.service.tick()
        assert fake.requests_seen == 3  # still paused: nothing sent into the lockout
        clock.advance(timedelta(minutes=1, seconds=1))
        api.service.tick()
        # Lockout over: two more go out, the robot throttles the next again, and the channel pauses again.
        assert len(fake.received) == 4 and fake.requests_seen == 6
    outcomes = [a["outcome"] for a in api.get("/api/v1/notifications", params={"limit": 100}).json()["items"]]
    assert outcomes.count("throttled") == 2 and outcomes.count("sent") == 4


def test_dingtalk_130101_is_a_timed_recoverable_error() -> None:
    def throttled(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})

    notifier = DingTalkNotifier(Config(access_token=TOKEN, secret=SECRET))  # type: ignore[arg-type]
    note = Notification(key="k", title="t", severity=Severity.WARNING, alerts=[])

    async def send() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(throttled)) as client:
            await notifier.send(note, client)

    with pytest.raises(RecoverableDeliveryError) as caught:
        asyncio.run(send())
    assert caught.value.retry_after == THROTTLE_LOCKOUT_SECONDS == 600


def test_429_with_retry_after_5_is_retried_at_plus_5_seconds(api: Any, clock: ManualClock) -> None:
    fake = FakeWebhookReceiver(HOOK_SECRET, clock=clock)
    fake.faults.status, fake.faults.retry_after = 429, "5"
    with run_fake_server(fake.app) as base_url:
        put_channel(api, {"name": "hook", "kind": "webhook", "medium": "im",
                          "settings": {"url": f"{base_url}/hook", "secret": HOOK_SECRET}})
        enqueue_for(api, "hook", 2)
        start = clock.now()
        api.service.tick()
        assert fake.requests_seen == 1  # one probe; the channel then waits as it was told
        rows = outbox_rows(api)
        assert [naive(r.next_attempt_at) for r in rows] == [naive(start + timedelta(seconds=5))] * 2
        assert rows[0].last_error == "RecoverableDeliveryError: webhook: HTTP 429"
        fake.faults.status = None
        clock.advance(timedelta(seconds=4))
        api.service.tick()
        assert fake.requests_seen == 1  # not before +5 s
        clock.advance(timedelta(seconds=1))
        api.service.tick()
        assert [m.payload["key"] for m in fake.received] == ["msg-0", "msg-1"]  # at +5 s, not +60 s
        assert [r.status for r in outbox_rows(api)] == ["sent", "sent"]


def test_a_secret_the_key_cannot_open_fails_the_entry_for_good(
    api: Any, clock: ManualClock, robot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, base_url = robot
    add_robot(api, base_url)  # sealed with the key of the start
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())  # the key changed since
    enqueue(api, 2)
    api.service.tick()
    rows = outbox_rows(api)
    assert [r.status for r in rows] == ["failed", "failed"]
    assert all(r.last_error.startswith("SecretKeyError: 无法解密渠道 robot 的机密") for r in rows)
    assert all(r.attempts == 1 and r.next_attempt_at is None for r in rows)
    clock.advance(timedelta(hours=2))
    api.service.tick()
    assert [r.attempts for r in outbox_rows(api)] == [1, 1]  # not retried
    assert fake.requests_seen == 0
    outcomes = [a["outcome"] for a in api.get("/api/v1/notifications").json()["items"]]
    assert outcomes == ["failed", "failed"]
