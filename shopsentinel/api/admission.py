"""Load shedding for the write paths: a bounded number of ingest requests in flight.

Under a 双11 burst the points routes are what floods the process: each request parses, validates
and upserts its batch on a thread of the shared pool, and with no bound every request queues for a
thread and then for a database connection until clients time out and probes (``/healthz``, the
alert pages) wait behind them. :class:`Admission` admits at most ``max_in_flight`` write requests at
once; the next one is answered at once with 503 and ``Retry-After`` (the client retries, nothing is
lost: the batch was never read), so the requests that are admitted finish quickly, a fresh store's
crash waits seconds instead of minutes, and everything else keeps its threads.

Small requests get a lane of their own: ``reserved_small`` of the slots are kept for bodies of at
most ``small_bytes`` (by ``Content-Length``). A live sync of one store's last hour is a few hundred
bytes; a backfill or a bulk export is tens of kilobytes per batch. Under a burst of bulk batches the
live updates — where a crash shows first — still find a free slot.

A pure ASGI middleware: the refused body is never read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

WRITE_PREFIXES = ("/api/v1/points", "/api/v1/push", "/api/v1/imports")


class Admission:
    """Admit at most ``max_in_flight`` POSTs to ``prefixes`` at once; refuse the rest with 503."""

    def __init__(self, app: ASGIApp, max_in_flight: int, retry_after: int = 1,
                 prefixes: tuple[str, ...] = WRITE_PREFIXES, small_bytes: int = 16 * 1024,
                 reserved_small: int | None = None, on_refused: Callable[[], object] | None = None,
                 judging: Callable[[], bool] | None = None) -> None:
        self.app = app
        # while fresh data waits to be judged (or is being judged), bulk writes go one at a time: the CPU
        # they would take is what tells the team about a crash a few seconds sooner; backfills slow, never stop
        self.judging = judging
        self.on_refused = on_refused  # told of every shed request (the service's metrics)
        self.max_in_flight = max_in_flight
        self.small_bytes = small_bytes
        # a quarter of the slots (at least one, never all) are kept for small requests
        self.reserved_small = (max(1, max_in_flight // 4) if reserved_small is None else reserved_small) \
            if max_in_flight > 1 else 0
        self.retry_after = retry_after
        self.prefixes = prefixes
        self._in_flight = 0
        self._lock = threading.Lock()
        self.refused = 0  # how many requests were shed (for metrics and tests)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        length = content_length(scope)
        small = length is not None and length <= self.small_bytes
        limit = self.max_in_flight if small else self.max_in_flight - self.reserved_small
        if not small and self.judging is not None and self.judging():
            limit = min(limit, 1)
        with self._lock:
            admitted = self._in_flight < limit
            if admitted:
                self._in_flight += 1
            else:
                self.refused += 1
        if not admitted:
            if self.on_refused is not None:
                self.on_refused()
            await self._busy(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _busy(self, send: Send) -> None:
        body = json.dumps({"detail": "服务繁忙，请稍后重试（数据未丢失，请按 Retry-After 重发）/ "
                                     "busy, retry after Retry-After seconds (nothing was stored)"},
                          ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(self.retry_after).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})


def content_length(scope: Scope) -> int | None:
    """The request's declared ``Content-Length`` (None when absent, chunked or not a sane number)."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else None
    return None


__all__ = ["WRITE_PREFIXES", "Admission", "content_length"]
