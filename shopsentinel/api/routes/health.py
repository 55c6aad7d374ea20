"""Liveness and Prometheus metrics (no token: scraped by monitoring)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from shopsentinel.alerting.repository import alerts_by_state
from shopsentinel.api.deps import DbSession, ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: DbSession) -> dict[str, str]:
    session.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(service: ServiceDep, session: DbSession) -> PlainTextResponse:
    body = service.metrics.render(alerts_by_state(session))
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")
