"""Logging: set up once per process (``serve``, the CLI, backtest workers), one handler on the root
logger for everything — our loggers, uvicorn's, httpx/httpcore — with the secret redaction
(:mod:`shopsentinel.core.redaction`) and the request id on every record.

* ``SHOPSENTINEL_LOG_LEVEL`` (default ``INFO``) and ``SHOPSENTINEL_LOG_FORMAT`` (``text`` default,
  or ``json``: one object per line with ``time`` (UTC ISO-8601), ``level``, ``logger``, ``message``,
  ``request_id`` when there is one, ``exception`` when there is one, and the record's extra fields).
* :class:`RequestIdMiddleware` (pure ASGI) takes a sane ``X-Request-ID`` from the request or makes one,
  keeps it in :data:`request_id` for the request's logs, echoes it in the response and logs one access
  line per request (method, path without the query string, route, status, duration in ms).

>>> import io, json
>>> stream = io.StringIO()
>>> handler = configure_logging("INFO", "json", stream=stream)
>>> logging.getLogger("demo").info("hello %s", "world")
>>> json.loads(stream.getvalue())["message"]
'hello world'
>>> remove_logging(handler)
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import BaseModel, SecretStr, ValidationError

from shopsentinel.core.redaction import RedactingFilter, redact, register_model_secrets, register_secret
from shopsentinel.core.settings import LogSettings

request_id: ContextVar[str | None] = ContextVar("shopsentinel_request_id", default=None)

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
ACCESS_LOGGER = "shopsentinel.access"

# Third-party loggers that are noise (or leak) even at DEBUG: SQLAlchemy logs every statement with its
# parameters and result rows once the root is at DEBUG; matplotlib and PIL their font and plugin scans.
QUIET_LOGGERS: dict[str, int] = {
    "sqlalchemy": logging.WARNING,
    "alembic": logging.WARNING,
    "matplotlib": logging.WARNING,
    "PIL": logging.WARNING,
    "multipart": logging.WARNING,
    "python_multipart": logging.WARNING,
    "asyncio": logging.WARNING,
    "aiosqlite": logging.WARNING,
}

# LogRecord attributes that are not "extra" fields.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "request_id", "rid", "color_message"}  # uvicorn's unformatted coloured copy


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it is a usable request id (1–128 of ``A-Z a-z 0-9 . _ : -``), else None."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or None) on every record as ``record.request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


def _utc_iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id?, exception?, stack?,
    then the record's extra fields (values that are not JSON become their ``str``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in entry:
                entry[key] = redact(value) if isinstance(value, str) else value
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-12-07T16:49:30.123Z INFO    shopsentinel.access [rid] message``, then the traceback."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(rid)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _utc_iso(record.created)

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.rid = f" [{rid}]" if rid else ""
        return super().format(record)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


class _ShopSentinelHandler:
    """Marks the handler :func:`configure_logging` installed, so a second call replaces it."""


def configure_logging(level: str = "INFO", fmt: str = "text", *, stream: IO[str] | None = None) -> logging.Handler:
    """Install the one root handler (replacing one installed before): ``fmt`` ``text`` or ``json``,
    secret redaction and the request id as handler filters, ``level`` on the root logger, the noisy
    third-party loggers at WARNING. Returns the handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_shopsentinel", False)]:
        remove_logging(old)
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler._shopsentinel = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        child = logging.getLogger(name)
        child.handlers.clear()  # uvicorn's own config, if it ran, would bypass ours
        child.propagate = True
    for other in root.handlers:  # e.g. a test runner's capture handler: redacted too
        if not any(isinstance(f, RedactingFilter) for f in other.filters):
            other.addFilter(RedactingFilter())
    logging.captureWarnings(True)
    return handler


def remove_logging(handler: logging.Handler) -> None:
    """Take a handler from :func:`configure_logging` off the root logger again."""
    logging.getLogger().removeHandler(handler)
    handler.close()


def configure_from_settings(settings: BaseModel) -> logging.Handler:
    """:func:`configure_logging` with a settings object's ``log_level``/``log_format``, after
    registering every ``SecretStr`` of the settings with the redaction (bootstrap token, session
    secret, bootstrap admin and its password alone, push-source secrets, …)."""
    register_model_secrets(settings)
    admin = getattr(settings, "bootstrap_admin", None)  # "user:password"
    if isinstance(admin, SecretStr) and ":" in admin.get_secret_value():
        register_secret(admin.get_secret_value().split(":", 1)[1])
    return configure_logging(str(getattr(settings, "log_level", "INFO")), str(getattr(settings, "log_format", "text")))


def configure_from_env() -> logging.Handler:
    """For the CLI and worker processes: the logging settings from the environment (or ``.env``);
    invalid values are refused in Chinese first, then English."""
    try:
        settings = LogSettings()
    except ValidationError as exc:
        names = ", ".join(f"SHOPSENTINEL_{str(e['loc'][0]).upper()}" for e in exc.errors() if e["loc"])
        raise ValueError(f"日志设置无效：{names}（级别 DEBUG/INFO/WARNING/ERROR/CRITICAL，格式 text/json）/ "
                         f"invalid logging settings: {names} (level DEBUG/INFO/WARNING/ERROR/CRITICAL, "
                         f"format text/json)") from None
    return configure_from_settings(settings)


def configure_worker() -> None:
    """``ProcessPoolExecutor(initializer=…)`` of spawned workers (the backtest's shards): the same set-up
    as the parent from the environment; invalid settings fall back to the defaults (the parent has
    already refused them)."""
    try:
        configure_from_env()
    except ValueError:
        configure_logging()


# --- the request id and the access line ----------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger(ACCESS_LOGGER)


class RequestIdMiddleware:
    """Pure ASGI: the request's id (a sane ``X-Request-ID`` it brought, else a new one) in
    :data:`request_id` while the request runs, in the response's ``X-Request-ID`` header, and one
    access line per request: ``GET /api/v1/alerts 200 3.1 ms`` with ``method``, ``path`` (never the
    query string: action links carry their token there), ``route`` (the matched template, if any),
    ``status`` and ``duration_ms`` as extra fields."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k == REQUEST_ID_HEADER.encode()), b"")
        rid = sane_request_id(given.decode("latin-1")) or new_request_id()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500  # unless the app answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER.encode()]
                headers.append((REQUEST_ID_HEADER.encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._access(scope, status, (time.perf_counter() - started) * 1000)
        request_id.reset(token)  # on an exception it stays set, so the server's error line carries it too

    @staticmethod
    def _access(scope: Scope, status: int, duration_ms: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) if route is not None else None
        method, path = scope.get("method", "?"), scope.get("path", "")
        access_log.info("%s %s %d %.1f ms", method, path, status, duration_ms,
                        extra={"method": method, "path": path, "route": template, "status": status,
                               "duration_ms": round(duration_ms, 1)})


__all__ = ["ACCESS_LOGGER", "QUIET_LOGGERS", "REQUEST_ID_HEADER", "JsonFormatter", "RequestIdFilter",
           "RequestIdMiddleware", "TextFormatter", "configure_from_env", "configure_worker", "configure_from_settings",
           "configure_logging", "new_request_id", "remove_logging", "request_id", "sane_request_id"]
