"""DingTalk robot over loopback HTTP against a fake that checks the real 加签 signature."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.channels.dingtalk import Config, DingTalkNotifier
from shopsentinel.sim.channels import FakeDingTalk, run_fake_server

TOKEN, SECRET = "robot-token-1", "SECdingtalk-secret-0001"


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[tuple[FakeDingTalk, str]]:
    robot = FakeDingTalk({TOKEN: SECRET, "unsigned-robot": None}, clock=clock)
    with run_fake_server(robot.app) as base_url:
        yield robot, base_url


def notifier(base_url: str, clock: ManualClock, **overrides: object) -> DingTalkNotifier:
    settings: dict[str, object] = {"access_token": TOKEN, "secret": SECRET, "base_url": base_url}
    return DingTalkNotifier(Config.model_validate({**settings, **overrides}), clock=clock)


def test_action_card_with_ack_and_detail_buttons_is_accepted(fake, clock, deliver, notification) -> None:
    robot, url = fake
    result = deliver(notifier(url, clock), notification(recipients=["13800000000"]))
    assert result.channel == "dingtalk"
    [message] = robot.received
    card = message.payload["actionCard"]
    assert message.payload["msgtype"] == "actionCard"
    assert [(b["title"], b["actionURL"]) for b in card["btns"]] == [
        ("认领", "https://sentinel.example.com/actions/ack?token=t0k"),
        ("查看详情", "https://sentinel.example.com/alerts/a-1"),
    ]
    # root cause first, then its consequence, then the other incident
    assert card["text"].index("**uv**") < card["text"].index("**orders**") < card["text"].index("**stock**")
    assert message.payload["at"]["atMobiles"] == ["13800000000"] and "@13800000000" in card["text"]


def test_markdown_when_no_links(fake, clock, deliver, notification) -> None:
    robot, url = fake
    deliver(notifier(url, clock), notification(ack_url=None, detail_url=None, lang="en"))
    payload = robot.received[0].payload
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"] == "[Critical] 天猫旗舰店流量骤降"
    assert "Root cause" in payload["markdown"]["text"]


def test_robot_without_signing_accepts_unsigned_request(fake, clock, deliver, notification) -> None:
    robot, url = fake
    deliver(notifier(url, clock, access_token="unsigned-robot", secret=None), notification())
    assert len(robot.received) == 1


def test_wrong_secret_is_rejected_by_fake_and_permanent(fake, clock, deliver, notification) -> None:
    robot, url = fake
    with pytest.raises(PermanentDeliveryError, match="310000.*sign not match"):
        deliver(notifier(url, clock, secret="SECwrong"), notification())
    assert robot.received == []


def test_timestamp_more_than_an_hour_off_is_rejected(fake, deliver, notification) -> None:
    robot, url = fake
    client_clock = ManualClock(robot.clock.now() - timedelta(hours=1, minutes=1))
    with pytest.raises(PermanentDeliveryError, match="invalid timestamp"):
        deliver(notifier(url, client_clock), notification())
    # within the window it passes: the check is the window, not exact equality
    client_clock.advance(timedelta(minutes=2))
    deliver(notifier(url, client_clock), notification())
    assert len(robot.received) == 1


def test_unknown_token_is_permanent(fake, clock, deliver, notification) -> None:
    _, url = fake
    with pytest.raises(PermanentDeliveryError, match="300001"):
        deliver(notifier(url, clock, access_token="nope"), notification())


def test_twenty_per_minute_then_130101_recoverable_with_lockout(fake, clock, deliver, notification) -> None:
    robot, url = fake
    sender = notifier(url, clock)
    for _ in range(20):
        deliver(sender, notification())
    with pytest.raises(RecoverableDeliveryError, match="130101") as raised:
        deliver(sender, notification())
    assert raised.value.retry_after == 600
    clock.advance(timedelta(minutes=2))  # the minute window has passed, but the 10-minute lockout holds
    with pytest.raises(RecoverableDeliveryError, match="130101"):
        deliver(sender, notification())
    clock.advance(timedelta(minutes=9))
    deliver(sender, notification())
    assert len(robot.received) == 21


def test_server_error_is_recoverable(fake, clock, deliver, notification) -> None:
    robot, url = fake
    robot.faults.status = 500
    with pytest.raises(RecoverableDeliveryError, match="HTTP 500"):
        deliver(notifier(url, clock), notification())


def test_timeout_is_recoverable(fake, clock, deliver, notification) -> None:
    robot, url = fake
    robot.faults.hang = True
    with pytest.raises(RecoverableDeliveryError, match="timed out"):
        deliver(notifier(url, clock, timeout_seconds=0.3), notification())


def test_revoked_credentials_are_permanent(fake, clock, deliver, notification) -> None:
    robot, url = fake
    robot.faults.reject_credentials = True
    with pytest.raises(PermanentDeliveryError):
        deliver(notifier(url, clock), notification())


def test_huge_incident_is_shortened_below_body_limit_and_accepted(fake, clock, deliver, notification) -> None:
    robot, url = fake
    alert = {"ts": "2026-11-11T02:00:00Z", "state": "firing", "platform": "tmall", "store": "tm-1", "metric": "stock",
             "rule": "r", "severity": "warning", "kind": "business", "value": 1, "expected": 9, "incident": "big",
             "message": "库存低" * 40}  # fmt: skip
    alerts = [{**alert, "sku": f"SKU-{i}", "ts": f"2026-11-11T02:{i % 60:02d}:00Z"} for i in range(300)]
    deliver(notifier(url, clock), notification(alerts=alerts))
    text = robot.received[0].payload["actionCard"]["text"]
    assert "还有" in text and "共 300 条告警" in text
