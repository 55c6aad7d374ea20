"""Faults any fake platform server can inject, whatever its protocol: dropped connections.

:class:`DropConnections` is a plain ASGI middleware. While its :class:`ConnectionDropper` has drops
pending, a request gets the status line and headers (announcing a body) and then nothing: the
app returns without a body, so uvicorn closes the socket mid-response and the client sees what a
real dropped connection looks like (httpx ``RemoteProtocolError``: peer closed connection without
sending the complete message body). The request is *not* passed on: the fake's data and rate
limits are untouched by it, like a proxy or load balancer failing in front of the platform.

>>> dropper = ConnectionDropper()
>>> dropper.drop_next(2, after=1); [dropper.take() for _ in range(4)], dropper.dropped
([False, True, True, False], 2)
"""

from __future__ import annotations

import threading
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


class ConnectionDropper:
    """The switch tests flip: ``drop_next(n)`` drops the next ``n`` HTTP requests (thread-safe)."""

    def __init__(self) -> None:
        self.pending = 0
        self.skip = 0
        self.dropped = 0
        self.method: str | None = None
        self.path: str | None = None
        self._lock = threading.Lock()

    def drop_next(self, count: int = 1, *, after: int = 0, method: str | None = None, path: str | None = None) -> None:
        """Drop ``count`` requests, after letting the next ``after`` through (e.g. a token call);
        with ``method``/``path``, only requests of that method and exact path count."""
        with self._lock:
            self.pending += count
            self.skip, self.method, self.path = after, method, path

    def take(self, method: str = "GET", path: str = "/") -> bool:
        """True if this request is to be dropped."""
        with self._lock:
            if self.pending <= 0:
                return False
            if (self.method is not None and method != self.method) or (self.path is not None and path != self.path):
                return False
            if self.skip > 0:
                self.skip -= 1
                return False
            self.pending -= 1
            self.dropped += 1
            return True


class DropConnections:
    """ASGI middleware: ``app.add_middleware(DropConnections, dropper=ConnectionDropper())``."""

    def __init__(self, app: ASGIApp, dropper: ConnectionDropper) -> None:
        self.app, self.dropper = app, dropper

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.dropper.take(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")]})
        # returning without the announced body makes the server abort the connection


def install_dropper(app: Any) -> ConnectionDropper:
    """Add the middleware to a Starlette app; the dropper is also ``app.state.drops``."""
    dropper = ConnectionDropper()
    app.add_middleware(DropConnections, dropper=dropper)
    app.state.drops = dropper
    return dropper
