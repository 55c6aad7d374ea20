"""Signed HTTP push for RPA tools and aggregator services (R1.2, R1.3).

``POST {prefix}/{source_id}`` with a JSON body and two headers::

    X-ShopSentinel-Timestamp: 1793520000                  (unix seconds)
    X-ShopSentinel-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is signed with the body, must be within ``window`` of the server clock, and each
signature is accepted once (replays inside the window are refused; older ones fail the window).
Each source id has its own secret and is bound to one store, so a leaked RPA secret cannot write
another store's data. Bodies carry either canonical rows or console-native rows::

    {"rows": [{"ts": "2026-11-01T20:00:00+08:00", "metric": "uv", "value": 3980, "sku": ""}]}
    {"console": "sycm", "rows": [{"统计日期": "2026-11-01", "小时": "20", "访客数": "3,980"}]}

``POST {prefix}/{source_id}/file?filename=day.xlsx`` takes a whole export file as the (signed)
body: the upload endpoint for seller-console exports.

Accepted rows become canonical points and are handed to ``on_points`` (e.g. a store upsert).

>>> body = b'{"rows": []}'
>>> sign_push("s3cret", 1793520000, body)[:7]
'sha256='
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import APIRouter, HTTPException, Request
from pydantic import SecretStr

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import ImportFileError
from shopsentinel.sources.exports.reader import parse_table, read_export
from shopsentinel.sources.hourly import points_frame

TIMESTAMP_HEADER = "X-ShopSentinel-Timestamp"
SIGNATURE_HEADER = "X-ShopSentinel-Signature"
MAX_BODY_BYTES = 5_000_000


@dataclass(frozen=True)
class PushSource:
    """One pushing tool: its secret and the store it may write."""

    secret: SecretStr
    platform: str
    store: str
    timezone: str = "Asia/Shanghai"

    def __repr__(self) -> str:
        return f"PushSource(platform={self.platform!r}, store={self.store!r})"


def sign_push(secret: str | SecretStr, timestamp: int, body: bytes) -> str:
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    digest = hmac.new(key.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass
class ReplayGuard:
    """Signatures accepted within the window; a repeat is a replay. Forgets what the window excludes."""

    window: timedelta
    seen: dict[str, datetime] = field(default_factory=dict)

    def first_time(self, signature: str, now: datetime) -> bool:
        self.seen = {s: at for s, at in self.seen.items() if now - at <= 2 * self.window}
        if signature in self.seen:
            return False
        self.seen[signature] = now
        return True


OnPoints = Callable[[str, pl.DataFrame], None]


def push_router(
    sources: Mapping[str, PushSource], on_points: OnPoints, *, clock: Clock,
    window: timedelta = timedelta(minutes=5), prefix: str = "/push", replay: ReplayGuard | None = None,
) -> APIRouter:
    """An APIRouter with ``POST {prefix}/{source_id}``; ``on_points(source_id, frame)`` stores the points."""
    router = APIRouter(prefix=prefix, tags=["push"])
    guard = replay or ReplayGuard(window)

    async def authenticated(source_id: str, request: Request) -> tuple[PushSource, bytes]:
        source = sources.get(source_id)
        body = await request.body()
        if source is None:
            raise HTTPException(404, "unknown push source")
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "body too large")
        now = clock.now()
        _verify(source, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), body, now, window)
        if not guard.first_time(str(request.headers.get(SIGNATURE_HEADER)), now):
            raise HTTPException(409, "replayed request")
        return source, body

    @router.post("/{source_id}")
    async def receive(source_id: str, request: Request) -> dict[str, Any]:
        source, body = await authenticated(source_id, request)
        try:
            frame = rows_to_points(json.loads(body), source)
        except (ValueError, KeyError, TypeError, ImportFileError) as exc:
            raise HTTPException(422, f"bad rows: {exc}") from None
        on_points(source_id, frame)
        return {"accepted": frame.height, "store": source.store}

    @router.post("/{source_id}/file")
    async def upload(source_id: str, request: Request, filename: str, console: str | None = None) -> dict[str, Any]:
        """An export file as the raw body (signed like rows); ``?filename=day.xlsx`` gives its type."""
        source, body = await authenticated(source_id, request)
        suffix = Path(filename).suffix.lower()
        if suffix not in (".csv", ".xlsx", ".xlsm"):
            raise HTTPException(422, "filename must end in .csv or .xlsx")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{suffix}"
            path.write_bytes(body)
            try:
                result = read_export(path, platform=source.platform, store=source.store, timezone=source.timezone,
                                     console=console)
            except ImportFileError as exc:  # name the uploaded file, not the temporary copy
                raise HTTPException(422, str(exc).replace(str(path), Path(filename).name)) from None
        on_points(source_id, result.frame)
        return {"accepted": result.frame.height, "store": source.store, "console": result.console}

    return router


def _verify(source: PushSource, timestamp: str | None, signature: str | None, body: bytes, now: datetime,
            window: timedelta) -> None:
    if not timestamp or not signature:
        raise HTTPException(401, f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    try:
        sent = int(timestamp)
    except ValueError:
        raise HTTPException(401, "timestamp must be unix seconds") from None
    if abs(now - datetime.fromtimestamp(sent, UTC)) > window:
        raise HTTPException(401, "timestamp outside the allowed window")
    if not hmac.compare_digest(sign_push(source.secret, sent, body), signature):
        raise HTTPException(401, "bad signature")


def rows_to_points(payload: Any, source: PushSource) -> pl.DataFrame:
    """Canonical rows, or console-native rows parsed with the seller-console export tables."""
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        raise ValueError('body must be {"rows": [...]} (optionally with "console")')
    if payload.get("console"):
        return _console_rows(str(payload["console"]), payload["rows"], source)
    rows = []
    for i, row in enumerate(payload["rows"], start=1):
        ts = datetime.fromisoformat(str(row["ts"]).replace("Z", "+00:00"))
        if ts.tzinfo is None:
            raise ValueError(f"row {i}: ts needs an offset or Z")
        value = float(row["value"])
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"row {i}: value is not a finite number")
        rows.append((ts.astimezone(UTC), str(row.get("sku") or ""), str(row["metric"]), value))
    return points_frame(rows, platform=source.platform, store=source.store)


def _console_rows(console: str, rows: list[dict[str, Any]], source: PushSource) -> pl.DataFrame:
    """Parse the rows like an uploaded export (one parser, one set of rules); row 1 is row line 2."""
    header = list(dict.fromkeys(str(name) for row in rows for name in row))
    table = [(1, header)] + [
        (i, ["" if row.get(name) is None else str(row.get(name)).strip() for name in header])
        for i, row in enumerate(rows, start=2)
    ]
    result = parse_table(table, Path("push"), platform=source.platform, store=source.store, timezone=source.timezone,
                         console=console)
    return result.frame
