"""Alerts, their history, comments, feedback, incidents, silences and the outbox (SQL only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shopsentinel.store.state import (
    AlertEventRow,
    AlertRow,
    CommentRow,
    FeedbackRow,
    IncidentRow,
    OutboxRow,
    SilenceRow,
)

FEEDBACK_VERDICTS = ("valid", "false_alarm", "expected")


def list_alerts(
    session: Session,
    *,
    state: str | None = None,
    platform: str | None = None,
    store: str | None = None,
    severity: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AlertRow]:
    query = select(AlertRow)
    if state:
        query = query.where(AlertRow.state == state)
    if platform:
        query = query.where(AlertRow.platform == platform)
    if store:
        query = query.where(AlertRow.store == store)
    if severity:
        query = query.where(AlertRow.severity == severity)
    if since:
        query = query.where(or_(AlertRow.starts_at >= since, AlertRow.ends_at >= since, AlertRow.state == "firing"))
    query = query.order_by(AlertRow.starts_at.desc(), AlertRow.id).limit(limit)
    return list(session.scalars(query).all())


def get_alert(session: Session, alert_id: str) -> AlertRow | None:
    return session.get(AlertRow, alert_id)


def alert_history(session: Session, alert_id: str) -> list[AlertEventRow]:
    query = select(AlertEventRow).where(AlertEventRow.alert_id == alert_id).order_by(AlertEventRow.id)
    return list(session.scalars(query).all())


def alert_comments(session: Session, alert_id: str) -> list[CommentRow]:
    return list(session.scalars(select(CommentRow).where(CommentRow.alert_id == alert_id).order_by(CommentRow.id)).all())


def alert_feedback(session: Session, alert_id: str) -> list[FeedbackRow]:
    return list(session.scalars(select(FeedbackRow).where(FeedbackRow.alert_id == alert_id).order_by(FeedbackRow.id)).all())


def _event(session: Session, row: AlertRow, event: str, actor: str, now: datetime, detail: str = "") -> None:
    session.add(AlertEventRow(alert_id=row.id, event=event, ts=now, actor=actor, detail=detail, recorded_at=now))
    row.updated_at = now


def acknowledge(session: Session, row: AlertRow, actor: str, now: datetime) -> None:
    row.acked_by, row.acked_at = actor, now
    _event(session, row, "acknowledged", actor, now)


def assign(session: Session, row: AlertRow, assignee: str, actor: str, now: datetime) -> None:
    row.assignee = assignee
    _event(session, row, "assigned", actor, now, assignee)


def mute(session: Session, row: AlertRow, actor: str, now: datetime) -> bool:
    """"Mute until resolved": this episode notifies and escalates no more; its resolution ends the mute
    (a new episode is a new alert). State and evaluation are untouched. False if it is not firing."""
    if row.state != "firing":
        return False
    row.muted_by = actor
    _event(session, row, "muted", actor, now)
    return True


def unmute(session: Session, row: AlertRow, actor: str, now: datetime) -> bool:
    if row.muted_by is None:
        return False
    row.muted_by = None
    _event(session, row, "unmuted", actor, now)
    return True


def resolve_by_hand(session: Session, row: AlertRow, actor: str, now: datetime, note: str = "") -> bool:
    """Resolve an open alert by hand; evaluation never re-opens it (its fingerprint is kept). The
    ``resolved`` event is announced by the next notification pipeline run, like any other."""
    if row.state != "firing":
        return False
    row.state, row.ends_at, row.resolved_by = "resolved", now, "manual"
    _event(session, row, "resolved", actor, now, note)
    return True


def add_comment(session: Session, row: AlertRow, author: str, body: str, now: datetime) -> CommentRow:
    comment = CommentRow(alert_id=row.id, author=author, body=body, created_at=now)
    session.add(comment)
    session.flush()
    return comment


def add_feedback(session: Session, row: AlertRow, author: str, verdict: str, note: str, now: datetime) -> FeedbackRow:
    if verdict not in FEEDBACK_VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(FEEDBACK_VERDICTS)}")
    fb = FeedbackRow(alert_id=row.id, author=author, verdict=verdict, note=note, created_at=now)
    session.add(fb)
    session.flush()
    return fb


def alerts_by_state(session: Session) -> dict[str, int]:
    return {state: int(n) for state, n in session.execute(select(AlertRow.state, func.count()).group_by(AlertRow.state)).all()}


# --- incidents --------------------------------------------------------------------------------

def list_incidents(session: Session, *, store: str | None = None, limit: int = 500) -> list[tuple[IncidentRow, list[AlertRow]]]:
    query = select(IncidentRow)
    if store:
        query = query.where(IncidentRow.store == store)
    incidents = list(session.scalars(query.order_by(IncidentRow.starts_at.desc()).limit(limit)).all())
    ids = [i.id for i in incidents]
    members: dict[str, list[AlertRow]] = {i: [] for i in ids}
    if ids:
        for alert in session.scalars(select(AlertRow).where(AlertRow.incident.in_(ids)).order_by(AlertRow.starts_at)).all():
            members[alert.incident].append(alert)
    return [(i, members[i.id]) for i in incidents]


# --- silences ---------------------------------------------------------------------------------

def list_silences(session: Session, *, active_at: datetime | None = None) -> list[SilenceRow]:
    query = select(SilenceRow)
    if active_at is not None:
        query = query.where(SilenceRow.starts_at <= active_at, SilenceRow.ends_at > active_at)
    return list(session.scalars(query.order_by(SilenceRow.id)).all())


def add_silence(session: Session, matchers: list[dict[str, Any]], starts_at: datetime, ends_at: datetime,
                comment: str, actor: str, now: datetime) -> SilenceRow:
    row = SilenceRow(matchers=matchers, starts_at=starts_at, ends_at=ends_at, comment=comment, created_by=actor, created_at=now)
    session.add(row)
    session.flush()
    return row


def get_silence(session: Session, silence_id: int) -> SilenceRow | None:
    return session.get(SilenceRow, silence_id)


def expire_silence(session: Session, row: SilenceRow, now: datetime) -> None:
    row.ends_at = max(row.starts_at, min(row.ends_at, now))


# --- outbox -----------------------------------------------------------------------------------

def pending_outbox(session: Session, now: datetime, limit: int = 100) -> list[OutboxRow]:
    """Entries due for a (re)try, oldest first."""
    query = (
        select(OutboxRow)
        .where(OutboxRow.status == "pending")
        .where(or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now))
        .order_by(OutboxRow.id)
        .limit(limit)
    )
    return list(session.scalars(query).all())


def list_outbox(session: Session, limit: int = 500) -> list[OutboxRow]:
    return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)).all())


__all__ = [
    "FEEDBACK_VERDICTS",
    "acknowledge",
    "add_comment",
    "add_feedback",
    "add_silence",
    "alert_comments",
    "alert_feedback",
    "alert_history",
    "alerts_by_state",
    "assign",
    "expire_silence",
    "get_alert",
    "get_silence",
    "list_alerts",
    "list_incidents",
    "list_outbox",
    "list_silences",
    "pending_outbox",
    "resolve_by_hand",
]
