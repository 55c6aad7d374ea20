"""A fake Slack incoming webhook (``POST /services/T/B/secret``), PLATFORMS.md §12.

Real HTTP codes with plain-text bodies: 404 ``no_service`` for an unknown hook, 400
``invalid_payload`` / ``no_text``, 410 ``channel_is_archived``, 429 with ``Retry-After`` past
``per_second`` messages in a second. Success is 200 ``ok``.
"""

from __future__ import annotations

import json
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.sim.channels.common import FakeBase, SlidingWindowLimit, injected_fault


class FakeSlack(FakeBase):
    """``hooks`` are the ``T…/B…/secret`` paths that exist."""

    def __init__(self, hooks: set[str], *, clock: Clock | None = None, per_second: int = 1) -> None:
        super().__init__(clock or SystemClock())
        self.hooks = hooks
        self.archived: set[str] = set()
        self.limit = SlidingWindowLimit(per_second, timedelta(seconds=1))
        self.app = Starlette(routes=[Route("/services/{hook:path}", self.send, methods=["POST"])])

    async def send(self, request: Request) -> Response:
        self.requests_seen += 1
        fault = await injected_fault(request, self.faults)
        if fault is not None:
            return fault
        hook = request.path_params["hook"]
        if hook not in self.hooks or self.faults.reject_credentials:
            return PlainTextResponse("no_service", status_code=404)
        if hook in self.archived:
            return PlainTextResponse("channel_is_archived", status_code=410)
        try:
            payload = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("blocks", []), list):
            return PlainTextResponse("invalid_payload", status_code=400)
        if not payload.get("text") and not payload.get("blocks"):
            return PlainTextResponse("no_text", status_code=400)
        if not self.limit.allow(hook, self.clock.now()):
            return PlainTextResponse("rate_limited", status_code=429, headers={"Retry-After": "1"})
        self.record(hook, payload)
        return PlainTextResponse("ok")
