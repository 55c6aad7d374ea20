"""Routing configuration, subscriptions, escalation policies and group timers (SQL only). Channels
and delivery attempts are :mod:`shopsentinel.notify.repository`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopsentinel.alerting.escalation import EscalationPolicy
from shopsentinel.alerting.grouping import GroupState
from shopsentinel.alerting.routing import Subscription
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.store.state import (
    EscalationPolicyRow,
    NotificationGroupRow,
    RoutingConfigRow,
    SubscriptionRow,
)


def routing_config(session: Session) -> RoutingConfig:
    row = session.scalars(select(RoutingConfigRow).order_by(RoutingConfigRow.version.desc()).limit(1)).first()
    return RoutingConfig.model_validate(row.body) if row else RoutingConfig()


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
    "escalation_policies",
    "group_states",
    "routing_config",
    "save_group_states",
    "save_routing_config",
    "subscriptions",
]
