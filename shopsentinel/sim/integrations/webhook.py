"""Fake signed-webhook receiver (Teambition task bridge, CRM, customer-service ticketing …).

The sender signs ``"{timestamp}.{body}"`` with HMAC-SHA256 and sends ``X-ShopSentinel-Timestamp``
and ``X-ShopSentinel-Signature: sha256=<hex>``; requests older than five minutes (by the fake's
clock) or with a wrong signature get 401. ``required`` names the JSON fields a payload must carry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopsentinel.core.clock import Clock


def create_webhook_app(*, secret: str, clock: Clock, path: str = "/hook", required: tuple[str, ...] = ("event",)) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        raw = await request.body()
        stamp = request.headers.get("x-shopsentinel-timestamp", "")
        given = request.headers.get("x-shopsentinel-signature", "")
        want = "sha256=" + hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
        try:
            sent = datetime.fromtimestamp(int(stamp), UTC)
        except ValueError:
            return JSONResponse({"error": "missing timestamp"}, status_code=401)
        if abs(clock.now() - sent) > timedelta(minutes=5):
            return JSONResponse({"error": "stale timestamp"}, status_code=401)
        if not hmac.compare_digest(given, want):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        body = json.loads(raw)
        missing = [f for f in required if f not in body]
        if missing:
            return JSONResponse({"error": f"missing fields {missing}"}, status_code=422)
        request.app.state.received.append({"body": body, "idempotency_key": request.headers.get("idempotency-key", "")})
        return JSONResponse({"ok": True, "id": len(request.app.state.received)})

    app = Starlette(routes=[Route(path, receive, methods=["POST"])])
    app.state.received = []
    return app


__all__ = ["create_webhook_app"]
