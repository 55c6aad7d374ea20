"""Pieces every fake router server shares: the gate (key, sign, time, rate, token), credentials, paging, projection."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute

from shopsentinel.core.clock import Clock

T = TypeVar("T")
Json = dict[str, Any]


@dataclass
class RateLimit:
    """At most ``calls`` per ``per_seconds`` of the fake's clock; past that, a ban of ``ban_seconds``."""

    calls: int
    per_seconds: float = 1.0
    ban_seconds: float = 3.0


class RateLimiter:
    def __init__(self, clock: Clock, limit: RateLimit | None) -> None:
        self.clock, self.limit = clock, limit
        self._window_start: datetime | None = None
        self._count = 0
        self._banned_until: datetime | None = None

    def ban_remaining(self) -> float:
        """0 if the call may proceed, else the seconds left on the ban (counting this call)."""
        if self.limit is None:
            return 0.0
        now = self.clock.now()
        if self._banned_until is not None and now < self._banned_until:
            return (self._banned_until - now).total_seconds()
        if self._window_start is None or now - self._window_start >= timedelta(seconds=self.limit.per_seconds):
            self._window_start, self._count = now, 0
        self._count += 1
        if self._count > self.limit.calls:
            self._banned_until = now + timedelta(seconds=self.limit.ban_seconds)
            return self.limit.ban_seconds
        return 0.0


@dataclass
class Credentials:
    """Access tokens with expiry, and refresh tokens that rotate on use."""

    clock: Clock
    token_ttl: timedelta
    access: dict[str, datetime] = field(default_factory=dict)
    refresh: set[str] = field(default_factory=set)
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def issue(cls, clock: Clock, access_token: str, refresh_token: str, token_ttl: timedelta) -> Credentials:
        creds = cls(clock, token_ttl)
        creds.access[access_token] = clock.now() + token_ttl
        creds.refresh.add(refresh_token)
        return creds

    def check(self, token: str | None) -> str:
        """'ok', 'missing', 'unknown' or 'expired'."""
        if not token:
            return "missing"
        if token not in self.access:
            return "unknown"
        return "ok" if self.clock.now() < self.access[token] else "expired"

    def rotate(self, refresh_token: str) -> tuple[str, str] | None:
        """Spend a refresh token: new (access, refresh) pair, or None if it is not valid."""
        if refresh_token not in self.refresh:
            return None
        self.refresh.discard(refresh_token)
        n = next(self._counter)
        access, refresh = f"access-{n}", f"refresh-{n}"
        self.access[access] = self.clock.now() + self.token_ttl
        self.refresh.add(refresh)
        return access, refresh


@dataclass
class CallLog:
    """What the fake was asked, for tests to assert on (method, page)."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]


async def form_of(request: Request) -> dict[str, str]:
    """Query string and form body merged (the routers accept both)."""
    params = dict(request.query_params)
    form = await request.form()
    params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def page_of(items: Sequence[T], page: int, page_size: int) -> tuple[list[T], int, bool]:
    """(items of 1-based ``page``, total, has_next)."""
    begin = (page - 1) * page_size
    chunk = list(items[begin : begin + page_size])
    return chunk, len(items), begin + page_size < len(items)


def project(record: Json, fields: Iterable[str]) -> Json:
    """Only the requested top-level fields, like TOP ``fields`` / JD ``optional_fields``."""
    wanted = {name.strip() for name in fields if name.strip()}
    return {name: value for name, value in record.items() if name in wanted}


def between(moment: datetime, start: datetime, end: datetime) -> bool:
    """Inclusive on both ends, like the platforms' time filters."""
    return start <= moment <= end


def sorted_by(items: Iterable[T], key: Callable[[T], Any], *, newest_first: bool = False) -> list[T]:
    return sorted(items, key=key, reverse=newest_first)


class Rejected(Exception):
    """Why the gate refused a call; each fake turns ``kind`` into its own error envelope.

    kinds: app_key_missing, app_key_invalid, sign_invalid, timestamp_invalid, throttled,
    token_missing, token_unknown, token_expired.
    """

    def __init__(self, kind: str, ban_seconds: float = 0.0) -> None:
        super().__init__(kind)
        self.kind = kind
        self.ban_seconds = ban_seconds


@dataclass
class Gate:
    """The checks every router does before looking at the method, in the platforms' order:
    app key → signature → timestamp window → rate limit → access token."""

    app_key: str
    clock: Clock
    tolerance: timedelta
    limiter: RateLimiter
    credentials: Credentials

    def check(
        self, sent_app_key: str | None, sign_ok: bool, sent_at: datetime | None, token: str | None, needs_token: bool
    ) -> None:
        if not sent_app_key:
            raise Rejected("app_key_missing")
        if sent_app_key != self.app_key:
            raise Rejected("app_key_invalid")
        if not sign_ok:
            raise Rejected("sign_invalid")
        if sent_at is None or abs(sent_at - self.clock.now()) > self.tolerance:
            raise Rejected("timestamp_invalid")
        ban = self.limiter.ban_remaining()
        if ban > 0:
            raise Rejected("throttled", ban)
        state = self.credentials.check(token) if needs_token else "ok"
        if state != "ok":
            raise Rejected(f"token_{state}")


@dataclass
class RouterFake:
    """What every fake router (TOP, JOS, PDD) keeps: its call log, the live tokens and the gate."""

    log: CallLog
    credentials: Credentials
    gate: Gate

    @classmethod
    def open(
        cls, *, app_key: str, clock: Clock, access_token: str, refresh_token: str, token_ttl: timedelta,
        tolerance: timedelta, rate_limit: RateLimit | None,
    ) -> RouterFake:
        credentials = Credentials.issue(clock, access_token, refresh_token, token_ttl)
        return cls(CallLog(), credentials, Gate(app_key, clock, tolerance, RateLimiter(clock, rate_limit), credentials))

    def app(self, routes: Sequence[BaseRoute]) -> Starlette:
        """The Starlette app; tests read ``app.state.log`` and ``app.state.credentials``."""
        app = Starlette(routes=list(routes))
        app.state.log = self.log
        app.state.credentials = self.credentials
        return app


def parsed_or_none(parse: Callable[[str], datetime], text: str) -> datetime | None:
    """A sent timestamp, or None when it does not parse (the gate then rejects it)."""
    try:
        return parse(text)
    except ValueError:
        return None
