"""Resend an idempotent read whose connection dropped mid-request.

A platform (or a proxy in front of it) sometimes closes the connection before the response is
complete: httpx raises ``RemoteProtocolError`` (peer closed without a full response), ``ReadError``
(reset while reading), ``WriteError`` or ``ConnectError``. For a *read* nothing was changed on the
platform, so the request is simply sent again — freshly signed, on a new connection — after a short
backoff, a bounded number of times. When every attempt drops, :class:`ConnectionDroppedError`
surfaces: a recoverable :class:`~shopsentinel.core.errors.SourceError` the sync engine backs off
on and re-reads from the persisted cursor.

Never wrap a call that spends something (a token refresh, a write): it might have happened.

>>> import asyncio, httpx
>>> calls = []
>>> async def send() -> httpx.Response:
...     calls.append(1)
...     if len(calls) < 3:
...         raise httpx.RemoteProtocolError("peer closed connection")
...     return httpx.Response(200)
>>> async def no_wait(seconds: float) -> None:
...     pass
>>> asyncio.run(resend_dropped(send, what="demo", sleep=no_wait)).status_code, len(calls)
(200, 3)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from shopsentinel.core.errors import SourceError
from shopsentinel.sources.kit.pacing import Sleep

# What a dropped connection looks like to httpx; timeouts and protocol violations are not drops.
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)
DEFAULT_ATTEMPTS = 4
DEFAULT_BACKOFF_SECONDS = 0.5


class ConnectionDroppedError(SourceError):
    """Every attempt of an idempotent read lost its connection; retrying later can help."""

    recoverable = True

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


async def resend_dropped(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    what: str,
    sleep: Sleep,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
) -> httpx.Response:
    """``await send()``, sending again (after ``backoff · 2^n`` seconds) while the connection drops.

    ``send`` must build the request afresh each time (signatures carry timestamps)."""
    for attempt in range(1, attempts + 1):
        try:
            return await send()
        except DROPPED as exc:
            if attempt == attempts:
                raise ConnectionDroppedError(
                    f"{what}: connection dropped {attempts}× ({type(exc).__name__})", attempts
                ) from exc
            await sleep(backoff_seconds * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
