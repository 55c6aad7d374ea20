"""Who hears about an alert, and on which kind of channel: the severity policy, subscriptions
(千人千警) and an Alertmanager-style routing tree. Pure functions over an alert's labels and the
configuration; the only time they see is the one they are given.

Labels are the alert's ``platform, store, sku, rule, metric, severity, kind, category``.

* :class:`SeverityPolicy` maps a severity to channel *kinds* (``inbox``, ``im``, ``sms``,
  ``phone``) and a response deadline (default: info → inbox; warning → IM; critical → IM + SMS;
  fatal → IM + SMS + phone).
* :class:`Subscription`: a user or a role subscribes by platform, store, metric category and
  minimum severity; an empty filter means "any".
* :class:`Route`: a tree. The root matches every alert; an alert descends into the first child
  whose matchers all match, and keeps trying later siblings only if that child has
  ``continue_=True``; a node none of whose children matched is itself the match.

>>> tree = Route(receiver="ops", routes=[
...     Route(receiver="ads", matchers=[LabelMatcher(name="category", value="ads")], continue_=True),
...     Route(receiver="stock", matchers=[LabelMatcher(name="rule", value="stock.*", regex=True)]),
... ])
>>> [r.receiver for r in match_routes(tree, {"category": "ads", "rule": "stock.low"})]
['ads', 'stock']
>>> default_severity_policy().channels_for("critical")
['im', 'sms']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shopsentinel.core.types import Severity

ChannelKind = Literal["inbox", "im", "sms", "phone"]
Labels = dict[str, str]

# 运营负责人, 客服主管, 库存管理员, 广告优化师, 总监 — the roles the ops teams use.
ROLES: tuple[str, ...] = ("ops_lead", "cs_supervisor", "inventory_manager", "ad_optimizer", "director")
ROLE_NAMES_ZH: dict[str, str] = {
    "ops_lead": "运营负责人", "cs_supervisor": "客服主管", "inventory_manager": "库存管理员",
    "ad_optimizer": "广告优化师", "director": "总监",
}  # fmt: skip


class SeverityLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channels: list[ChannelKind]
    response_minutes: int = Field(gt=0, description="someone must acknowledge within this many minutes")


class SeverityPolicy(BaseModel):
    """Channel kinds and response deadline per severity (configurable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: dict[Severity, SeverityLevel]

    def level(self, severity: str) -> SeverityLevel:
        try:
            return self.levels[Severity(severity)]
        except (KeyError, ValueError):
            return self.levels.get(Severity.INFO, SeverityLevel(channels=["inbox"], response_minutes=24 * 60))

    def channels_for(self, severity: str) -> list[ChannelKind]:
        return list(self.level(severity).channels)

    def respond_by(self, severity: str, fired_at: datetime) -> datetime:
        """When an unanswered alert of this severity is overdue."""
        return fired_at + timedelta(minutes=self.level(severity).response_minutes)


def default_severity_policy() -> SeverityPolicy:
    return SeverityPolicy(levels={
        Severity.INFO: SeverityLevel(channels=["inbox"], response_minutes=24 * 60),
        Severity.WARNING: SeverityLevel(channels=["im"], response_minutes=4 * 60),
        Severity.CRITICAL: SeverityLevel(channels=["im", "sms"], response_minutes=30),
        Severity.FATAL: SeverityLevel(channels=["im", "sms", "phone"], response_minutes=10),
    })  # fmt: skip


class LabelMatcher(BaseModel):
    """``name`` equals (or fully matches, with ``regex``) ``value``; ``negate`` inverts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    value: str
    regex: bool = False
    negate: bool = False

    @field_validator("value")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.name, "")
        hit = re.fullmatch(self.value, actual) is not None if self.regex else actual == self.value
        return hit != self.negate


class Route(BaseModel):
    """A node of the routing tree; grouping settings are inherited by children that leave them unset."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    receiver: str
    matchers: list[LabelMatcher] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[str] | None = None
    group_wait_seconds: float | None = Field(default=None, ge=0)
    group_interval_seconds: float | None = Field(default=None, gt=0)
    repeat_interval_seconds: float | None = Field(default=None, gt=0)
    escalation_policy: str | None = None
    routes: list[Route] = Field(default_factory=list)

    def matches(self, labels: Labels) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A matched node with the grouping settings it inherited."""

    receiver: str
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    escalation_policy: str | None = None


ROOT_DEFAULTS = RouteMatch("", ("platform", "store"), timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))


def _inherit(node: Route, parent: RouteMatch) -> RouteMatch:
    def seconds(value: float | None, fallback: timedelta) -> timedelta:
        return fallback if value is None else timedelta(seconds=value)

    return RouteMatch(
        node.receiver,
        tuple(node.group_by) if node.group_by is not None else parent.group_by,
        seconds(node.group_wait_seconds, parent.group_wait),
        seconds(node.group_interval_seconds, parent.group_interval),
        seconds(node.repeat_interval_seconds, parent.repeat_interval),
        node.escalation_policy if node.escalation_policy is not None else parent.escalation_policy,
    )


def match_routes(root: Route, labels: Labels) -> list[RouteMatch]:
    """The nodes an alert is routed to, in tree order (the root matches everything)."""
    return _descend(root, labels, _inherit(root, ROOT_DEFAULTS))


def _descend(node: Route, labels: Labels, settings: RouteMatch) -> list[RouteMatch]:
    found: list[RouteMatch] = []
    for child in node.routes:
        if not child.matches(labels):
            continue
        found.extend(_descend(child, labels, _inherit(child, settings)))
        if not child.continue_:
            break
    return found or [settings]


class Subscription(BaseModel):
    """A user (or everyone holding ``role``) subscribed to alerts; empty filters match all."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    user: str | None = None
    role: str | None = None
    platforms: list[str] = Field(default_factory=list)
    stores: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    min_severity: Severity = Severity.INFO
    channels: list[ChannelKind] | None = Field(default=None, description="override of the severity policy's kinds")

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str | None) -> str | None:
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role; known: {', '.join(ROLES)}")
        return role

    def matches(self, labels: Labels) -> bool:
        try:
            severity = Severity(labels.get("severity", "info"))
        except ValueError:
            return False
        return (
            severity.rank >= self.min_severity.rank
            and (not self.platforms or labels.get("platform", "") in self.platforms)
            and (not self.stores or labels.get("store", "") in self.stores)
            and (not self.categories or labels.get("category", "") in self.categories)
        )


