"""Tencent Cloud SMS (``SendSms`` 2021-01-11), signed with TC3-HMAC-SHA256.

A 200 can carry failures at two levels (PLATFORMS.md §11.3): ``Response.Error`` for the whole
request (``AuthFailure.*`` permanent; ``RequestLimitExceeded``, ``InternalError`` recoverable),
and a per-number ``SendStatusSet[].Code`` other than ``Ok``. A partial failure returns normally
with ``failed_recipients`` filled, so numbers that got the SMS are not messaged twice.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels._http import json_body, raise_for_http_status, send_request
from shopsentinel.notify.channels.tencent_signing import Authorization, credential_date, sign_tc3
from shopsentinel.notify.templates import short_fields

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = ["content-type", "host", "x-tc-action"]
RECOVERABLE_PREFIXES = ("RequestLimitExceeded", "LimitExceeded", "InternalError", "ResourceUnavailable")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_id: str
    secret_key: SecretStr
    sms_sdk_app_id: str
    sign_name: str
    template_id: str
    region: str = "ap-guangzhou"
    endpoint: str = "https://sms.tencentcloudapi.com"
    # template parameters in template order, each a field of short_fields()
    template_params: list[str] = Field(default_factory=lambda: ["level", "title", "count"])
    phone_numbers: list[str] = Field(default_factory=list)
    timeout_seconds: float = 10.0


def _error(code: str, message: str) -> RecoverableDeliveryError | PermanentDeliveryError:
    if code.startswith(RECOVERABLE_PREFIXES):
        return RecoverableDeliveryError(message, retry_after=30.0 if "Limit" in code else None)
    return PermanentDeliveryError(message)


def e164(number: str) -> str:
    """Mainland numbers without a country code get ``+86``."""
    return number if number.startswith("+") else f"+86{number}"


class TencentSmsNotifier:
    channel = "tencent_sms"

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"TencentSmsNotifier(secret_id={self.config.secret_id!r}, endpoint={self.config.endpoint!r})"

    def _headers(self, body: bytes) -> dict[str, str]:
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": urlsplit(self.config.endpoint).netloc,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Region": self.config.region,
            "X-TC-Timestamp": str(timestamp),
        }
        signature = sign_tc3(
            self.config.secret_key.get_secret_value(),
            service=SERVICE, timestamp=timestamp, headers=headers, signed_headers=SIGNED_HEADERS, body=body,
        )  # fmt: skip
        auth = Authorization(self.config.secret_id, credential_date(timestamp), SERVICE, SIGNED_HEADERS, signature)
        return {**headers, "Authorization": auth.header()}

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        numbers = [e164(n) for n in (notification.recipients or self.config.phone_numbers)]
        if not numbers:
            raise PermanentDeliveryError(f"{self.channel}: no phone numbers to send to")
        fields = short_fields(notification)
        payload = {
            "PhoneNumberSet": numbers,
            "SmsSdkAppId": self.config.sms_sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": self.config.template_id,
            "TemplateParamSet": [fields[name] for name in self.config.template_params],
            "SessionContext": notification.key[:128],
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = await send_request(
            client, self.channel, "POST", self.config.endpoint.rstrip("/") + "/",
            timeout=self.config.timeout_seconds, content=body, headers=self._headers(body),
        )  # fmt: skip
        raise_for_http_status(response, self.channel)
        result = json_body(response, self.channel).get("Response") or {}
        error = result.get("Error")
        if error:
            code = str(error.get("Code", ""))
            raise _error(code, f"{self.channel}: {code} {error.get('Message', '')}".strip())
        statuses = result.get("SendStatusSet") or []
        failed = {s.get("PhoneNumber", ""): str(s.get("Code")) for s in statuses if s.get("Code") != "Ok"}
        sent = tuple(s.get("PhoneNumber", "") for s in statuses if s.get("Code") == "Ok")
        if not sent:
            code = next(iter(failed.values()), "no SendStatusSet")
            raise _error(code, f"{self.channel}: every number failed: {failed or code}")
        return DeliveryResult(
            channel=self.channel,
            provider_message_id=str(result.get("RequestId")),
            recipients=sent,
            failed_recipients=failed,
        )
