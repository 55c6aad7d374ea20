"""Routing configuration (tree, severity policy, members, mute windows, rate limits) and every
delivery attempt of a routed notification."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import ValidationError
from sqlalchemy import select

from shopsentinel.alerting import routing_repository as routing_repo
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.api.deps import DbSession, Editor, Now, Reader
from shopsentinel.api.provisioned import refuse_if_provisioned
from shopsentinel.api.routing_schemas import (
    NotificationAttemptList,
    NotificationAttemptPublic,
    RoutingConfigPublic,
)
from shopsentinel.notify import repository as repo
from shopsentinel.store import provisioned
from shopsentinel.store.repository import audit
from shopsentinel.store.state import OutboxRow, RoutingConfigRow

router = APIRouter(tags=["notifications"])


@router.get("/api/v1/notifications", response_model=NotificationAttemptList)
def notifications(session: DbSession, _reader: Reader, limit: int = Query(default=500, ge=1, le=10_000)) -> NotificationAttemptList:
    """Every delivery attempt, newest first: sent, retry, failed, rate_limited, digested."""
    attempts = repo.list_attempts(session, limit)
    ids = sorted({a.outbox_id for a in attempts})
    entries = {o.id: o for o in session.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids))).all()} if ids else {}
    items = []
    for a in attempts:
        entry = entries.get(a.outbox_id)
        items.append(NotificationAttemptPublic(
            id=a.id, outbox_id=a.outbox_id, key=entry.key if entry else "", alert_id=entry.alert_id if entry else "",
            channel=a.channel, ts=a.ts, outcome=a.outcome, error=a.error,
            title=str(entry.payload.get("title", "")) if entry else "",
        ))  # fmt: skip
    return NotificationAttemptList(items=items)


@router.get("/api/v1/routing", response_model=RoutingConfigPublic, tags=["routing"])
def get_routing(session: DbSession, _reader: Reader) -> RoutingConfigPublic:
    version = session.scalar(select(RoutingConfigRow.version).order_by(RoutingConfigRow.version.desc()).limit(1)) or 0
    return RoutingConfigPublic(version=version, config=routing_repo.stored_routing_config(session).model_dump(mode="json", by_alias=True),
                               provisioned_from=provisioned.source_of(session, "routing", provisioned.ROUTING_REF))


@router.put("/api/v1/routing", response_model=RoutingConfigPublic, tags=["routing"])
def put_routing(body: dict[str, object], session: DbSession, principal: Editor, now: Now) -> RoutingConfigPublic:
    refuse_if_provisioned(session, "routing", provisioned.ROUTING_REF)
    try:
        config = RoutingConfig.model_validate(body)
    except ValidationError as exc:
        detail = [{"field": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
                  for e in exc.errors(include_input=False, include_url=False, include_context=False)]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    row = routing_repo.save_routing_config(session, config, principal.user, now)
    audit(session, principal.user, "routing.replace", f"routing/{row.version}", now)
    session.commit()
    return RoutingConfigPublic(version=row.version, config=row.body)
