"""Health probes and Prometheus metrics (no token: scraped by monitoring).

``/healthz`` (unchanged: 200 while the service runs, 503 while the database is unreachable),
``/livez`` (the process answers: never touches the database), ``/readyz`` (ready for traffic: the
database reachable and, with a background runner, a tick completed recently — 503 with the failed
checks otherwise) and ``/metrics`` (docs/OPERATIONS.md lists every series)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from shopsentinel.api.deps import ServiceDep
from shopsentinel.runtime.metrics.service import CONTENT_TYPE
from shopsentinel.runtime.service import Service
from shopsentinel.store.db import DatabaseContact

router = APIRouter(tags=["health"])

# /readyz: the scheduler is stale when no background tick completed for this many schedule periods
# (and at least READY_MIN_STALE_SECONDS: one tick may hold a platform sync)
READY_TICK_FACTOR = 3
READY_MIN_STALE_SECONDS = 60.0


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
    # role: whether this replica runs the periodic work (in-process state, no database round trip)
    role = "leader" if service.locks is None or service.locks.holds("scheduler") else "follower"
    if service.key_problem is not None:
        return {"status": "degraded", "role": role,
                "reason": "密钥无法解密已保存的机密 / secret key cannot decrypt stored secrets"}
    return {"status": "ok", "role": role}


@router.get("/livez")
async def livez() -> dict[str, str]:
    """The process is alive and its event loop answers; nothing else is checked (no database, no
    thread): restart the process only when this fails."""
    return {"status": "alive"}


def stale_after_seconds(service: Service) -> float:
    """How long without a completed background tick before ``/readyz`` reports the scheduler stale."""
    return max(READY_TICK_FACTOR * service.settings.schedule_seconds, READY_MIN_STALE_SECONDS)


NOT_CHECKED = "not checked"


def readiness(request: Request) -> dict[str, str]:
    """Each readiness check: ``ok``, ``not checked`` or why it failed (Chinese first). In-process
    state only: never a pool connection, never a thread."""
    service: Service = request.app.state.service
    contact: DatabaseContact | None = getattr(request.app.state, "database_contact", None)
    checks: dict[str, str] = {"database": "ok", "scheduler": "ok"}
    if contact is not None and contact.down():
        checks["database"] = "数据库不可达 / database unreachable"
    if getattr(request.app.state, "background", False):
        age, limit = service.metrics.tick_age_seconds(), stale_after_seconds(service)
        if age > limit:
            checks["scheduler"] = (f"后台调度已 {age:.0f} 秒未完成一轮（上限 {limit:.0f} 秒）/ no background tick "
                                   f"completed for {age:.0f} s (limit {limit:.0f} s)")
    else:
        checks["scheduler"] = NOT_CHECKED
    return checks


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> dict[str, object] | JSONResponse:
    """Ready for traffic: 200 with each check ``ok``, else 503 (+ Retry-After) naming the failed
    checks. ``database``: the engine's latest contact (as ``/healthz``: never a pool connection).
    ``scheduler``: with a background runner, the last completed tick is at most
    :func:`stale_after_seconds` old (without one — tests tick by hand — it is ``not checked``)."""
    checks = readiness(request)
    failed = [name for name, outcome in checks.items() if outcome not in ("ok", NOT_CHECKED)]
    if failed:
        return JSONResponse({"status": "unready", "failed": failed, "checks": checks}, status_code=503,
                            headers={"Retry-After": "5"})
    return {"status": "ready", "checks": checks}


@router.get("/metrics", response_class=Response)
def metrics(service: ServiceDep, request: Request) -> Response:
    """Every series of docs/OPERATIONS.md; the scrape-time collectors read the state database (a
    scrape while it is down is a 503, like every other route that needs it)."""
    for check, outcome in readiness(request).items():
        service.metrics.ready.labels(check).set(0 if outcome not in ("ok", NOT_CHECKED) else 1)
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)
