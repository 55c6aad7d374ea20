"""A fake DingTalk custom robot (``POST /robot/send?access_token=...``), PLATFORMS.md §8.

Checks, in the real service's order: token (300001), signature and ±1 h timestamp window
(310000), keywords (310000), body size (460101), message shape (40035), then 20 messages per
minute per robot with a 10-minute lockout (130101). Always HTTP 200 with an ``errcode`` body.
"""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.notify.channels.dingtalk import sign_dingtalk
from shopsentinel.sim.channels.common import FakeBase, SlidingWindowLimit, injected_fault

MAX_BODY_BYTES = 20_000
TIMESTAMP_WINDOW_MS = 3_600_000
MSGTYPES = ("text", "link", "markdown", "actionCard", "feedCard")


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"errcode": code, "errmsg": message})


def shape_problem(payload: Any) -> str | None:
    """Why a body is not a valid robot message, or None."""
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    msgtype = payload.get("msgtype")
    if msgtype not in MSGTYPES:
        return f"unknown msgtype {msgtype!r}"
    content = payload.get(msgtype)
    if not isinstance(content, dict):
        return f"missing {msgtype} object"
    required = {"text": ("content",), "link": ("title", "text", "messageUrl"), "markdown": ("title", "text"),
                "actionCard": ("title", "text"), "feedCard": ("links",)}[msgtype]  # fmt: skip
    missing = [name for name in required if not content.get(name)]
    if missing:
        return f"{msgtype} is missing {', '.join(missing)}"
    if msgtype == "actionCard":
        buttons = content.get("btns")
        if buttons is None and not (content.get("singleTitle") and content.get("singleURL")):
            return "actionCard needs btns or singleTitle + singleURL"
        if buttons is not None and (
            not isinstance(buttons, list) or not buttons
            or not all(isinstance(b, dict) and b.get("title") and b.get("actionURL") for b in buttons)
        ):  # fmt: skip
            return "actionCard.btns must be [{title, actionURL}]"
    at = payload.get("at", {})
    if not isinstance(at, dict) or not isinstance(at.get("atMobiles", []), list):
        return "at must be {atMobiles: [...], isAtAll: bool}"
    return None


class FakeDingTalk(FakeBase):
    """``robots`` maps access_token → 加签 secret (None for a robot without signing)."""

    def __init__(
        self, robots: dict[str, str | None], *, clock: Clock | None = None, keywords: tuple[str, ...] = (),
        per_minute: int = 20,
    ) -> None:  # fmt: skip
        super().__init__(clock or SystemClock())
        self.robots = robots
        self.keywords = keywords
        self.limit = SlidingWindowLimit(per_minute, timedelta(minutes=1), lockout=timedelta(minutes=10))
        self.app = Starlette(routes=[Route("/robot/send", self.send, methods=["POST"])])

    def _signature_problem(self, secret: str, request: Request) -> str | None:
        timestamp, sign = request.query_params.get("timestamp"), request.query_params.get("sign")
        if not timestamp or not sign:
            return "sign not match"
        try:
            timestamp_ms = int(timestamp)
        except ValueError:
            return "invalid timestamp"
        now_ms = int(self.clock.now().timestamp() * 1000)
        if abs(now_ms - timestamp_ms) > TIMESTAMP_WINDOW_MS:
            return "invalid timestamp"
        if not hmac.compare_digest(sign_dingtalk(secret, timestamp_ms), sign):
            return "sign not match"
        return None

    async def send(self, request: Request) -> Response:
        self.requests_seen += 1
        fault = await injected_fault(request, self.faults)
        if fault is not None:
            return fault
        token = request.query_params.get("access_token", "")
        if token not in self.robots or self.faults.reject_credentials:
            return _error(300001, "token is not exist")
        secret = self.robots[token]
        if secret is not None:
            problem = self._signature_problem(secret, request)
            if problem:
                return _error(310000, f"{problem}, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _error(460101, "message too long, exceed 20000 bytes")
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(40035, "缺少参数 json")
        problem = shape_problem(payload)
        if problem:
            return _error(40035, f"不合法的参数: {problem}")
        if self.keywords and not any(k in raw.decode("utf-8") for k in self.keywords):
            return _error(310000, "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
        if not self.limit.allow(token, self.clock.now()):
            return _error(130101, "send too fast, exceed 20 times per minute")
        self.record(token, payload)
        return _error(0, "ok")
