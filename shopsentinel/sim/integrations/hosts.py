"""One ASGI app in front of several fakes, dispatching on the ``Host`` header."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HostRouter:
    def __init__(self, apps: dict[str, ASGIApp]) -> None:
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").split(":")[0]
        app = self.apps.get(host)
        if app is None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 421, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": f"no fake serves {host!r}".encode()})
            return
        await app(scope, receive, send)


__all__ = ["HostRouter"]
