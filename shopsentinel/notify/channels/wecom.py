"""WeCom (企业微信) group robot: markdown message; the ``key`` in the URL is the credential.

Answers are HTTP 200 with ``{"errcode": ..., "errmsg": ...}`` (PLATFORMS.md §9): 45009 is the
20-per-minute frequency limit, 93000 an invalid key, 40058 a field too long.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels._http import json_body, raise_for_http_status, send_request
from shopsentinel.notify.templates import render_markdown


def _one_line(text: str) -> str:
    return " ".join(text.split())

MAX_MARKDOWN_BYTES = 4096
FREQUENCY_LIMIT_RETRY_SECONDS = 60.0
THROTTLED_CODES = frozenset({45009})
BUSY_CODES = frozenset({-1})


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: SecretStr
    base_url: str = "https://qyapi.weixin.qq.com"
    timeout_seconds: float = 10.0


def wecom_payload(notification: Notification) -> dict[str, Any]:
    """``markdown`` message; recipients and on-duty people with a WeCom user id are mentioned with
    ``<@userid>`` (markdown has no mention by mobile: see :func:`wecom_mobile_payload`)."""
    users = [*notification.recipients, *(p.user_id for p in notification.mentions if p.user_id)]
    mentions = " ".join(f"<@{user}>" for user in dict.fromkeys(users))
    reserve = len(mentions.encode("utf-8")) + 2 if mentions else 0
    content = render_markdown(notification, "wecom", max_bytes=MAX_MARKDOWN_BYTES - reserve)
    if mentions:
        content = f"{content}\n\n{mentions}"
    return {"msgtype": "markdown", "markdown": {"content": content}}


def wecom_mobile_payload(notification: Notification) -> dict[str, Any] | None:
    """A short ``text`` message that @-mentions, by ``mentioned_mobile_list``, the on-duty people the
    directory knows only by mobile (WeCom markdown cannot mention them); None when there are none."""
    mobiles = list(dict.fromkeys(p.mobile for p in notification.mentions if p.mobile and not p.user_id))
    if not mobiles:
        return None
    names = "、".join(_one_line(p.name) for p in notification.mentions if p.mobile in mobiles)
    text = (f"请 {names} 处理：{notification.title}" if notification.lang == "zh"
            else f"{names}, please handle: {notification.title}")
    return {"msgtype": "text", "text": {"content": text[:600], "mentioned_mobile_list": mobiles}}


class WeComNotifier:
    channel = "wecom"

    def __init__(self, config: Config) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"WeComNotifier(base_url={self.config.base_url!r})"

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        result = await self._post(wecom_payload(notification), notification, client)
        mention = wecom_mobile_payload(notification)
        if mention is not None:
            try:
                await self._post(mention, notification, client)
            except (RecoverableDeliveryError, PermanentDeliveryError):
                pass  # the message itself went out: never send it twice for a missed mention
        return result

    async def _post(self, payload: dict[str, Any], notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        response = await send_request(
            client,
            self.channel,
            "POST",
            f"{self.config.base_url.rstrip('/')}/cgi-bin/webhook/send",
            timeout=self.config.timeout_seconds,
            params={"key": self.config.key.get_secret_value()},
            json=payload,
        )
        raise_for_http_status(response, self.channel)
        body = json_body(response, self.channel)
        code = body.get("errcode")
        if code == 0:
            return DeliveryResult(channel=self.channel, recipients=tuple(notification.recipients))
        # errmsg carries a hint id and a help link, never the key.
        message = f"{self.channel}: errcode {code} {body.get('errmsg', '')}".strip()
        if code in THROTTLED_CODES:
            raise RecoverableDeliveryError(message, retry_after=FREQUENCY_LIMIT_RETRY_SECONDS)
        if code in BUSY_CODES:
            raise RecoverableDeliveryError(message)
        raise PermanentDeliveryError(message)
