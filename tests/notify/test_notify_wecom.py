"""WeCom group robot over loopback HTTP against a fake that checks key, shape, size and rate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.channels.wecom import Config, WeComNotifier, wecom_payload
from shopsentinel.sim.channels import FakeWeCom, run_fake_server
from shopsentinel.sim.channels.wecom import shape_error

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[tuple[FakeWeCom, str]]:
    robot = FakeWeCom({KEY}, clock=clock)
    with run_fake_server(robot.app) as base_url:
        yield robot, base_url


def notifier(base_url: str, key: str = KEY) -> WeComNotifier:
    return WeComNotifier(Config(key=key, base_url=base_url))


def test_markdown_with_colours_mentions_and_links_is_accepted(fake, deliver, notification) -> None:
    robot, url = fake
    deliver(notifier(url), notification(recipients=["zhangsan"]))
    [message] = robot.received
    content = message.payload["markdown"]["content"]
    assert message.payload["msgtype"] == "markdown"
    assert '<font color="warning">【严重】</font>天猫旗舰店流量骤降' in content
    assert "[认领](https://sentinel.example.com/actions/ack?token=t0k)" in content
    assert content.endswith("<@zhangsan>")


def test_unknown_key_is_permanent(fake, deliver, notification) -> None:
    robot, url = fake
    with pytest.raises(PermanentDeliveryError, match="93000"):
        deliver(notifier(url, key="wrong"), notification())
    assert robot.received == []


def test_frequency_limit_45009_is_recoverable(fake, clock, deliver, notification) -> None:
    robot, url = fake
    for _ in range(20):
        deliver(notifier(url), notification())
    with pytest.raises(RecoverableDeliveryError, match="45009") as raised:
        deliver(notifier(url), notification())
    assert raised.value.retry_after == 60
    clock.advance(timedelta(seconds=61))
    deliver(notifier(url), notification())
    assert len(robot.received) == 21


def test_server_error_and_timeout_are_recoverable(fake, deliver, notification) -> None:
    robot, url = fake
    robot.faults.status = 503
    with pytest.raises(RecoverableDeliveryError, match="HTTP 503"):
        deliver(notifier(url), notification())
    robot.faults.status, robot.faults.hang = None, True
    with pytest.raises(RecoverableDeliveryError, match="timed out"):
        deliver(WeComNotifier(Config(key=KEY, base_url=url, timeout_seconds=0.3)), notification())


def test_payload_always_fits_4096_bytes(notification) -> None:
    alerts = [{"ts": "2026-11-11T02:00:00Z", "state": "firing", "platform": "jd", "store": f"store-{i}", "metric": "uv",
               "rule": "r", "severity": "critical", "kind": "business", "message": "流量异常" * 30} for i in range(80)]  # fmt: skip
    payload = wecom_payload(notification(alerts=alerts, recipients=["a", "b"]))
    assert len(payload["markdown"]["content"].encode("utf-8")) <= 4096
    assert shape_error(payload) is None


def test_fake_rejects_oversized_markdown_with_40058() -> None:
    assert shape_error({"msgtype": "markdown", "markdown": {"content": "测" * 1400}}) == (
        40058, "markdown.content exceed max length 4096",
    )  # fmt: skip
    assert shape_error({"msgtype": "nope"}) == (40008, "invalid message type")
