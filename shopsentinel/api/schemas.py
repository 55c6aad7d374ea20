"""Request and response models. Create / Update / Public are separate so database columns
never leak into the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shopsentinel.alerting.silences import Matcher

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def in_service_range(value: datetime) -> datetime:
    """A client-given time the service can store, compare and print: it needs Z or an offset and must
    lie in [1970, 3000) in UTC (``0001-01-01T00:00:00+01:00`` or ``9999-12-31T23:59:59-01:00`` cannot
    even be converted to UTC)."""
    if value.tzinfo is None:
        raise ValueError("时间需要 Z 或 UTC 偏移 / the time needs Z or a UTC offset")
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"时间超出范围（须在 1970 至 3000 年之间） / time out of range, must lie in "
                         f"[{EARLIEST:%Y-%m-%d}, {LATEST:%Y-%m-%d}) UTC")
    return utc


ApiTime = Annotated[AwareDatetime, AfterValidator(in_service_range)]
"""A timezone-aware time in [1970, 3000) UTC, normalized to UTC: 422 (never 500) otherwise."""


class PointsIn(BaseModel):
    """Each point is checked on its own, so items are free-form here."""

    points: list[Any] = Field(description="canonical points {ts, platform, store, metric, value, sku}")


class PointRejection(BaseModel):
    index: int
    reason: str


class IngestResult(BaseModel):
    accepted: int
    rejected: list[PointRejection]


class AlertPublic(BaseModel):
    id: str
    ts: str
    state: Literal["pending", "firing", "resolved"]
    platform: str
    store: str
    sku: str
    metric: str
    rule: str
    severity: Literal["fatal", "critical", "warning", "info"]
    kind: Literal["business", "data", "external"]
    value: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    incident: str
    message: str
    starts_at: str = Field(description="when the episode started firing (ISO-8601 UTC)")
    ends_at: str | None = Field(description="when it resolved; null while firing")


class AlertList(BaseModel):
    items: list[AlertPublic]


class AlertEventPublic(BaseModel):
    event: str
    ts: datetime
    actor: str
    detail: str


class CommentPublic(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime


class FeedbackPublic(BaseModel):
    id: int
    author: str
    verdict: str
    note: str
    created_at: datetime


class SeriesPoint(BaseModel):
    ts: str
    value: float | None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None


class AlertDetail(AlertPublic):
    acked_by: str | None
    acked_at: datetime | None
    assignee: str | None
    resolved_by: str
    message_en: str
    muted_by: str | None = Field(default=None, description="who muted this episode until it resolves")
    history: list[AlertEventPublic]
    comments: list[CommentPublic]
    feedback: list[FeedbackPublic]
    series: list[SeriesPoint]


class AssignIn(BaseModel):
    assignee: str = Field(min_length=1, max_length=200)


class ResolveIn(BaseModel):
    note: str = ""


class CommentCreate(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


class FeedbackCreate(BaseModel):
    verdict: Literal["valid", "false_alarm", "expected"]
    note: str = ""


class IncidentPublic(BaseModel):
    id: str
    platform: str
    store: str
    root_alert_id: str
    starts_at: datetime
    alerts: list[AlertPublic]


class IncidentList(BaseModel):
    items: list[IncidentPublic]


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: list[Matcher] = Field(min_length=1)
    starts_at: ApiTime | None = None
    ends_at: ApiTime
    comment: str = ""

    @model_validator(mode="after")
    def _order(self) -> SilenceCreate:
        if self.starts_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class SilencePublic(BaseModel):
    id: int
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    active: bool


class SilenceList(BaseModel):
    items: list[SilencePublic]


class StorePublic(BaseModel):
    platform: str
    store: str
    name: str
    timezone: str
    currency: str
    first_point_at: datetime | None
    last_point_at: datetime | None


class StoreList(BaseModel):
    items: list[StorePublic]


class RuleLearningPublic(BaseModel):
    """One rule's learning state for a store: ``learning`` (silent until it has ``starts_after_days``
    of data), ``partial`` (judging with wide bands until ``ready_after_days``) or ``ready``."""

    rule: str
    state: Literal["learning", "partial", "ready"]
    days_left: int
    starts_after_days: float
    ready_after_days: float
    message: str
    message_en: str


class StoreLearning(BaseModel):
    platform: str
    store: str
    history_days: float
    state: Literal["learning", "partial", "ready"]  # the least advanced of its rules
    days_left: int  # until every rule is ready
    message: str
    message_en: str
    rules: list[RuleLearningPublic]


class StoreUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = None
    currency: str | None = Field(default=None, max_length=8)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class RulePackPublic(BaseModel):
    version: int
    pack: dict[str, Any]


class RulePackVersion(BaseModel):
    version: int
    created_by: str
    created_at: datetime
    rules: int


class CalendarCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: ApiTime
    end: ApiTime
    platform: str = ""
    store: str = ""
    name: str = Field(min_length=1)
    kind: Literal["promotion", "holiday", "maintenance"] = "promotion"

    @model_validator(mode="after")
    def _order(self) -> CalendarCreate:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class CalendarPublic(BaseModel):
    id: int
    start: datetime
    end: datetime
    platform: str
    store: str
    name: str
    kind: str


class CalendarList(BaseModel):
    items: list[CalendarPublic]


class TokenCreate(BaseModel):
    user: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "editor", "viewer"]


class TokenPublic(BaseModel):
    id: int
    user: str
    role: str
    revoked: bool
    created_at: datetime


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; only its hash is stored")


class AuditPublic(BaseModel):
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class OutboxPublic(BaseModel):
    id: int
    key: str
    alert_id: str
    status: str
    muted: bool
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    notification: dict[str, Any]


class OutboxList(BaseModel):
    items: list[OutboxPublic]