@dataclass(frozen=True, slots=True)
class Recipient:
    user: str
    channels: tuple[ChannelKind, ...]
    via: str  # "user" or the role that brought them in


def recipients(
    labels: Labels, subscriptions: list[Subscription], members: dict[str, list[str]], policy: SeverityPolicy
) -> list[Recipient]:
    """Users to notify (each once, channel kinds merged), from subscriptions; ``members`` maps a
    role to its users."""
    default = policy.channels_for(labels.get("severity", "info"))
    merged: dict[str, tuple[list[ChannelKind], str]] = {}
    for sub in subscriptions:
        if not sub.matches(labels):
            continue
        users = [sub.user] if sub.user else members.get(sub.role or "", [])
        via = "user" if sub.user else sub.role or ""
        for user in users:
            kinds, first_via = merged.setdefault(user, ([], via))
            kinds.extend(k for k in (sub.channels if sub.channels is not None else default) if k not in kinds)
    return [Recipient(user, tuple(kinds), via) for user, (kinds, via) in sorted(merged.items())]


__all__ = [
    "ROLES",
    "ROLE_NAMES_ZH",
    "ROOT_DEFAULTS",
    "ChannelKind",
    "LabelMatcher",
    "Labels",
    "Recipient",
    "Route",
    "RouteMatch",
    "SeverityLevel",
    "SeverityPolicy",
    "Subscription",
    "default_severity_policy",
    "match_routes",
    "recipients",
]
