"""Response loop, part one: root-cause analysis of alerts and incidents, similar past alerts and
the knowledge base search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, status

from shopsentinel.alerting import repository as alerts
from shopsentinel.api.deps import DbSession, Now, Reader, ServiceDep
from shopsentinel.insight.kb import search, similar_alerts
from shopsentinel.insight.rca_service import NOTES, alert_rca, incident_rca

router = APIRouter(prefix="/api/v1", tags=["response"])


@router.get("/alerts/{alert_id}/rca")
def alert_root_cause(alert_id: str, session: DbSession, service: ServiceDep, _reader: Reader, now: Now) -> dict[str, Any]:
    """Decomposition of the move of the alert's incident (GMV = UV × conversion × AOV, SKU level:
    availability × demand × price), correlated metrics and other platforms moving too."""
    row = alerts.get_alert(session, alert_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    result = alert_rca(session, service.points, row, now)
    NOTES.put(row.id, result.text_zh, result.text_en)
    return result.as_dict()


@router.get("/incidents/{incident_id}/rca")
def incident_root_cause(incident_id: str, session: DbSession, service: ServiceDep, _reader: Reader,
                        now: Now) -> dict[str, Any]:
    result = incident_rca(session, service.points, incident_id, now)
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id!r}")
    return result.as_dict()


@router.get("/alerts/{alert_id}/similar")
def similar(alert_id: str, session: DbSession, _reader: Reader,
            limit: int = Query(default=5, ge=1, le=50)) -> dict[str, Any]:
    """Past alerts like this one, best first, with the cause and fix recorded when resolved."""
    if alerts.get_alert(session, alert_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    return {"items": [s.as_dict() for s in similar_alerts(session, alert_id, limit=limit)]}


@router.get("/kb")
def knowledge_search(session: DbSession, _reader: Reader, q: str = Query(min_length=1, max_length=200),
                     limit: int = Query(default=20, ge=1, le=200)) -> dict[str, Any]:
    """Search recorded causes and fixes (Chinese by character bigrams, other text by words)."""
    hits = search(session, q, limit=limit)
    return {"items": [{**h.__dict__, "created_at": f"{h.created_at:%Y-%m-%dT%H:%M:%SZ}"} for h in hits]}


__all__ = ["router"]
