"""Feishu / Lark custom bot: signed, interactive card with 认领 / 查看详情 buttons.

Signing (PLATFORMS.md §10): ``timestamp`` is epoch *seconds*; ``sign`` is
``Base64(HMAC-SHA256(key=timestamp + "\\n" + secret, message=b""))``; both go in the JSON body.
Answers are mostly HTTP 200 with ``{"code": ..., "msg": ...}``: 11232 is the frequency limit,
19021 a bad signature or stale timestamp, 9499 a malformed body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.core.types import Severity
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels._http import json_body, raise_for_http_status, send_request
from shopsentinel.notify.templates import LABELS, markdown_escape, render_markdown, severity_label

MAX_BODY_BYTES = 20_000
FREQUENCY_LIMIT_RETRY_SECONDS = 1.0
THROTTLED_CODES = frozenset({11232})
HEADER_TEMPLATE = {Severity.FATAL: "carmine", Severity.CRITICAL: "red", Severity.WARNING: "orange", Severity.INFO: "blue"}


class Config(BaseModel):
    """One Feishu (or Lark: ``base_url="https://open.larksuite.com"``) custom bot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr
    secret: SecretStr | None = None
    base_url: str = "https://open.feishu.cn"
    timeout_seconds: float = 10.0


def sign_feishu(secret: str, timestamp_s: int) -> str:
    """The key is ``timestamp + "\\n" + secret`` and the message is empty (not a typo)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_card(notification: Notification) -> dict[str, Any]:
    labels = LABELS[notification.lang]
    users = [*notification.recipients, *(p.user_id for p in notification.mentions if p.user_id)]
    # A custom bot can @ only by user id (open_id); someone the directory knows only by name is named.
    named = [p.name for p in notification.mentions if not p.user_id]
    mentions = "".join(f'<at id="{user}"></at>' for user in dict.fromkeys(users)) + "".join(f" @{markdown_escape(n)}" for n in named)
    content = render_markdown(notification, "feishu", max_bytes=MAX_BODY_BYTES - 3_000)
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": content + mentions}}]
    buttons = [
        {"tag": "button", "text": {"tag": "plain_text", "content": labels[label]}, "url": url, "type": kind}
        for label, url, kind in (("ack", notification.ack_url, "primary"), ("details", notification.detail_url, "default"))
        if url
    ]
    if buttons:
        elements += [{"tag": "hr"}, {"tag": "action", "actions": buttons}]
    title = f"[{severity_label(notification.severity, notification.lang)}] {notification.title}"
    return {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": HEADER_TEMPLATE[notification.severity]},
        "elements": elements,
    }


class FeishuNotifier:
    channel = "feishu"

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"FeishuNotifier(base_url={self.config.base_url!r})"

    def _payload(self, notification: Notification) -> dict[str, Any]:
        payload: dict[str, Any] = {"msg_type": "interactive", "card": feishu_card(notification)}
        if self.config.secret is not None:
            timestamp_s = int(self._clock.now().timestamp())
            payload = {"timestamp": str(timestamp_s), "sign": sign_feishu(self.config.secret.get_secret_value(), timestamp_s), **payload}
        return payload

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        token = self.config.token.get_secret_value()
        response = await send_request(
            client,
            self.channel,
            "POST",
            f"{self.config.base_url.rstrip('/')}/open-apis/bot/v2/hook/{token}",
            timeout=self.config.timeout_seconds,
            json=self._payload(notification),
        )
        code: Any = None
        try:
            body = json_body(response, self.channel)
            code = body.get("code", body.get("StatusCode"))
        except PermanentDeliveryError:
            body = {}
        if response.is_success and code == 0:
            return DeliveryResult(channel=self.channel, recipients=tuple(notification.recipients))
        message = f"{self.channel}: code {code} {body.get('msg', body.get('StatusMessage', ''))}".strip()
        if code in THROTTLED_CODES:
            raise RecoverableDeliveryError(message, retry_after=FREQUENCY_LIMIT_RETRY_SECONDS)
        raise_for_http_status(response, self.channel, message)
        raise PermanentDeliveryError(message)
