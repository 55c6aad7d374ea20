"""Routing configuration, subscriptions, escalation policies and group timers (SQL only). Channels
and delivery attempts are :mod:`shopsentinel.notify.repository`.

:func:`routing_config` is what the pipeline routes with: the stored document, with roles resolved
to people — the document's ``members``, then every active user holding the role as a duty (the user
directory) — and the on-call table's schedules (``oncall_schedules``) ahead of the document's, so an
escalation step pages the person on duty now. :func:`stored_routing_config` is the document as saved
(what the API returns and takes back).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopsentinel.alerting.escalation import EscalationPolicy, OnCallSchedule
from shopsentinel.alerting.grouping import GroupState
from shopsentinel.alerting.routing import Subscription
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.store import oncall
from shopsentinel.store.state import (
    EscalationPolicyRow,
    NotificationGroupRow,
    RoutingConfigRow,
    SubscriptionRow,
)
from shopsentinel.store.users import duty_members


class TableSchedule(OnCallSchedule):
    """A schedule of the on-call table as the escalation stage reads it: explicit shifts first, then
    the weekly rotation; ``fallback`` (the role's members) when neither covers the moment."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    spec: oncall.OnCallSpec
    fallback: str = ""

    def on_duty(self, when: datetime) -> str:
        return self.spec.on_duty(when) or self.fallback

    @classmethod
    def of(cls, spec: oncall.OnCallSpec, fallback: list[str]) -> TableSchedule:
        members = spec.members or [s.user for s in spec.shifts] or fallback or [""]
        return cls(role=spec.role, members=members, rotation_start=spec.rotation_start,
                   rotation_days=spec.rotation_days, timezone=spec.timezone, spec=spec,
                   fallback=(fallback or members)[0])


def stored_routing_config(session: Session) -> RoutingConfig:
    """The routing document as saved (the API's GET/PUT), without people resolved."""
    row = session.scalars(select(RoutingConfigRow).order_by(RoutingConfigRow.version.desc()).limit(1)).first()
    return RoutingConfig.model_validate(row.body) if row else RoutingConfig()


def role_members(session: Session, config: RoutingConfig | None = None) -> dict[str, list[str]]:
    """Role → people: the document's ``members`` first, then active users holding the role as a duty."""
    merged = {role: list(people) for role, people in (config or stored_routing_config(session)).members.items()}
    for role, people in duty_members(session).items():
        merged.setdefault(role, []).extend(p for p in people if p not in merged[role])
    return merged


def on_duty(session: Session, role: str, now: datetime, config: RoutingConfig | None = None) -> str | None:
    """Who is on duty for ``role`` at ``now``: the on-call table, else the document's schedule, else None."""
    resolved = routing_config(session, now, config)
    return next((s.on_duty(now) or None for s in resolved.schedules if s.role == role), None)


def routing_config(session: Session, now: datetime | None = None, stored: RoutingConfig | None = None) -> RoutingConfig:
    """The routing configuration with roles resolved to people (see the module docstring). With
    ``now``, each role's members start with the person on duty then."""
    config = stored or stored_routing_config(session)
    members = role_members(session, config)
    table = oncall.list_schedules(session)
    in_table = {s.role for s in table}
    schedules: list[OnCallSchedule] = [TableSchedule.of(s, members.get(s.role, [])) for s in table]
    schedules += [s for s in config.schedules if s.role not in in_table]
    if now is not None:
        for schedule in schedules:
            person = schedule.on_duty(now)
            if person:
                members[schedule.role] = [person, *(p for p in members.get(schedule.role, []) if p != person)]
    return config.model_copy(update={"members": members, "schedules": schedules})


def attach_escalation_policy(session: Session, name: str | None, actor: str, now: datetime) -> RoutingConfigRow | None:
    """Make ``name`` the policy of the routing tree's root (every alert not routed to another policy),
    or (``None``) clear it; saves a new version only when that changes anything."""
    config = stored_routing_config(session)
    if config.route.escalation_policy == name:
        return None
    route = config.route.model_copy(update={"escalation_policy": name})
    return save_routing_config(session, config.model_copy(update={"route": route}), actor, now)


def policies_in_tree(config: RoutingConfig) -> set[str]:
    """Escalation policies some node of the tree names (a policy nothing names pages nobody)."""
    found: set[str] = set()
    stack = [config.route]
    while stack:
        node = stack.pop()
        if node.escalation_policy:
            found.add(node.escalation_policy)
        stack.extend(node.routes)
    return found


def save_routing_config(session: Session, config: RoutingConfig, actor: str, now: datetime) -> RoutingConfigRow:
    current = session.scalar(select(func.max(RoutingConfigRow.version)))
    row = RoutingConfigRow(version=(current or 0) + 1, body=config.model_dump(mode="json", by_alias=True),
                           created_by=actor, created_at=now)
    session.add(row)
    session.flush()
    return row


def subscriptions(session: Session) -> list[tuple[int, Subscription]]:
    rows = session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.id)).all()
    return [(r.id, Subscription.model_validate(r.body)) for r in rows]


def escalation_policies(session: Session) -> dict[str, EscalationPolicy]:
    rows = session.scalars(select(EscalationPolicyRow).order_by(EscalationPolicyRow.id)).all()
    return {r.name: EscalationPolicy.model_validate(r.body) for r in rows}


def group_states(session: Session) -> dict[str, GroupState]:
    return {r.key: GroupState.from_json(r.state) for r in session.scalars(select(NotificationGroupRow)).all()}


def save_group_states(session: Session, old: dict[str, GroupState], new: dict[str, GroupState], now: datetime) -> None:
    for key in old.keys() - new.keys():
        row = session.get(NotificationGroupRow, key)
        if row is not None:
            session.delete(row)
    for key, state in new.items():
        if old.get(key) == state:
            continue
        row = session.get(NotificationGroupRow, key)
        if row is None:
            session.add(NotificationGroupRow(key=key, state=state.to_json(), updated_at=now))
        else:
            row.state, row.updated_at = state.to_json(), now


__all__ = [
    "TableSchedule",
    "attach_escalation_policy",
    "escalation_policies",
    "group_states",
    "on_duty",
    "policies_in_tree",
    "role_members",
    "routing_config",
    "save_group_states",
    "save_routing_config",
    "stored_routing_config",
    "subscriptions",
]
