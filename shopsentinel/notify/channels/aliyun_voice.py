"""Aliyun voice call (Dyvmsapi ``SingleCallByTts`` 2017-05-25): one call per number, RPC V2 signed.

Used for fatal alerts that must wake someone. ``TtsParam`` fills the approved TTS template from
:func:`shopsentinel.notify.templates.short_fields`; it must stay under 250 characters.
"""

from __future__ import annotations

import json

import httpx
from pydantic import Field

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import DeliveryError, PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels.aliyun_rpc import AliyunCredentials, call_rpc
from shopsentinel.notify.templates import short_fields

VOICE_VERSION = "2017-05-25"
MAX_TTS_PARAM_CHARS = 249


class Config(AliyunCredentials):
    tts_code: str
    called_show_number: str | None = None  # None = shared number pool ("public mode")
    endpoint: str = "https://dyvmsapi.aliyuncs.com"
    play_times: int = Field(default=2, ge=1, le=3)
    tts_params: dict[str, str] = Field(default_factory=lambda: {"level": "level", "title": "title"})
    phone_numbers: list[str] = Field(default_factory=list)


def tts_param(notification: Notification, mapping: dict[str, str]) -> str:
    fields = short_fields(notification, title_chars=40)
    values = {name: fields[source] for name, source in mapping.items()}
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    while len(text) > MAX_TTS_PARAM_CHARS and values.get("title"):
        values["title"] = values["title"][:-1]  # the title is the only free-length field
        text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return text


class AliyunVoiceNotifier:
    channel = "aliyun_voice"

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"AliyunVoiceNotifier(access_key_id={self.config.access_key_id!r}, endpoint={self.config.endpoint!r})"

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        numbers = notification.recipients or self.config.phone_numbers
        if not numbers:
            raise PermanentDeliveryError(f"{self.channel}: no phone numbers to call")
        call_ids: list[str] = []
        failed: dict[str, str] = {}
        first_error: DeliveryError | None = None
        for number in numbers:
            business = {
                "CalledNumber": number,
                "TtsCode": self.config.tts_code,
                "TtsParam": tts_param(notification, self.config.tts_params),
                "PlayTimes": str(self.config.play_times),
                "OutId": notification.key[:15],
            }
            if self.config.called_show_number:
                business["CalledShowNumber"] = self.config.called_show_number
            try:
                body = await call_rpc(
                    client, self.channel, self.config.endpoint, self.config,
                    action="SingleCallByTts", version=VOICE_VERSION, business=business, clock=self._clock,
                )  # fmt: skip
            except (RecoverableDeliveryError, PermanentDeliveryError) as exc:
                failed[number] = str(exc)
                first_error = first_error or exc
                continue
            call_ids.append(str(body.get("CallId", "")))
        if not call_ids and first_error is not None:
            raise first_error  # nobody was called: let the caller retry or give up as a whole
        return DeliveryResult(
            channel=self.channel,
            provider_message_id=",".join(call_ids) or None,
            recipients=tuple(n for n in numbers if n not in failed),
            failed_recipients=failed,
        )
