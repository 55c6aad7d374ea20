"""``create_app``: the one module that wires the live service (runtime), the API and the web
alert center together. Everything below it imports only the layers beneath it (see
``[tool.importlinter]`` in pyproject.toml and docs/ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shopsentinel.api.routes import ROUTERS
from shopsentinel.api.routes.push import build_push_router
from shopsentinel.core.clock import Clock
from shopsentinel.core.settings import Settings
from shopsentinel.notify.outbox import Dispatcher
from shopsentinel.runtime.scheduler import BackgroundRunner
from shopsentinel.runtime.service import build_service
from shopsentinel.web import install as install_web


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    dispatcher: Dispatcher | None = None,
    background: bool = True,
) -> FastAPI:
    """The ASGI app. ``background=False`` (tests) leaves ticking to the caller:
    ``app.state.service.tick()``."""
    service = build_service(settings or Settings(), clock=clock, dispatcher=dispatcher)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runner = None
        if background:
            runner = BackgroundRunner(service.scheduler, after_tick=service.background_tick, limit=service.settings.stores_per_shard)
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
    )
    app.state.service = service
    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(DBAPIError, _database_down_if_disconnected)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(build_push_router(service))
    install_web(app, service)  # the alert center (pages under /, assets under /static)
    return app



def _unavailable(detail: str, retry_after: int) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after)})


async def _busy(_request: Request, _exc: Exception) -> JSONResponse:
    """Every database connection is in use: the client retries shortly instead of timing out."""
    return _unavailable("服务繁忙，请稍后重试 / busy, retry shortly", 1)


async def _database_down(_request: Request, _exc: Exception) -> JSONResponse:
    """The state database cannot be reached: 503, not 500; the service recovers by itself."""
    return _unavailable("数据库暂不可用，请稍后重试 / database unavailable, retry shortly", 5)


async def _database_down_if_disconnected(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return await _database_down(request, exc)
    raise exc


__all__ = ["create_app"]
