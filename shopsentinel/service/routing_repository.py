"""Routing configuration, subscriptions, escalation policies, channels, group timers and delivery
attempts (SQL only). Channel secrets are sealed with :class:`~shopsentinel.core.secrets.SecretBox`
before they are stored and opened only to build a notifier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopsentinel.alerting.escalation import EscalationPolicy
from shopsentinel.alerting.grouping import GroupState
from shopsentinel.alerting.routing import Subscription
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.core.clock import Clock
from shopsentinel.core.secrets import SecretBox
from shopsentinel.notify import ChannelRegistry, Notifier
from shopsentinel.store.state import (
    ChannelRow,
    EscalationPolicyRow,
    NotificationAttemptRow,
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


def secret_field_names(registry: ChannelRegistry, kind: str) -> list[str]:
    """Fields of a channel's Config typed ``SecretStr`` (or ``SecretStr | None``)."""
    model = registry.spec(kind).config_model
    return [name for name, info in model.model_fields.items() if "SecretStr" in str(info.annotation)]


def seal_channel_settings(registry: ChannelRegistry, box: SecretBox, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    config = registry.config(kind, settings)  # validates; raises InputError without echoing values
    names = secret_field_names(registry, kind)
    plain = config.model_dump(mode="json")  # secrets dump as "**********": take them from the model
    for name in names:
        value = getattr(config, name)
        plain[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    plain = {k: v for k, v in plain.items() if v is not None}
    return box.seal_fields(plain, [n for n in names if n in plain])


def build_notifier(registry: ChannelRegistry, box: SecretBox, row: ChannelRow, clock: Clock) -> Notifier:
    names = [n for n in secret_field_names(registry, row.kind) if n in row.settings]
    return registry.build(row.kind, box.open_fields(row.settings, names), clock=clock)


def public_settings(registry: ChannelRegistry, row: ChannelRow) -> dict[str, Any]:
    """Settings with every secret field left out."""
    hidden = set(secret_field_names(registry, row.kind))
    return {k: v for k, v in row.settings.items() if k not in hidden}


def channels_of(session: Session, receiver: str) -> list[ChannelRow]:
    return list(session.scalars(select(ChannelRow).where(ChannelRow.receiver == receiver).order_by(ChannelRow.id)).all())


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


def record_attempt(session: Session, outbox_id: int, channel: str, now: datetime, outcome: str, error: str = "") -> None:
    session.add(NotificationAttemptRow(outbox_id=outbox_id, channel=channel, ts=now, outcome=outcome, error=error))


def sent_since(session: Session, channel: str, since: datetime) -> list[datetime]:
    """When this channel accepted messages after ``since`` (what its rate limit counts)."""
    query = select(NotificationAttemptRow.ts).where(
        NotificationAttemptRow.channel == channel, NotificationAttemptRow.outcome == "sent", NotificationAttemptRow.ts > since
    ).order_by(NotificationAttemptRow.ts)
    return list(session.scalars(query).all())


def list_attempts(session: Session, limit: int = 500) -> list[NotificationAttemptRow]:
    return list(session.scalars(select(NotificationAttemptRow).order_by(NotificationAttemptRow.id.desc()).limit(limit)).all())


__all__ = [
    "build_notifier",
    "channels_of",
    "escalation_policies",
    "group_states",
    "list_attempts",
    "public_settings",
    "record_attempt",
    "routing_config",
    "save_group_states",
    "save_routing_config",
    "seal_channel_settings",
    "secret_field_names",
    "sent_since",
    "subscriptions",
]
