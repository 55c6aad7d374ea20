"""The state database (SQLAlchemy 2): stores, alerts and their history, incidents, silences,
comments, feedback, API tokens, the audit log, the calendar, rule-pack versions and the
notification outbox.

SQLite by default, PostgreSQL in production; the schema is owned by the Alembic migrations in
``shopsentinel.store.migrations`` (never ``create_all`` outside tests of the models).
Times are stored as timezone-aware UTC (:class:`UTCDateTime` adds the zone SQLite drops).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class StoreRow(Base):
    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("platform", "store", name="uq_stores_platform_store"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    store: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(8), default="")
    first_point_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_point_at: Mapped[datetime | None] = mapped_column(nullable=True)
    evaluated_until: Mapped[datetime | None] = mapped_column(nullable=True)  # end of the last evaluation window
    created_at: Mapped[datetime]
    # bumped by every bulk point write (import, sync; revision 0011): a cached window is read again
    points_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AlertRow(Base):
    """One firing episode; ``id`` is its fingerprint (rule|platform|store|sku|metric|start)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_state_store", "state", "platform", "store"),
        Index("ix_alerts_starts_at", "starts_at"),
        Index("ix_alerts_created_at", "created_at"),
        Index("ix_alerts_incident", "incident"),
        Index("ix_alerts_rule_state", "rule", "state"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64), default="")
    platform: Mapped[str] = mapped_column(String(64))
    store: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(200), default="")
    metric: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # pending | firing | resolved
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None] = mapped_column(nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected: Mapped[float | None] = mapped_column(Float, nullable=True)
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    incident: Mapped[str] = mapped_column(String(64), default="")
    root_rank: Mapped[int] = mapped_column(Integer, default=99)  # 0 = root cause of its incident
    message: Mapped[str] = mapped_column(Text, default="")
    message_en: Mapped[str] = mapped_column(Text, default="")
    resolved_by: Mapped[str] = mapped_column(String(16), default="")  # "" | evaluation | manual
    acked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True)
    muted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # "mute until resolved": who muted it
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertEventRow(Base):
    """State history of an alert: firing, resolved, acknowledged, assigned, resolved by hand."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime]  # when the state began (episode time for firing/resolved)
    actor: Mapped[str] = mapped_column(String(200), default="system")
    detail: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime]


class IncidentRow(Base):
    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    store: Mapped[str] = mapped_column(String(200))
    root_alert_id: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SilenceRow(Base):
    __tablename__ = "silences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matchers: Mapped[list[Any]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class CommentRow(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class FeedbackRow(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(32))  # valid | false_alarm | expected
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # admin | editor | viewer
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class UserRow(Base):
    """A person: how they log in to the alert center and how channels reach them (the user directory).

    ``role`` is the access role (admin | editor | viewer); ``duties`` are functional roles such as 运营负责人 or
    库存管理员 that subscriptions and escalation steps address. Passwords are stored as scrypt hashes only.
    """

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    duties: Mapped[list[Any]] = mapped_column(JSON, default=list)
    email: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    im_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"dingtalk": userid, "wecom": ..., "feishu": ...}
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    # the zone this person reads times in (IANA name); "" = the installation's display zone
    timezone: Mapped[str] = mapped_column(String(64), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped by logout, a password change or deactivation: web sessions of an older generation are refused.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]


class AuditRow(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]]


class CalendarRow(Base):
    __tablename__ = "calendar_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    platform: Mapped[str] = mapped_column(String(64), default="")
    store: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))


class RulePackRow(Base):
    """Every saved rule pack, newest version wins; YAML text as given."""

    __tablename__ = "rule_packs"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class OutboxRow(Base):
    """A notification waiting to be (or already) handed to a :class:`Dispatcher`."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # dedupe: alert id + state
    alert_id: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]]
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    channel: Mapped[str] = mapped_column(String(100), default="", server_default="")  # "" = in-app record


# --- routing (revision 0002) ------------------------------------------------------------------


class RoutingConfigRow(Base):
    """Versions of the routing configuration (tree, severity policy, members, mute windows)."""

    __tablename__ = "routing_config"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class EscalationPolicyRow(Base):
    __tablename__ = "escalation_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ChannelRow(Base):
    """A configured channel instance of a receiver; secret settings are sealed (``enc:...``)."""

    __tablename__ = "channels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # registry key: dingtalk, wecom, ...
    medium: Mapped[str] = mapped_column(String(16))  # im | sms | phone | email
    receiver: Mapped[str] = mapped_column(String(200), index=True)
    settings: Mapped[dict[str, Any]]
    per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class NotificationGroupRow(Base):
    """Timers and what was sent, per notification group (see ``alerting.grouping``)."""

    __tablename__ = "notification_groups"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class NotificationAttemptRow(Base):
    """Every delivery attempt of a routed outbox entry, with its outcome."""

    __tablename__ = "notification_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(100), index=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # sent | failed | retry | rate_limited | digested
    error: Mapped[str] = mapped_column(Text, default="")


class EscalationStateRow(Base):
    """How many steps of its escalation policy an alert has paged."""

    __tablename__ = "escalation_state"
    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    policy: Mapped[str] = mapped_column(String(200))
    paged: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class PointRow(Base):
    """A canonical point; ``ts`` is epoch seconds UTC (compact, and fast to load into polars). The
    evaluation window read (one store, a ``ts`` range) uses ``ix_points_store_ts`` (revision 0011)."""

    __tablename__ = "points"
    __table_args__ = (Index("ix_points_store_ts", "platform", "store", "ts"),)
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(200), primary_key=True)
    sku: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(200), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class OnCallRow(Base):
    """Who is on duty for a functional role (revision 0008): a rotation of ``members`` every
    ``rotation_days`` from ``rotation_start`` (a local moment of ``timezone``, stored UTC) and explicit
    ``shifts`` (``[{"user", "starts_at", "ends_at"}]``, ISO-8601 UTC) that win over the rotation."""

    __tablename__ = "oncall_schedules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(64), unique=True)
    members: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rotation_start: Mapped[datetime]
    rotation_days: Mapped[int] = mapped_column(Integer, default=7)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    shifts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]



class ProvisionedObjectRow(Base):
    """An object of the routing configuration managed by a provisioning file (revision 0009): read-only
    in the API and the web, removed at a start whose files no longer hold it. ``kind`` is ``channel``,
    ``subscription``, ``escalation_policy``, ``oncall`` or ``routing``; ``name`` its name in the files;
    ``ref`` the stored object's own key (channel or policy name, role, subscription id, ``routing``)."""

    __tablename__ = "provisioned_objects"
    __table_args__ = (UniqueConstraint("kind", "name"), Index("ix_provisioned_objects_kind_ref", "kind", "ref"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    ref: Mapped[str] = mapped_column(String(200))
    source_file: Mapped[str] = mapped_column(String(1000))
    updated_at: Mapped[datetime]

__all__ = [
    "AlertEventRow",
    "AlertRow",
    "ApiTokenRow",
    "AuditRow",
    "Base",
    "CalendarRow",
    "ChannelRow",
    "CommentRow",
    "EscalationPolicyRow",
    "EscalationStateRow",
    "FeedbackRow",
    "IncidentRow",
    "NotificationAttemptRow",
    "NotificationGroupRow",
    "OnCallRow",
    "OutboxRow",
    "PointRow",
    "ProvisionedObjectRow",
    "RoutingConfigRow",
    "RulePackRow",
    "SilenceRow",
    "SubscriptionRow",
    "StoreRow",
    "UTCDateTime",
]
