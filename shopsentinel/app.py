"""``create_app``: the one module that wires the live service (runtime), the API and the web
alert center together. Everything below it imports only the layers beneath it (see
``[tool.importlinter]`` in pyproject.toml and docs/ARCHITECTURE.md)."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopsentinel.api import docs_ui
from shopsentinel.api.admission import Admission, content_length
from shopsentinel.api.provisioning.startup import provision
from shopsentinel.api.routes import ROUTERS
from shopsentinel.api.routes.push import build_push_router
from shopsentinel.core.clock import Clock
from shopsentinel.core.logs import RequestIdMiddleware
from shopsentinel.core.settings import Settings
from shopsentinel.notify.outbox import Dispatcher
from shopsentinel.runtime.metrics import RequestMetrics
from shopsentinel.runtime.scheduler import BackgroundRunner
from shopsentinel.runtime.service import build_service
from shopsentinel.store.db import DatabaseContact
from shopsentinel.web import install as install_web

SWITCH_INTERVAL_SECONDS = 0.001


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    dispatcher: Dispatcher | None = None,
    background: bool = True,
) -> FastAPI:
    """The ASGI app. ``background=False`` (tests) leaves ticking to the caller:
    ``app.state.service.tick()``."""
    settings = settings or Settings()
    if background:
        # the event loop (probes, admission's 503s, every request's first bytes) shares the interpreter lock
        # with the evaluation and request threads: hand it over every millisecond instead of every five, so
        # /healthz stays quick while the threads are busy
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))
    if settings.broker_url:  # points are written by several processes: no point cache (runtime/distributed)
        settings = settings.model_copy(update={"point_cache_stores": 0})
    service = build_service(settings, clock=clock, dispatcher=dispatcher)
    try:
        provision(service)  # SHOPSENTINEL_PROVISIONING_DIR: all files applied in one transaction, or none
    except Exception:
        service.close()
        raise
    if service.settings.broker_url:  # scale-out (docs/DEPLOY.md): workers judge and deliver, the scheduler role leads
        from shopsentinel.runtime.distributed.celery_app import TaskSender
        from shopsentinel.runtime.distributed.monitor import BrokerCollector
        from shopsentinel.runtime.distributed.shards import all_queues
        from shopsentinel.runtime.distributed.tasks import use_broker

        sender = TaskSender.from_settings(service.settings)
        use_broker(service, sender)
        service.metrics.registry.register(BrokerCollector(sender.app, all_queues(service.settings.shards)))
        background = False  # no background runner here; /readyz does not wait for its ticks

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runner = None
        if background:
            runner = BackgroundRunner(service.scheduler, after_tick=service.background_tick, limit=service.settings.stores_per_shard)
            # everything imported and built so far lives as long as the process: out of the collector's
            # sight, so a full collection under load scans the request's garbage, not every module (its
            # pauses stall the event loop and /healthz with it)
            gc.freeze()
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()
            service.close()

    app = FastAPI(
        title="ShopSentinel",
        description="多平台店铺异常预警 — multi-platform store alerting API",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load from a CDN; docs_ui serves them from the installed package
        redoc_url=None,
    )
    app.state.service = service
    app.state.background = background  # /readyz checks the background runner's heartbeat only when there is one
    app.state.database_contact = DatabaseContact.watch(service.engine)  # /healthz answers from it, not the pool
    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(DBAPIError, _database_down_if_disconnected)
    app.add_exception_handler(UnicodeEncodeError, _invalid_unicode)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(build_push_router(service))
    docs_ui.install(app)  # /docs, /redoc: public as before, assets under /docs/assets
    install_web(app, service)  # the alert center (pages under /, assets under /static)
    settings_ = service.settings
    app.add_middleware(BodyLimit, limit=settings_.max_body_bytes,
                       larger={IMPORT_PATH: settings_.max_upload_bytes + UPLOAD_FRAMING_BYTES})
    app.add_middleware(Admission, max_in_flight=settings_.max_ingest_in_flight,  # shed before reading a body
                       on_refused=service.metrics.refused, judging=service.scheduler.judging_news)
    app.add_middleware(RequestMetrics, observe=service.metrics.observe_request)  # latency by route template
    app.add_middleware(SecurityHeaders)  # outermost: the 413 above carries the headers too
    app.add_middleware(RequestIdMiddleware)  # X-Request-ID on every response and log record, one access line each
    return app


IMPORT_PATH = "/api/v1/imports"
UPLOAD_FRAMING_BYTES = 1024 * 1024  # multipart boundaries and the small form fields around an upload

# The alert center is one stylesheet and one deferred script from /static, fetch() to its own origin
# and inline SVG charts: no inline <script> or <style> element. Its templates and the efficacy
# heatmap do set ``style="…"`` attributes (legend swatches, cell shading), so inline *attributes* are
# allowed (``style-src-attr``), never inline style elements or scripts.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# The interactive docs (docs_ui): Swagger UI and ReDoc from our own origin, the one inline start script by hash.
DOCS_CONTENT_SECURITY_POLICY = docs_ui.CONTENT_SECURITY_POLICY
DOCS_PATHS = docs_ui.DOCS_PATHS
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    """Pure ASGI: Content-Security-Policy (with ``frame-ancestors 'none'``), nosniff, Referrer-Policy
    and X-Frame-Options on every HTTP response the app sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_CONTENT_SECURITY_POLICY if scope["path"] in DOCS_PATHS else CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in _SECURITY_HEADER_NAMES]
                headers.append((b"content-security-policy", policy.encode()))
                headers.extend(SECURITY_HEADERS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_SECURITY_HEADER_NAMES = frozenset({b"content-security-policy", *(k for k, _ in SECURITY_HEADERS)})


class _BodyTooLarge(Exception):
    """Raised into the app from ``receive`` once the streamed body passes the limit."""


class BodyLimit:
    """Pure ASGI: a request body larger than the limit is refused with 413 before it is parsed and
    before any token is checked — at once when ``Content-Length`` says so, otherwise as soon as the
    streamed (e.g. chunked) bytes pass the limit; the rest is never read and the connection is closed.
    ``larger`` gives a few paths (the export upload) their own, larger limit."""

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"].rstrip("/") or "/", self.limit)
        declared = content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app made of the cut-off body (400, 422, …), the answer is 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"请求体过大，上限 {limit} 字节 / request body too large, at most {limit} bytes"},
                      ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]})
    await send({"type": "http.response.body", "body": body})



def _unavailable(detail: str, retry_after: int) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after)})


async def _busy(_request: Request, _exc: Exception) -> JSONResponse:
    """Every database connection is in use: the client retries shortly instead of timing out."""
    return _unavailable("服务繁忙，请稍后重试 / busy, retry shortly", 1)


async def _database_down(_request: Request, _exc: Exception) -> JSONResponse:
    """The state database cannot be reached: 503, not 500; the service recovers by itself."""
    return _unavailable("数据库暂不可用，请稍后重试 / database unavailable, retry shortly", 5)


async def _invalid_unicode(_request: Request, _exc: Exception) -> JSONResponse:
    """A string with a lone surrogate (JSON ``"\\ud800"``) cannot be stored or sent back as UTF-8:
    the client's input is at fault, so 422, not 500."""
    return JSONResponse({"detail": "请求含无效 Unicode（孤立代理项） / the request holds invalid Unicode "
                                   "(a lone surrogate)"}, status_code=422)


async def _database_down_if_disconnected(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return await _database_down(request, exc)
    raise exc


__all__ = ["BodyLimit", "SecurityHeaders", "create_app"]
