"""The notification outbox: what was (or will be) handed to the channels, and each outcome."""

from __future__ import annotations

from fastapi import APIRouter, Query

from shopsentinel.alerting.repository import list_outbox
from shopsentinel.api.deps import DbSession, Reader
from shopsentinel.api.schemas import OutboxList, OutboxPublic

router = APIRouter(prefix="/api/v1/outbox", tags=["notifications"])


@router.get("", response_model=OutboxList)
def outbox(session: DbSession, _reader: Reader, limit: int = Query(default=500, ge=1, le=10_000)) -> OutboxList:
    return OutboxList(items=[
        OutboxPublic(id=o.id, key=o.key, alert_id=o.alert_id, status=o.status, muted=o.muted, attempts=o.attempts,
                     last_error=o.last_error, created_at=o.created_at, next_attempt_at=o.next_attempt_at,
                     sent_at=o.sent_at, notification=o.payload)
        for o in list_outbox(session, limit)
    ])
