"""DingTalk custom robot (自定义机器人): signed webhook, markdown or actionCard with buttons.

Signing (PLATFORMS.md §8): ``timestamp`` is epoch milliseconds; ``sign`` is
``Base64(HMAC-SHA256(key=secret, timestamp + "\\n" + secret))``, URL-encoded into the query.
DingTalk answers HTTP 200 with ``{"errcode": ..., "errmsg": ...}``; 130101 means "too fast" (the
robot is throttled for 10 minutes after 20 messages in a minute).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels._http import json_body, raise_for_http_status, send_request
from shopsentinel.notify.templates import LABELS, render_markdown, severity_label

MAX_BODY_BYTES = 20_000
THROTTLE_LOCKOUT_SECONDS = 600.0
THROTTLED_CODES = frozenset({130101})
BUSY_CODES = frozenset({-1})  # "系统繁忙"


class Config(BaseModel):
    """One DingTalk robot. ``secret`` is the 加签 secret (``SEC...``); leave it empty only for
    robots secured by keyword or IP allow-list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    access_token: SecretStr
    secret: SecretStr | None = None
    base_url: str = "https://oapi.dingtalk.com"
    message_type: Literal["actionCard", "markdown"] = "actionCard"
    at_all: bool = False
    timeout_seconds: float = 10.0
    # AppSecret of an enterprise-internal robot whose 消息接收地址 is /api/v1/im/dingtalk/<channel>: group members
    # then 认领 by @-mentioning it (api/routes/im_callbacks.py); empty = no callbacks
    callback_secret: SecretStr | None = None


def sign_dingtalk(secret: str, timestamp_ms: int) -> str:
    """Base64 signature (not yet URL-encoded; httpx encodes query values)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_payload(notification: Notification, message_type: str, *, at_all: bool = False) -> dict[str, Any]:
    """The JSON body: actionCard with 认领 / 查看详情 buttons when links exist, else markdown. The on-duty
    people (``mentions``) are @-mentioned by DingTalk user id when the directory has one, else by mobile."""
    labels = LABELS[notification.lang]
    mobiles = [r for r in notification.recipients if r.lstrip("+").isdigit()]
    user_ids: list[str] = []
    for person in notification.mentions:
        if person.user_id:
            if person.user_id not in user_ids:
                user_ids.append(person.user_id)
        elif person.mobile and person.mobile not in mobiles:
            mobiles.append(person.mobile)
    # A mention renders only if "@mobile" / "@userId" also appears in the text.
    tags = [f"@{m}" for m in (*mobiles, *user_ids)]
    mention_text = "\n\n" + " ".join(tags) if tags else ""
    title = f"[{severity_label(notification.severity, notification.lang)}] {notification.title}"
    text = render_markdown(notification, "dingtalk", max_bytes=MAX_BODY_BYTES - 2_000) + mention_text
    at: dict[str, Any] = {"atMobiles": mobiles, "isAtAll": at_all}
    if user_ids:
        at["atUserIds"] = user_ids
    buttons = [
        {"title": labels[label], "actionURL": url}
        for label, url in (("ack", notification.ack_url), ("details", notification.detail_url))
        if url
    ]
    if message_type == "actionCard" and buttons:
        card = {"title": title, "text": text, "btnOrientation": "1", "btns": buttons}
        return {"msgtype": "actionCard", "actionCard": card, "at": at}
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at}


class DingTalkNotifier:
    channel = "dingtalk"

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"DingTalkNotifier(base_url={self.config.base_url!r})"

    def _query(self) -> dict[str, str]:
        params = {"access_token": self.config.access_token.get_secret_value()}
        if self.config.secret is not None:
            timestamp_ms = int(self._clock.now().timestamp() * 1000)
            params["timestamp"] = str(timestamp_ms)
            params["sign"] = sign_dingtalk(self.config.secret.get_secret_value(), timestamp_ms)
        return params

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        payload = dingtalk_payload(notification, self.config.message_type, at_all=self.config.at_all)
        url = f"{self.config.base_url.rstrip('/')}/robot/send"
        response = await send_request(
            client, self.channel, "POST", url, timeout=self.config.timeout_seconds, params=self._query(), json=payload
        )
        raise_for_http_status(response, self.channel)
        body = json_body(response, self.channel)
        code = body.get("errcode")
        if code == 0:
            return DeliveryResult(channel=self.channel, recipients=tuple(notification.recipients))
        message = f"{self.channel}: errcode {code} {body.get('errmsg', '')}".strip()
        if code in THROTTLED_CODES:
            raise RecoverableDeliveryError(message, retry_after=THROTTLE_LOCKOUT_SECONDS)
        if code in BUSY_CODES:
            raise RecoverableDeliveryError(message)
        # 310000 (sign/keyword/timestamp/IP), 300001 (token), 460101 (too large), unknown: fix config.
        raise PermanentDeliveryError(message)
