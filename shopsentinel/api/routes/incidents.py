"""Incidents: alerts of one store sharing a cause, root cause first."""

from __future__ import annotations

from fastapi import APIRouter

from shopsentinel.alerting.repository import list_incidents
from shopsentinel.api.deps import DbSession, Reader
from shopsentinel.api.routes.alerts import public
from shopsentinel.api.schemas import IncidentList, IncidentPublic

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


@router.get("", response_model=IncidentList)
def incidents(session: DbSession, _reader: Reader, store: str | None = None) -> IncidentList:
    items = []
    for incident, members in list_incidents(session, store=store):
        members = sorted(members, key=lambda a: (a.id != incident.root_alert_id, a.starts_at))
        items.append(IncidentPublic(id=incident.id, platform=incident.platform, store=incident.store,
                                    root_alert_id=incident.root_alert_id, starts_at=incident.starts_at,
                                    alerts=[public(a) for a in members]))
    return IncidentList(items=items)
