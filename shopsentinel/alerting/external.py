"""Alerts from other monitoring systems: Alertmanager's webhook and Grafana's (unified alerting) webhook.

Each incoming alert becomes a ShopSentinel alert of kind ``external`` that rides the same pipeline as
our own: it is stored with a ``firing`` state change (and its ``resolved`` one when the sender resolves
it), which the notification pipeline (:mod:`shopsentinel.alerting.pipeline`) then mutes, routes,
groups, escalates and hands to the channels — nothing here writes to the outbox.

Mapping (labels of the sender → the alert's labels, what routes, silences and subscriptions match on):

* ``rule`` ← ``alertname``; ``severity`` ← ``severity`` (or ``priority`` / ``level``; 致命/严重/警告/提示 and
  the usual English words, P0–P4; unknown → warning);
* ``platform`` ← ``platform`` when it is one of ours, else the sender (``alertmanager`` / ``grafana``);
* ``store`` ← ``store``, else ``instance``, ``job`` or the sender; ``metric`` ← ``metric``, else
  ``__name__``, else the alertname; ``sku`` ← ``sku``; ``category`` ← ``category``, else ``external``;
* the message ← the ``summary`` (else Grafana's title or the alertname) and ``description`` annotations.

Every label, annotation and link the sender gave is kept in the alert's history as a ``source`` event.
The alert id is stable: ``sha1(sender | sender's fingerprint (or its sorted labels) | startsAt)``, so a
re-sent firing alert changes nothing and its resolution finds it; a new episode (a new ``startsAt``)
is a new alert.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shopsentinel.alerting.manager import AlertManager
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import PLATFORMS, Severity
from shopsentinel.store.state import AlertEventRow, AlertRow

KIND = "external"
SOURCES = ("alertmanager", "grafana")
MAX_ALERTS = 500  # per post
MAX_LABELS = 64  # labels (and annotations) per alert
MAX_NAME = 100  # characters of a label or annotation name
MAX_LABEL_VALUE = 1000
MAX_ANNOTATION = 8000
MAX_URL = 2000
MAX_MESSAGE = 2000
FUTURE_SLACK = timedelta(minutes=5)

_SEVERITY_WORDS: dict[str, Severity] = {
    **dict.fromkeys(("fatal", "disaster", "emergency", "p0", "致命"), Severity.FATAL),
    **dict.fromkeys(("critical", "crit", "error", "high", "page", "major", "p1", "严重"), Severity.CRITICAL),
    **dict.fromkeys(("warning", "warn", "medium", "average", "minor", "p2", "警告"), Severity.WARNING),
    **dict.fromkeys(("info", "informational", "low", "none", "ok", "p3", "p4", "提示"), Severity.INFO),
}


def _clean_text(text: str) -> str:
    """Text a database and every channel can carry: UTF-8 encodable (no lone surrogates), no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("不是有效的 UTF-8 文本 / not valid UTF-8 text") from None
    if "\x00" in text:
        raise ValueError("不能含 NUL 字符 / must not contain NUL characters")
    return text


def _name(text: str) -> str:
    _clean_text(text)
    if not text or len(text) > MAX_NAME or any(c.isspace() for c in text):
        raise ValueError(f"名称须为 1–{MAX_NAME} 个非空白字符 / names are 1–{MAX_NAME} non-blank characters")
    return text


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("时间超出范围 / time out of range") from None


def _in_range(value: datetime) -> datetime:
    moment = _utc(value)
    if not 1970 <= moment.year < 3000:
        raise ValueError("时间须在 1970 到 3000 年之间 / time must lie in [1970, 3000) UTC")
    return moment


def _end(value: datetime | None) -> datetime | None:
    """Go's zero time (``0001-01-01T00:00:00Z``) means "no end yet"."""
    if value is None or value.year <= 1:
        return None
    return _in_range(value)


