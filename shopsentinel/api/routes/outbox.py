"""The notification outbox: what was (or will be) handed to the channels, and each outcome."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from shopsentinel.alerting.repository import list_outbox
from shopsentinel.api.deps import DbSession, Principal, Reader
from shopsentinel.api.schemas import OutboxList, OutboxPublic

router = APIRouter(prefix="/api/v1/outbox", tags=["notifications"])


# The signed 认领 link in a message acknowledges its alert for whoever holds it: only principals who
# may acknowledge through the API (``POST /alerts/{id}/ack`` needs editor) see it here.
ACK_ROLE = "editor"
LINK_FIELDS = ("ack_url",)


def visible_payload(payload: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The stored notification, without the acknowledge link for principals who may not acknowledge."""
    if principal.at_least(ACK_ROLE):
        return payload
    return {k: v for k, v in payload.items() if k not in LINK_FIELDS}


@router.get("", response_model=OutboxList)
def outbox(session: DbSession, reader: Reader, limit: int = Query(default=500, ge=1, le=10_000)) -> OutboxList:
    return OutboxList(items=[
        OutboxPublic(id=o.id, key=o.key, alert_id=o.alert_id, status=o.status, muted=o.muted, attempts=o.attempts,
                     last_error=o.last_error, created_at=o.created_at, next_attempt_at=o.next_attempt_at,
                     sent_at=o.sent_at, notification=visible_payload(o.payload, reader))
        for o in list_outbox(session, limit)
    ])
