"""Slack incoming webhook: ``{"text", "blocks"}`` in mrkdwn; success is HTTP 200 with body ``ok``.

Slack uses real HTTP codes (PLATFORMS.md §12): 429 with ``Retry-After`` when posting faster than
about one message per second; 400 ``invalid_payload``/``no_text``, 403 ``action_prohibited``,
404 ``no_service``/``channel_not_found``, 410 ``channel_is_archived`` are permanent.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels._http import raise_for_http_status, send_request
from shopsentinel.notify.templates import LABELS, render_slack

MAX_SECTION_CHARS = 3000  # a section block's text limit


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: SecretStr  # https://hooks.slack.com/services/T…/B…/… — the whole URL is the secret
    timeout_seconds: float = 10.0


def slack_payload(notification: Notification) -> dict[str, Any]:
    labels = LABELS[notification.lang]
    text = render_slack(notification)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": render_slack(notification, max_bytes=MAX_SECTION_CHARS)}}
    ]
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": labels[label]}, "url": url}
        for label, url in (("ack", notification.ack_url), ("details", notification.detail_url))
        if url
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {"text": text, "blocks": blocks}


class SlackNotifier:
    channel = "slack"

    def __init__(self, config: Config) -> None:
        self.config = config

    def __repr__(self) -> str:
        return "SlackNotifier(webhook_url=SecretStr('**********'))"

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        response = await send_request(
            client, self.channel, "POST", self.config.webhook_url.get_secret_value(),
            timeout=self.config.timeout_seconds, json=slack_payload(notification),
        )  # fmt: skip
        raise_for_http_status(response, self.channel, response.text[:100])
        return DeliveryResult(channel=self.channel)
