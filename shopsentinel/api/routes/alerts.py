"""Alerts: list, detail (with series and band), acknowledge, assign, resolve, comment, feedback."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field
from sqlalchemy.orm import Session

from shopsentinel.alerting import repository as alerts
from shopsentinel.alerting.manager import contract_line
from shopsentinel.api.deps import DbSession, Editor, Now, Reader, ServiceDep
from shopsentinel.api.schemas import (
    AlertDetail,
    AlertEventPublic,
    AlertList,
    AlertPublic,
    AssignIn,
    CommentCreate,
    CommentPublic,
    FeedbackCreate,
    FeedbackPublic,
    ResolveIn,
    SeriesPoint,
    in_service_range,
)
from shopsentinel.insight.kb import record_resolution
from shopsentinel.runtime.detail import alert_series
from shopsentinel.store.repository import audit, calendar_events, get_store
from shopsentinel.store.state import AlertRow

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def _found(session: Session, alert_id: str) -> AlertRow:
    row = alerts.get_alert(session, alert_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    return row


def public(row: AlertRow) -> AlertPublic:
    return AlertPublic.model_validate({
        **contract_line(row),
        "starts_at": f"{row.starts_at:%Y-%m-%dT%H:%M:%SZ}",
        "ends_at": f"{row.ends_at:%Y-%m-%dT%H:%M:%SZ}" if row.ends_at else None,
    })


@router.get("", response_model=AlertList)
def list_alerts(
    session: DbSession,
    _reader: Reader,
    state: str | None = Query(default=None, pattern="^(pending|firing|resolved)$",
                              description="pending: holding, not yet for the rule's `for` (notifies nobody)"),
    platform: str | None = None,
    store: str | None = None,
    severity: str | None = Query(default=None, pattern="^(fatal|critical|warning|info)$"),
    since: datetime | None = None,
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> AlertList:
    if since is not None:
        try:
            since = in_service_range(since)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"since: {exc}") from None
    rows = alerts.list_alerts(session, state=state, platform=platform, store=store, severity=severity, since=since, limit=limit)
    return AlertList(items=[public(r) for r in rows])


@router.get("/{alert_id}", response_model=AlertDetail)
def alert_detail(alert_id: str, session: DbSession, service: ServiceDep, _reader: Reader, now: Now) -> AlertDetail:
    row = _found(session, alert_id)
    store = get_store(session, row.platform, row.store)
    series = []
    if store is not None:
        series = alert_series(row, store, service.points, calendar_events(session), service.catalog,
                              service.rules.current(), now, service.settings.eval_window_days)
    return AlertDetail(
        **public(row).model_dump(),
        acked_by=row.acked_by, acked_at=row.acked_at,
        assignee=row.assignee, resolved_by=row.resolved_by, message_en=row.message_en, muted_by=row.muted_by,
        history=[AlertEventPublic(event=e.event, ts=e.ts, actor=e.actor, detail=e.detail) for e in alerts.alert_history(session, row.id)],
        comments=[CommentPublic(id=c.id, author=c.author, body=c.body, created_at=c.created_at) for c in alerts.alert_comments(session, row.id)],
        feedback=[FeedbackPublic(id=f.id, author=f.author, verdict=f.verdict, note=f.note, created_at=f.created_at)
                  for f in alerts.alert_feedback(session, row.id)],
        series=[SeriesPoint(**p) for p in series],
    )


@router.post("/{alert_id}/ack", response_model=AlertPublic)
def acknowledge(alert_id: str, session: DbSession, principal: Editor, now: Now) -> AlertPublic:
    row = _found(session, alert_id)
    alerts.acknowledge(session, row, principal.user, now)
    audit(session, principal.user, "alert.ack", row.id, now)
    session.commit()
    return public(row)


@router.post("/{alert_id}/assign", response_model=AlertPublic)
def assign(alert_id: str, body: AssignIn, session: DbSession, principal: Editor, now: Now) -> AlertPublic:
    row = _found(session, alert_id)
    alerts.assign(session, row, body.assignee, principal.user, now)
    audit(session, principal.user, "alert.assign", row.id, now, assignee=body.assignee)
    session.commit()
    return public(row)


@router.post("/{alert_id}/mute", response_model=AlertPublic)
def mute(alert_id: str, session: DbSession, principal: Editor, now: Now) -> AlertPublic:
    """Mute until resolved (静默至恢复): no more messages or escalation for this episode."""
    row = _found(session, alert_id)
    if not alerts.mute(session, row, principal.user, now):
        raise HTTPException(status.HTTP_409_CONFLICT, "only a firing alert can be muted until it resolves")
    audit(session, principal.user, "alert.mute", row.id, now)
    session.commit()
    return public(row)


@router.delete("/{alert_id}/mute", response_model=AlertPublic)
def unmute(alert_id: str, session: DbSession, principal: Editor, now: Now) -> AlertPublic:
    row = _found(session, alert_id)
    if not alerts.unmute(session, row, principal.user, now):
        raise HTTPException(status.HTTP_409_CONFLICT, "alert is not muted")
    audit(session, principal.user, "alert.unmute", row.id, now)
    session.commit()
    return public(row)


class ResolveWithKnowledge(ResolveIn):
    """Resolve, optionally recording cause, fix and tags in the knowledge base (知识库)."""

    cause: str = Field(default="", max_length=10_000)
    fix: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=50)


@router.post("/{alert_id}/resolve", response_model=AlertPublic)
def resolve(alert_id: str, body: ResolveWithKnowledge, session: DbSession, principal: Editor, now: Now) -> AlertPublic:
    row = _found(session, alert_id)
    if not alerts.resolve_by_hand(session, row, principal.user, now, body.note):
        raise HTTPException(status.HTTP_409_CONFLICT, "alert is already resolved")
    if body.cause or body.fix or body.tags:
        record_resolution(session, row, cause=body.cause, fix=body.fix, tags=body.tags, author=principal.user, now=now)
    audit(session, principal.user, "alert.resolve", row.id, now, note=body.note)
    session.commit()
    return public(row)


@router.post("/{alert_id}/comment", response_model=CommentPublic, status_code=status.HTTP_201_CREATED)
def comment(alert_id: str, body: CommentCreate, session: DbSession, principal: Editor, now: Now) -> CommentPublic:
    row = _found(session, alert_id)
    c = alerts.add_comment(session, row, principal.user, body.body, now)
    audit(session, principal.user, "alert.comment", row.id, now, comment_id=c.id)
    session.commit()
    return CommentPublic(id=c.id, author=c.author, body=c.body, created_at=c.created_at)


@router.post("/{alert_id}/feedback", response_model=FeedbackPublic, status_code=status.HTTP_201_CREATED)
def feedback(alert_id: str, body: FeedbackCreate, session: DbSession, principal: Editor, now: Now) -> FeedbackPublic:
    row = _found(session, alert_id)
    f = alerts.add_feedback(session, row, principal.user, body.verdict, body.note, now)
    audit(session, principal.user, "alert.feedback", row.id, now, verdict=body.verdict)
    session.commit()
    return FeedbackPublic(id=f.id, author=f.author, verdict=f.verdict, note=f.note, created_at=f.created_at)
