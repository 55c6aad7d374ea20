"""Slack incoming webhook and the generic signed webhook over loopback HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.channels import slack, webhook
from shopsentinel.sim.channels import FakeSlack, FakeWebhookReceiver, run_fake_server

HOOK = "T000/B000/XXXXsecretXXXX"


@pytest.fixture
def fake_slack(clock: ManualClock) -> Iterator[tuple[FakeSlack, str]]:
    service = FakeSlack({HOOK}, clock=clock)
    with run_fake_server(service.app) as base_url:
        yield service, base_url


def slack_notifier(base_url: str, hook: str = HOOK) -> slack.SlackNotifier:
    return slack.SlackNotifier(slack.Config(webhook_url=f"{base_url}/services/{hook}"))


def test_slack_message_has_text_blocks_and_buttons(fake_slack, deliver, notification) -> None:
    service, url = fake_slack
    deliver(slack_notifier(url), notification(lang="en"))
    payload = service.received[0].payload
    assert payload["text"].startswith("*[Critical] 天猫旗舰店流量骤降*")
    assert payload["blocks"][0]["text"]["type"] == "mrkdwn"
    assert [e["text"]["text"] for e in payload["blocks"][1]["elements"]] == ["Acknowledge", "View details"]


def test_slack_429_is_recoverable_with_retry_after(fake_slack, clock, deliver, notification) -> None:
    _, url = fake_slack
    deliver(slack_notifier(url), notification())
    with pytest.raises(RecoverableDeliveryError, match="HTTP 429") as raised:
        deliver(slack_notifier(url), notification())
    assert raised.value.retry_after == 1.0
    clock.advance(timedelta(seconds=1))
    deliver(slack_notifier(url), notification())


def test_slack_unknown_hook_and_archived_channel_are_permanent(fake_slack, deliver, notification) -> None:
    service, url = fake_slack
    with pytest.raises(PermanentDeliveryError, match="HTTP 404: no_service"):
        deliver(slack_notifier(url, "T000/B000/wrong"), notification())
    service.archived.add(HOOK)
    with pytest.raises(PermanentDeliveryError, match="HTTP 410: channel_is_archived"):
        deliver(slack_notifier(url), notification())


def test_slack_server_error_is_recoverable(fake_slack, deliver, notification) -> None:
    service, url = fake_slack
    service.faults.status = 500
    with pytest.raises(RecoverableDeliveryError, match="HTTP 500"):
        deliver(slack_notifier(url), notification())


WEBHOOK_SECRET = "whsec-0123456789"


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[tuple[FakeWebhookReceiver, str]]:
    service = FakeWebhookReceiver(WEBHOOK_SECRET, clock=clock)
    with run_fake_server(service.app) as base_url:
        yield service, base_url


def webhook_notifier(base_url: str, clock: ManualClock, secret: str = WEBHOOK_SECRET) -> webhook.WebhookNotifier:
    return webhook.WebhookNotifier(webhook.Config(url=f"{base_url}/hook", secret=secret), clock=clock)


def test_webhook_body_is_signed_and_carries_alerts_and_chart(receiver, clock, deliver, notification) -> None:
    service, url = receiver
    deliver(webhook_notifier(url, clock), notification(chart_png=b"\x89PNG-fake"))
    [message] = service.received
    document = message.payload
    assert document["sent_at"] == int(clock.now().timestamp())
    assert message.headers["x-shopsentinel-timestamp"] == str(document["sent_at"])
    assert message.headers["x-shopsentinel-signature"].startswith("sha256=")
    assert [a["id"] for a in document["alerts"]] == ["a-2", "a-1", "a-3"]
    assert base64.b64decode(document["chart_png_base64"]) == b"\x89PNG-fake"
    assert document["text"].startswith("[严重] 天猫旗舰店流量骤降")
    json.dumps(document)  # plain JSON all the way down


def test_webhook_wrong_secret_is_rejected_permanently(receiver, clock, deliver, notification) -> None:
    service, url = receiver
    with pytest.raises(PermanentDeliveryError, match="HTTP 401"):
        deliver(webhook_notifier(url, clock, secret="other-secret"), notification())
    assert service.received == []


def test_webhook_replay_outside_window_is_rejected(receiver, deliver, notification) -> None:
    service, url = receiver
    old = ManualClock(service.clock.now() - timedelta(minutes=6))
    with pytest.raises(PermanentDeliveryError, match="HTTP 401"):
        deliver(webhook_notifier(url, old), notification())


def test_webhook_tampered_body_fails_verification() -> None:
    body = json.dumps({"sent_at": 1700000000, "title": "x"}).encode()
    signature = webhook.webhook_signature(WEBHOOK_SECRET, body)
    from datetime import UTC, datetime

    now = datetime.fromtimestamp(1700000000, UTC)
    assert webhook.verify_webhook_signature(WEBHOOK_SECRET, body, signature=signature, timestamp="1700000000", now=now)
    with pytest.raises(webhook.WebhookSignatureError, match="signature"):
        webhook.verify_webhook_signature(
            WEBHOOK_SECRET, body.replace(b'"x"', b'"y"'), signature=signature, timestamp="1700000000", now=now
        )
    with pytest.raises(webhook.WebhookSignatureError, match="differs"):
        webhook.verify_webhook_signature(WEBHOOK_SECRET, body, signature=signature, timestamp="1700000001", now=now)


def test_webhook_receiver_down_is_recoverable(receiver, clock, deliver, notification) -> None:
    service, url = receiver
    service.faults.status = 503
    with pytest.raises(RecoverableDeliveryError, match="HTTP 503"):
        deliver(webhook_notifier(url, clock), notification())
