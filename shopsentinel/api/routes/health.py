"""Liveness and Prometheus metrics (no token: scraped by monitoring)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from shopsentinel.alerting.repository import alerts_by_state
from shopsentinel.api.deps import DbSession, ServiceDep
from shopsentinel.runtime.service import Service
from shopsentinel.store.db import DatabaseContact

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=None)
async def healthz(request: Request) -> dict[str, str] | JSONResponse:
    """Async and free of dependencies, so it never waits for a worker thread. 200 while the service runs; ``degraded`` (still 200: it does run) when it started although its
    secret key cannot open the stored secrets (no detail here: the endpoint is unauthenticated; the
    ``system.secret_key`` alert and the log say which key and why).

    Answered from in-process state, never from the pool, so it answers at once even when every
    connection is taken: the database part is the outcome of the engine's latest contact
    (``app.state.database_contact``, fed by every statement the service runs, the scheduler's ticks
    included) — 503 with Retry-After while that contact failed to reach the database."""
    contact: DatabaseContact | None = getattr(request.app.state, "database_contact", None)
    if contact is not None and contact.down():
        return JSONResponse({"status": "unavailable", "reason": "数据库暂不可用，请稍后重试 / database unavailable, "
                             "retry shortly"}, status_code=503, headers={"Retry-After": "5"})
    service: Service = request.app.state.service  # no dependency: nothing here may wait for a thread
    if service.key_problem is not None:
        return {"status": "degraded", "reason": "密钥无法解密已保存的机密 / secret key cannot decrypt stored secrets"}
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(service: ServiceDep, session: DbSession) -> PlainTextResponse:
    body = service.metrics.render(alerts_by_state(session))
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")
