"""Request and response models of the routing resources (subscriptions, escalation policies,
channels, the routing configuration, delivery attempts). Channel secrets are write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shopsentinel.alerting.escalation import EscalationPolicy
from shopsentinel.alerting.routing import Subscription

Medium = Literal["im", "sms", "phone", "email"]


class SubscriptionPublic(BaseModel):
    id: int
    subscription: Subscription
    created_by: str
    created_at: datetime
    provisioned_from: str | None = Field(default=None, description="the provisioning file that manages it (read-only)")


class EscalationPolicyPublic(BaseModel):
    id: int
    policy: EscalationPolicy
    created_by: str
    created_at: datetime
    provisioned_from: str | None = Field(default=None, description="the provisioning file that manages it (read-only)")


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: str = Field(description="registry key: dingtalk, wecom, feishu, email, aliyun_sms, aliyun_voice, ...")
    medium: Medium
    receiver: str = Field(default="default", min_length=1, max_length=200)
    settings: dict[str, Any] = Field(description="the channel's Config; secret fields are stored encrypted, never returned")
    per_minute: int | None = Field(default=None, ge=1, le=10_000)


class ChannelPublic(BaseModel):
    id: int
    name: str
    kind: str
    medium: str
    receiver: str
    settings: dict[str, Any] = Field(description="non-secret settings only")
    secret_fields: list[str]
    per_minute: int | None
    created_by: str
    created_at: datetime
    provisioned_from: str | None = Field(default=None, description="the provisioning file that manages it (read-only)")


class RoutingConfigPublic(BaseModel):
    version: int
    config: dict[str, Any]
    provisioned_from: str | None = Field(default=None, description="the provisioning file that manages it (read-only)")


class NotificationAttemptPublic(BaseModel):
    id: int
    outbox_id: int
    key: str
    alert_id: str
    channel: str
    ts: datetime
    outcome: str
    error: str
    title: str


class NotificationAttemptList(BaseModel):
    items: list[NotificationAttemptPublic]


__all__ = [
    "ChannelCreate",
    "ChannelPublic",
    "EscalationPolicyPublic",
    "Medium",
    "NotificationAttemptList",
    "NotificationAttemptPublic",
    "RoutingConfigPublic",
    "SubscriptionPublic",
]
