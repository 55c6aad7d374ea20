"""A fake Feishu / Lark custom bot (``POST /open-apis/bot/v2/hook/{token}``), PLATFORMS.md §10.

Unknown token → 19001; missing or wrong ``sign``, or a ``timestamp`` more than an hour off →
19021; malformed body or card → 9499 (HTTP 400); more than 5 a second or 100 a minute → 11232.
Answers carry ``code``/``msg`` plus the legacy ``StatusCode``/``StatusMessage`` on success.
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
from shopsentinel.notify.channels.feishu import sign_feishu
from shopsentinel.sim.channels.common import FakeBase, SlidingWindowLimit, injected_fault

MAX_BODY_BYTES = 20 * 1024
TIMESTAMP_WINDOW_S = 3600
MSG_TYPES = ("text", "post", "image", "share_chat", "interactive")


def _error(code: int, message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"code": code, "msg": message, "data": {}}, status_code=status)


def card_problem(card: Any) -> str | None:
    if not isinstance(card, dict):
        return "card must be an object"
    if card.get("schema") == "2.0":
        return None if isinstance(card.get("body"), dict) else "card 2.0 needs body"
    header = card.get("header", {})
    if header and not (isinstance(header.get("title"), dict) and header["title"].get("content")):
        return "card.header.title.content is required"
    elements = card.get("elements")
    if not isinstance(elements, list) or not elements:
        return "card.elements must be a non-empty list"
    for element in elements:
        if not isinstance(element, dict) or "tag" not in element:
            return "every element needs a tag"
        if element["tag"] == "action":
            for action in element.get("actions", []):
                if action.get("tag") == "button" and not (action.get("text") and (action.get("url") or action.get("value"))):
                    return "button needs text and url"
    return None


def body_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict) or payload.get("msg_type") not in MSG_TYPES:
        return "msg_type invalid"
    kind = payload["msg_type"]
    if kind == "interactive":
        return card_problem(payload.get("card"))
    content = payload.get("content")
    if not isinstance(content, dict) or not content:
        return "content is required"
    if kind == "text" and not content.get("text"):
        return "content.text is required"
    return None


class FakeFeishu(FakeBase):
    """``bots`` maps hook token → signing secret (None for a bot without signing)."""

    def __init__(
        self, bots: dict[str, str | None], *, clock: Clock | None = None, per_second: int = 5, per_minute: int = 100
    ) -> None:
        super().__init__(clock or SystemClock())
        self.bots = bots
        self.limits = (
            SlidingWindowLimit(per_second, timedelta(seconds=1)),
            SlidingWindowLimit(per_minute, timedelta(minutes=1)),
        )
        self.app = Starlette(routes=[Route("/open-apis/bot/v2/hook/{token}", self.send, methods=["POST"])])

    def _signature_ok(self, secret: str, payload: dict[str, Any]) -> bool:
        timestamp, sign = payload.get("timestamp"), payload.get("sign")
        if not isinstance(timestamp, str | int) or not isinstance(sign, str):
            return False
        try:
            timestamp_s = int(timestamp)
        except ValueError:
            return False
        if abs(self.clock.now().timestamp() - timestamp_s) > TIMESTAMP_WINDOW_S:
            return False
        return hmac.compare_digest(sign_feishu(secret, timestamp_s), sign)

    async def send(self, request: Request) -> Response:
        self.requests_seen += 1
        fault = await injected_fault(request, self.faults)
        if fault is not None:
            return fault
        token = request.path_params["token"]
        if token not in self.bots or self.faults.reject_credentials:
            return _error(19001, "param invalid: incoming webhook access token invalid")
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(9499, "Bad Request", status=400)
        secret = self.bots[token]
        if secret is not None and not (isinstance(payload, dict) and self._signature_ok(secret, payload)):
            return _error(19021, "sign match fail or timestamp is not within one hour from current time")
        if len(raw) > MAX_BODY_BYTES or body_problem(payload):
            return _error(9499, "Bad Request", status=400)
        now = self.clock.now()
        if not all([limit.allow(token, now) for limit in self.limits]):
            return _error(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[fake]")
        self.record(token, payload)
        return JSONResponse({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"})
