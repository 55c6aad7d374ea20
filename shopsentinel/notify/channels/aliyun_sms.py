"""Aliyun SMS (Dysmsapi ``SendSms`` 2017-05-25), signed with RPC V2 HMAC-SHA1.

The SMS text is an approved template; this channel fills its variables from
:func:`shopsentinel.notify.templates.short_fields` (``level``, ``title``, ``store``, ``metric``,
``count``), choosing and renaming them with ``template_params``.
"""

from __future__ import annotations

import json

import httpx
from pydantic import Field

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import PermanentDeliveryError
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels.aliyun_rpc import AliyunCredentials, call_rpc
from shopsentinel.notify.templates import short_fields

SMS_VERSION = "2017-05-25"


class Config(AliyunCredentials):
    sign_name: str
    template_code: str
    endpoint: str = "https://dysmsapi.aliyuncs.com"
    # template variable → field of short_fields(); e.g. {"level": "level", "name": "title"}
    template_params: dict[str, str] = Field(default_factory=lambda: {"level": "level", "title": "title", "count": "count"})
    phone_numbers: list[str] = Field(default_factory=list, description="used when a notification names no recipients")


def template_param(notification: Notification, mapping: dict[str, str]) -> str:
    fields = short_fields(notification)
    return json.dumps({name: fields[source] for name, source in mapping.items()}, ensure_ascii=False, separators=(",", ":"))


class AliyunSmsNotifier:
    channel = "aliyun_sms"

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        unknown = set(config.template_params.values()) - {"level", "title", "store", "metric", "count"}
        if unknown:
            raise ValueError(f"aliyun_sms: unknown template fields {sorted(unknown)}")
        self.config = config
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"AliyunSmsNotifier(access_key_id={self.config.access_key_id!r}, endpoint={self.config.endpoint!r})"

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        numbers = notification.recipients or self.config.phone_numbers
        if not numbers:
            raise PermanentDeliveryError(f"{self.channel}: no phone numbers to send to")
        body = await call_rpc(
            client,
            self.channel,
            self.config.endpoint,
            self.config,
            action="SendSms",
            version=SMS_VERSION,
            business={
                "PhoneNumbers": ",".join(numbers),
                "SignName": self.config.sign_name,
                "TemplateCode": self.config.template_code,
                "TemplateParam": template_param(notification, self.config.template_params),
                "OutId": notification.key[:64],
            },
            clock=self._clock,
        )
        return DeliveryResult(channel=self.channel, provider_message_id=body.get("BizId"), recipients=tuple(numbers))
