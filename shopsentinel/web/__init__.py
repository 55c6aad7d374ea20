"""The alert center (可视化预警中心): server-rendered pages over the service's state, in zh-CN first
with an English switch. ``install(app, service)`` adds the pages, the static files and the error
pages to the FastAPI app; the JSON API under ``/api/v1`` is unchanged.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from shopsentinel.runtime.service import Service
from shopsentinel.store.users import ensure_bootstrap_admin
from shopsentinel.web.core import HERE, CsrfFailed, Forbidden, LoginRequired, WebState, render
from shopsentinel.web.sessions import SessionCodec


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in ("/docs", "/openapi.json", "/redoc")


def install(app: FastAPI, service: Service) -> None:
    """Mount the pages and static assets; create the bootstrap admin from the settings."""
    from shopsentinel.web import (
        pages_admin,
        pages_alerts,
        pages_config,
        pages_response,
        pages_rules,
        pages_setup,
    )

    settings = service.settings
    secret = settings.session_secret.get_secret_value().encode() if settings.session_secret else secrets.token_bytes(32)
    app.state.web = WebState(service, SessionCodec(secret, settings.session_idle_minutes * 60))
    if settings.bootstrap_admin is not None:
        with service.sessions() as session:
            ensure_bootstrap_admin(session, settings.bootstrap_admin.get_secret_value(), service.clock.now())
            session.commit()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages_admin, pages_alerts, pages_rules, pages_setup, pages_config, pages_response):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.method == "GET" and request.url.path != "/poll":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return JSONResponse({"detail": "login required"}, status_code=401)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "error.html", status_code=403, code=403, message_key="forbidden", needed=exc.needed)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        return render(request, "error.html", status_code=403, code=403, message_key="csrf_failed", needed="")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path.startswith("/static/"):
            return await http_exception_handler(request, exc)
        return render(request, "error.html", status_code=exc.status_code, code=exc.status_code, message_key="http_error",
                      detail=str(exc.detail), needed="")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return await request_validation_exception_handler(request, exc)
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return render(request, "error.html", status_code=422, code=422, message_key="invalid_input", detail=detail, needed="")


__all__ = ["install"]
