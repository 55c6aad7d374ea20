"""What every channel shares: the message it is given, the result it returns, and its protocol.

A channel (DingTalk, e-mail, SMS, ...) is a :class:`Notifier`: one ``async send`` that either
returns a :class:`DeliveryResult` or raises :class:`~shopsentinel.core.errors.RecoverableDeliveryError`
(retry later: 429, 5xx, timeouts, "too frequent" codes) or
:class:`~shopsentinel.core.errors.PermanentDeliveryError` (do not retry: bad signature, bad key,
invalid payload, other 4xx).

>>> n = Notification(key="inc-1", title="库存告急", severity="critical", alerts=[])
>>> n.lang, n.severity.zh
('zh', '严重')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field

from shopsentinel.core.types import Severity
from shopsentinel.notify.charts import ChartSpec

Language = Literal["zh", "en"]


class Mention(BaseModel):
    """A person an IM message @-mentions: the on-duty member, with the mobile and the IM user id
    (of the channel's platform) the user directory holds for them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    mobile: str = ""
    user_id: str = ""


class Notification(BaseModel):
    """One message to deliver: a group of alerts (contract ``alert.schema.json``) plus links.

    ``alerts`` sharing an ``incident`` are rendered together, the earliest (the root cause) first.
    ``recipients`` are whatever the channel addresses: phone numbers (SMS, voice, DingTalk @),
    e-mail addresses, or user ids (WeCom, Feishu).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, description="dedupe key of this notification")
    title: str
    severity: Severity
    lang: Language = "zh"
    alerts: list[dict[str, Any]]
    id: str | None = None
    detail_url: str | None = None
    ack_url: str | None = None
    chart_png: bytes | None = Field(default=None, repr=False)
    muted_note: str | None = None
    recipients: list[str] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    chart: ChartSpec | None = None
    chart_url: str | None = None
    top_alerts: int | None = Field(default=None, ge=1, description="IM cards of one group: list this many, count the rest")


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """A delivery the provider accepted.

    ``failed_recipients`` maps a recipient to the provider's error code when a multi-recipient
    call (Tencent SMS, Aliyun voice) partly failed: the call is not retried as a whole, so the
    ones that did get the message are not messaged twice.
    """

    channel: str
    provider_message_id: str | None = None
    recipients: tuple[str, ...] = ()
    failed_recipients: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Notifier(Protocol):
    """The one channel protocol: a configured channel instance. ``channel`` is its registry key, e.g.
    ``"dingtalk"``; every channel is listed once in :data:`shopsentinel.notify.registry.BUILTIN_CHANNELS`."""

    channel: str

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        """Deliver ``notification``; raise a DeliveryError subclass when it cannot be delivered."""
        ...
