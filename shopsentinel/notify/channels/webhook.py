"""Generic webhook: the notification as JSON, signed so the receiver can trust it.

Headers: ``X-ShopSentinel-Timestamp: <unix seconds>`` and
``X-ShopSentinel-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``. The timestamp is also
inside the body (``sent_at``), so it is covered by the signature and a receiver can refuse
replays with :func:`verify_webhook_signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import ShopSentinelError
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels._http import raise_for_http_status, send_request
from shopsentinel.notify.templates import render_plain

SIGNATURE_HEADER = "X-ShopSentinel-Signature"
TIMESTAMP_HEADER = "X-ShopSentinel-Timestamp"
SCHEMA_VERSION = 1


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr  # may carry its own token in the query
    secret: SecretStr
    timeout_seconds: float = 10.0


class WebhookSignatureError(ShopSentinelError):
    """A received webhook whose signature or timestamp is not acceptable."""


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_webhook_signature(
    secret: str, body: bytes, *, signature: str, timestamp: str, now: datetime, tolerance_seconds: float = 300
) -> dict[str, Any]:
    """For receivers: check the HMAC, then that the signed ``sent_at`` equals the header and is fresh."""
    if not hmac.compare_digest(webhook_signature(secret, body), signature):
        raise WebhookSignatureError("signature does not match")
    document = json.loads(body)
    if str(document.get("sent_at")) != timestamp:
        raise WebhookSignatureError("timestamp header differs from the signed sent_at")
    if abs(now.timestamp() - int(timestamp)) > tolerance_seconds:
        raise WebhookSignatureError("timestamp outside the accepted window")
    return dict(document)


def webhook_document(notification: Notification, sent_at: int) -> dict[str, Any]:
    data = notification.model_dump(mode="json", exclude={"chart_png"})
    chart = notification.chart_png
    return {
        "schema_version": SCHEMA_VERSION,
        "sent_at": sent_at,
        "text": render_plain(notification),
        "chart_png_base64": base64.b64encode(chart).decode("ascii") if chart else None,
        **data,
    }


class WebhookNotifier:
    channel = "webhook"

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return "WebhookNotifier(url=SecretStr('**********'))"

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        sent_at = int(self._clock.now().timestamp())
        body = json.dumps(webhook_document(notification, sent_at), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(sent_at),
            SIGNATURE_HEADER: webhook_signature(self.config.secret.get_secret_value(), body),
        }
        response = await send_request(
            client, self.channel, "POST", self.config.url.get_secret_value(),
            timeout=self.config.timeout_seconds, content=body, headers=headers,
        )  # fmt: skip
        raise_for_http_status(response, self.channel)
        return DeliveryResult(channel=self.channel, recipients=tuple(notification.recipients))
