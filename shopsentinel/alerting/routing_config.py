"""The routing configuration as one document: the tree, the severity policy, who holds which
role, on-call schedules, recurring mute windows and per-channel rate limits. Subscriptions,
escalation policies and channels are stored one by one (they have their own API resources).

>>> RoutingConfig().route.receiver, RoutingConfig().rate_limits["dingtalk"]
('default', 20)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shopsentinel.alerting.escalation import OnCallSchedule
from shopsentinel.alerting.routing import Route, SeverityPolicy, default_severity_policy
from shopsentinel.alerting.timeintervals import TimeInterval
from shopsentinel.notify.repository import DEFAULT_RATE_LIMITS


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: Route = Field(default_factory=lambda: Route(receiver="default"))
    severity_policy: SeverityPolicy = Field(default_factory=default_severity_policy)
    members: dict[str, list[str]] = Field(default_factory=dict, description="role → users")
    schedules: list[OnCallSchedule] = Field(default_factory=list)
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    rate_limits: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))


__all__ = ["DEFAULT_RATE_LIMITS", "RoutingConfig"]
