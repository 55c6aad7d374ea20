"""A fake WeCom group robot (``POST /cgi-bin/webhook/send?key=...``), PLATFORMS.md §9.

Unknown key → 93000; bad msgtype → 40008; empty content → 44004; markdown over 4096 bytes →
40058; more than 20 messages a minute → 45009. HTTP 200 with ``errcode`` bodies whose
``errmsg`` carries a hint and help link, like the real service.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.sim.channels.common import FakeBase, SlidingWindowLimit, injected_fault

MSGTYPES = ("text", "markdown", "image", "news", "file", "voice", "template_card")
CONTENT_LIMITS = {"text": 2048, "markdown": 4096}


def _error(code: int, message: str) -> JSONResponse:
    hint = f"{message}, hint: [1700000000_fake], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
    return JSONResponse({"errcode": code, "errmsg": "ok" if code == 0 else hint})


def shape_error(payload: Any) -> tuple[int, str] | None:
    if not isinstance(payload, dict) or payload.get("msgtype") not in MSGTYPES:
        return 40008, "invalid message type"
    msgtype = payload["msgtype"]
    body = payload.get(msgtype)
    if not isinstance(body, dict):
        return 44004, "empty content"
    if msgtype in CONTENT_LIMITS:
        content = body.get("content")
        if not isinstance(content, str) or not content:
            return 44004, "empty content"
        limit = CONTENT_LIMITS[msgtype]
        if len(content.encode("utf-8")) > limit:
            return 40058, f"{msgtype}.content exceed max length {limit}"
    return None


class FakeWeCom(FakeBase):
    """``keys`` are the robot keys that exist."""

    def __init__(self, keys: set[str], *, clock: Clock | None = None, per_minute: int = 20) -> None:
        super().__init__(clock or SystemClock())
        self.keys = keys
        self.limit = SlidingWindowLimit(per_minute, timedelta(minutes=1))
        self.app = Starlette(routes=[Route("/cgi-bin/webhook/send", self.send, methods=["POST"])])

    async def send(self, request: Request) -> Response:
        self.requests_seen += 1
        fault = await injected_fault(request, self.faults)
        if fault is not None:
            return fault
        key = request.query_params.get("key", "")
        if key not in self.keys or self.faults.reject_credentials:
            return _error(93000, "invalid webhook url")
        try:
            payload = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(40008, "invalid message type")
        problem = shape_error(payload)
        if problem:
            return _error(*problem)
        if not self.limit.allow(key, self.clock.now()):
            return _error(45009, "api freq out of limit")
        self.record(key, payload)
        return _error(0, "ok")
