"""Channels and delivery attempts (SQL only). Channel secrets are sealed with
:class:`~shopsentinel.core.secrets.SecretBox` before they are stored and opened only to build a
notifier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.core.clock import Clock
from shopsentinel.core.secrets import SecretBox
from shopsentinel.notify.base import Notifier
from shopsentinel.notify.registry import ChannelRegistry
from shopsentinel.store.state import ChannelRow, NotificationAttemptRow, RoutingConfigRow

# Messages per minute per channel instance (DingTalk robots lock out for 10 min past 20/min).
DEFAULT_RATE_LIMITS: dict[str, int] = {"dingtalk": 20, "wecom": 20, "feishu": 100, "slack": 60}


def rate_limits(session: Session) -> dict[str, int]:
    """Per channel kind, messages per minute: the routing document's ``rate_limits`` (its newest
    version) over the defaults."""
    row = session.scalars(select(RoutingConfigRow).order_by(RoutingConfigRow.version.desc()).limit(1)).first()
    stored = (row.body or {}).get("rate_limits") if row else None
    return dict(stored) if isinstance(stored, dict) else dict(DEFAULT_RATE_LIMITS)


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
    "DEFAULT_RATE_LIMITS",
    "build_notifier",
    "channels_of",
    "list_attempts",
    "public_settings",
    "rate_limits",
    "record_attempt",
    "seal_channel_settings",
    "secret_field_names",
    "sent_since",
]
