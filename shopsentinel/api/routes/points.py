"""Ingest: ``POST /api/v1/points`` — good points kept, bad ones rejected one by one."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from shopsentinel.api.deps import DbSession, Editor, Now, ServiceDep
from shopsentinel.api.schemas import IngestResult, PointRejection, PointsIn
from shopsentinel.runtime.ingest import PointLimits, validate_points, write_points

router = APIRouter(prefix="/api/v1", tags=["points"])


@router.post("/points", response_model=IngestResult)
def ingest_points(body: PointsIn, service: ServiceDep, session: DbSession, principal: Editor, now: Now) -> IngestResult:
    if len(body.points) > service.settings.max_points_per_request:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"at most {service.settings.max_points_per_request} points per request")
    points, rejected = validate_points(body.points, service.catalog, PointLimits.from_settings(service.settings, now))
    write_points(service, session, points, user=principal.user, now=now)
    service.metrics.count_points(len(points), len(rejected))
    return IngestResult(accepted=len(points), rejected=[PointRejection(index=r.index, reason=r.reason) for r in rejected])
