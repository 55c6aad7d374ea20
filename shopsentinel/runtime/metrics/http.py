"""``RequestMetrics``: a pure ASGI middleware timing every HTTP request by the *template* of the
route that answered it (``/api/v1/alerts/{alert_id}``, never the raw path, so the label set stays
bounded), the method and the status class. A request no route matched (a 404, a request shed
before routing) is ``other``."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"
Observe = Callable[[str, str, str, float], None]  # route, method, status class, seconds


def route_template(scope: Scope, root_path: str = "") -> str:
    """The path format of the route that matched ``scope`` (set by the router); for a mount (the
    static files), its prefix + ``/{path}`` (the router extends ``root_path`` by it); else ``other``.
    ``root_path``: the scope's root path before routing."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    mounted = str(scope.get("root_path", ""))
    if len(mounted) > len(root_path) and mounted.startswith(root_path):
        return f"{mounted[len(root_path):]}/{{path}}"
    return OTHER


class RequestMetrics:
    def __init__(self, app: ASGIApp, observe: Observe) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 500  # an exception before the response started is answered 500 further out

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            method = scope.get("method", "")
            self.observe(route_template(scope, root_path), method if method in METHODS else OTHER, f"{status // 100}xx",
                         time.perf_counter() - started)


__all__ = ["OTHER", "RequestMetrics", "route_template"]