Name = Annotated[str, AfterValidator(_name)]
LabelValue = Annotated[str, Field(max_length=MAX_LABEL_VALUE), AfterValidator(_clean_text)]
AnnotationValue = Annotated[str, Field(max_length=MAX_ANNOTATION), AfterValidator(_clean_text)]
Url = Annotated[str, Field(max_length=MAX_URL), AfterValidator(_clean_text)]
Start = Annotated[AwareDatetime, AfterValidator(_in_range)]
End = Annotated[AwareDatetime | None, AfterValidator(_end)]
Labels = Annotated[dict[Name, LabelValue], Field(max_length=MAX_LABELS)]
Annotations = Annotated[dict[Name, AnnotationValue], Field(max_length=MAX_LABELS)]


class IncomingAlert(BaseModel):
    """One alert of an Alertmanager (or Grafana) webhook payload; fields the sender adds are ignored."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    startsAt: Start
    endsAt: End = None
    generatorURL: Url = ""
    fingerprint: Annotated[str, Field(max_length=200), AfterValidator(_clean_text)] = ""
    # Grafana's additions
    values: Annotated[dict[Name, float | None], Field(max_length=MAX_LABELS)] | None = None
    valueString: Annotated[str, Field(max_length=MAX_ANNOTATION), AfterValidator(_clean_text)] = ""
    silenceURL: Url = ""
    dashboardURL: Url = ""
    panelURL: Url = ""


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook payload (``webhook_config``, version 4)."""

    model_config = ConfigDict(extra="ignore")

    version: Annotated[str, Field(max_length=16)] = "4"
    groupKey: Annotated[str, Field(max_length=MAX_ANNOTATION), AfterValidator(_clean_text)] = ""
    truncatedAlerts: Annotated[int, Field(ge=0, le=10**9)] = 0
    status: Literal["firing", "resolved"]
    receiver: Annotated[str, Field(max_length=MAX_LABEL_VALUE), AfterValidator(_clean_text)] = ""
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Annotations = Field(default_factory=dict)
    externalURL: Url = ""
    alerts: Annotated[list[IncomingAlert], Field(min_length=1, max_length=MAX_ALERTS)]


class GrafanaPayload(AlertmanagerPayload):
    """Grafana's unified-alerting webhook: Alertmanager's payload plus ``orgId``, ``state``, ``title``,
    ``message`` (and per alert ``values``, ``valueString``, ``silenceURL``, ``dashboardURL``, ``panelURL``)."""

    version: Annotated[str, Field(max_length=16)] = "1"
    orgId: Annotated[int, Field(ge=0, le=2**53)] | None = None
    state: Annotated[str, Field(max_length=32)] = ""
    title: Annotated[str, Field(max_length=MAX_ANNOTATION), AfterValidator(_clean_text)] = ""
    message: Annotated[str, Field(max_length=4 * MAX_ANNOTATION), AfterValidator(_clean_text)] = ""


@dataclass
class IntakeResult:
    """What one post changed: alerts created (firing), resolved, and left as they were."""

    created: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def severity_of(labels: dict[str, str]) -> Severity:
    for name in ("severity", "priority", "level"):
        word = labels.get(name, "").strip().lower()
        if word in _SEVERITY_WORDS:
            return _SEVERITY_WORDS[word]
    return Severity.WARNING


