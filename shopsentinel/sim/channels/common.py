"""What every fake channel shares: injected time, failure switches, rate windows, recording."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from shopsentinel.core.clock import Clock


@dataclass
class Faults:
    """Switches a test flips to make the fake misbehave (all off by default).

    ``status``: answer every request with this HTTP status (e.g. 500, 503) before any check.
    ``hang``: never answer; the request stays open until the client gives up.
    ``reject_credentials``: answer with the platform's own "bad credential" error.
    ``delay_seconds``: a slow endpoint — wait this long before handling each request normally.
    ``retry_after``: with ``status``, the ``Retry-After`` header of that answer (e.g. ``"5"`` on a 429).
    """

    status: int | None = None
    hang: bool = False
    reject_credentials: bool = False
    delay_seconds: float = 0.0
    retry_after: str | None = None


async def injected_fault(request: Request, faults: Faults) -> Response | None:
    """The response a fault switch dictates, or None to carry on normally (after ``delay_seconds``)."""
    if faults.delay_seconds > 0:
        await asyncio.sleep(faults.delay_seconds)  # the endpoint's own latency, not a test waiting
    if faults.hang:
        # Waits for the client to hang up (its timeout), polling the connection: no fixed sleep.
        while not await request.is_disconnected():
            await asyncio.sleep(0.01)
        return PlainTextResponse("client went away", status_code=499)
    if faults.status is not None:
        headers = {"Retry-After": faults.retry_after} if faults.retry_after is not None else None
        return PlainTextResponse("injected failure", status_code=faults.status, headers=headers)
    return None


@dataclass
class SlidingWindowLimit:
    """At most ``limit`` events per ``window`` per key; optionally a lockout once exceeded
    (DingTalk throttles a robot for 10 minutes after its 21st message in a minute)."""

    limit: int
    window: timedelta
    lockout: timedelta = timedelta(0)
    _events: dict[str, deque[datetime]] = field(default_factory=dict, repr=False)
    _locked_until: dict[str, datetime] = field(default_factory=dict, repr=False)

    def allow(self, key: str, now: datetime) -> bool:
        if now < self._locked_until.get(key, now):
            return False
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            if self.lockout:
                self._locked_until[key] = now + self.lockout
            return False
        events.append(now)
        return True


@dataclass(frozen=True)
class Received:
    """One accepted message, as the fake understood it."""

    credential: str
    payload: dict[str, Any]
    at: datetime
    headers: dict[str, str] = field(default_factory=dict)


class FakeBase:
    """State every fake holds: a clock, fault switches and the accepted messages."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.faults = Faults()
        self.received: list[Received] = []
        self.requests_seen = 0

    def record(self, credential: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.received.append(Received(credential, payload, self.clock.now(), dict(headers or {})))
