"""Feishu custom bot over loopback HTTP against a fake that checks the real body signature."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.channels.feishu import Config, FeishuNotifier
from shopsentinel.sim.channels import FakeFeishu, run_fake_server
from shopsentinel.sim.channels.feishu import body_problem

TOKEN, SECRET = "hook-token-1", "feishu-secret"


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[tuple[FakeFeishu, str]]:
    bot = FakeFeishu({TOKEN: SECRET}, clock=clock)
    with run_fake_server(bot.app) as base_url:
        yield bot, base_url


def notifier(base_url: str, clock: ManualClock, **overrides: object) -> FeishuNotifier:
    settings: dict[str, object] = {"token": TOKEN, "secret": SECRET, "base_url": base_url}
    return FeishuNotifier(Config.model_validate({**settings, **overrides}), clock=clock)


def test_signed_interactive_card_is_accepted(fake, clock, deliver, notification) -> None:
    bot, url = fake
    deliver(notifier(url, clock), notification())
    [message] = bot.received
    payload = message.payload
    assert payload["msg_type"] == "interactive"
    assert payload["timestamp"] == str(int(clock.now().timestamp()))
    card = payload["card"]
    assert card["header"] == {"title": {"tag": "plain_text", "content": "[严重] 天猫旗舰店流量骤降"}, "template": "red"}
    buttons = card["elements"][-1]["actions"]
    assert [(b["text"]["content"], b["url"]) for b in buttons] == [
        ("认领", "https://sentinel.example.com/actions/ack?token=t0k"),
        ("查看详情", "https://sentinel.example.com/alerts/a-1"),
    ]
    assert card["elements"][0]["text"]["tag"] == "lark_md"


def test_wrong_secret_is_19021_permanent(fake, clock, deliver, notification) -> None:
    bot, url = fake
    with pytest.raises(PermanentDeliveryError, match="19021"):
        deliver(notifier(url, clock, secret="other"), notification())
    assert bot.received == []


def test_stale_timestamp_is_19021(fake, deliver, notification) -> None:
    bot, url = fake
    stale = ManualClock(bot.clock.now() + timedelta(hours=1, seconds=5))
    with pytest.raises(PermanentDeliveryError, match="19021"):
        deliver(notifier(url, stale), notification())


def test_unsigned_request_to_signed_bot_is_rejected(fake, clock, deliver, notification) -> None:
    _, url = fake
    with pytest.raises(PermanentDeliveryError, match="19021"):
        deliver(notifier(url, clock, secret=None), notification())


def test_unknown_token_is_permanent(fake, clock, deliver, notification) -> None:
    _, url = fake
    with pytest.raises(PermanentDeliveryError, match="19001"):
        deliver(notifier(url, clock, token="nope"), notification())


def test_five_per_second_then_11232_recoverable(fake, clock, deliver, notification) -> None:
    bot, url = fake
    for _ in range(5):
        deliver(notifier(url, clock), notification())
    with pytest.raises(RecoverableDeliveryError, match="11232"):
        deliver(notifier(url, clock), notification())
    clock.advance(timedelta(seconds=1))
    deliver(notifier(url, clock), notification())
    assert len(bot.received) == 6


def test_server_error_is_recoverable(fake, clock, deliver, notification) -> None:
    bot, url = fake
    bot.faults.status = 502
    with pytest.raises(RecoverableDeliveryError, match="HTTP 502"):
        deliver(notifier(url, clock), notification())


def test_fake_rejects_malformed_cards() -> None:
    assert body_problem({"msg_type": "interactive", "card": {"elements": []}}) is not None
    assert body_problem({"msg_type": "interactive", "card": {"elements": [{"tag": "action", "actions": [
        {"tag": "button", "text": {"tag": "plain_text", "content": "x"}}]}]}}) == "button needs text and url"  # fmt: skip
    assert body_problem({"msg_type": "text", "content": {"text": "hi"}}) is None