def sender_fingerprint(alert: IncomingAlert) -> str:
    """The sender's fingerprint, else one of its sorted labels (as Alertmanager derives its own)."""
    if alert.fingerprint:
        return alert.fingerprint
    return hashlib.sha1(json.dumps(alert.labels, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def external_id(source: str, alert: IncomingAlert) -> str:
    """The alert's id (40 characters, like our fingerprints): sender, its fingerprint, episode start."""
    text = f"{source}|{sender_fingerprint(alert)}|{alert.startsAt:%Y-%m-%dT%H:%M:%S.%fZ}"
    return "x" + hashlib.sha1(text.encode()).hexdigest()[:39]


def _first_value(values: dict[str, float | None] | None) -> float | None:
    for value in (values or {}).values():
        if value is not None and math.isfinite(value):
            return float(value)
    return None


def _message(source: str, alert: IncomingAlert, title: str) -> tuple[str, str]:
    """(Chinese-first message, English message) from the sender's summary and description."""
    alertname = alert.labels.get("alertname", "")
    summary = alert.annotations.get("summary") or title or alertname or "外部告警"
    description = alert.annotations.get("description", "")
    text = summary + (f"：{description}" if description and description != summary else "")
    origin = "Grafana" if source == "grafana" else "Alertmanager"
    zh = f"{text}（来自 {origin}）"
    en = f"{summary}{f': {description}' if description and description != summary else ''} (from {origin})"
    return zh[:MAX_MESSAGE], en[:MAX_MESSAGE]


def to_event(source: str, alert: IncomingAlert, now: datetime, *, title: str = "") -> AlertEvent:
    """The incoming alert as one of our alert events (its labels mapped as the module says)."""
    labels = alert.labels
    alertname = labels.get("alertname") or title or "external"
    platform = labels.get("platform", "")
    start = min(alert.startsAt, now + FUTURE_SLACK)
    zh, en = _message(source, alert, title)
    return AlertEvent(
        rule=alertname[:200], severity=severity_of(labels), kind=KIND, category=(labels.get("category") or KIND)[:64],
        platform=platform if platform in PLATFORMS else source,
        store=(labels.get("store") or labels.get("instance") or labels.get("job") or source)[:200],
        sku=labels.get("sku", "")[:200], metric=(labels.get("metric") or labels.get("__name__") or alertname)[:200],
        start=start, end=None, value=_first_value(alert.values), message=zh, message_en=en,
    )  # fmt: skip


def _source_detail(source: str, alert: IncomingAlert) -> str:
    """Everything the sender said about the alert, kept in its history (``source`` event)."""
    detail: dict[str, Any] = {"source": source, "fingerprint": sender_fingerprint(alert), "labels": alert.labels,
                              "annotations": alert.annotations}
    for name in ("generatorURL", "silenceURL", "dashboardURL", "panelURL", "valueString"):
        if getattr(alert, name):
            detail[name] = getattr(alert, name)
    if alert.values:
        detail["values"] = alert.values
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)


class ExternalAlerts(AlertManager):
    """The alert manager for alerts from other systems: the same rows, state changes and history as
    :meth:`AlertManager.reconcile` writes for evaluated episodes, keyed by the sender's fingerprint."""

    def apply(self, session: Session, source: str, payload: AlertmanagerPayload, now: datetime) -> IntakeResult:
        """Record the state changes of one post; the caller commits."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        title = payload.title if isinstance(payload, GrafanaPayload) else ""
        result = IntakeResult()
        for alert in payload.alerts:
            alert_id = external_id(source, alert)
            row = session.get(AlertRow, alert_id)
            if alert.status == "firing":
                if row is None:
                    row = self._create(session, alert_id, to_event(source, alert, now, title=title), now)
                    session.add(AlertEventRow(alert_id=row.id, event="source", ts=row.starts_at, actor=source,
                                              detail=_source_detail(source, alert), recorded_at=now))
                    self._record(session, row, "firing", row.starts_at, now)
                    result.created.append(alert_id)
                else:
                    result.unchanged.append(alert_id)  # a repeat of a known alert (or of one already over)
                continue
            if row is None or row.state != "firing":
                result.unchanged.append(alert_id)  # resolved before we ever saw it fire: nothing to announce
                continue
            end = max(min(alert.endsAt or now, now), row.starts_at)
            self._resolve(row, end, now, by=source)
            self._record(session, row, "resolved", end, now)
            result.resolved.append(alert_id)
        session.flush()
        return result


__all__ = ["KIND", "MAX_ALERTS", "SOURCES", "AlertmanagerPayload", "ExternalAlerts", "GrafanaPayload", "IncomingAlert",
           "IntakeResult", "external_id", "severity_of", "to_event"]
