"""Injected clocks: the wall clock for the service, a manual clock for tests and backtests, an
accelerated clock for the live demo."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to.

    >>> c = ManualClock(datetime(2026, 11, 11, tzinfo=UTC))
    >>> c.advance(timedelta(hours=1)).hour
    1
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        self._now = self._now + delta
        return self._now


class AcceleratedClock:
    """Simulated time running ``speed`` times faster than the wall clock (the live demo: 3600 = one
    simulated hour per second). It stands still at ``origin`` until :meth:`start`.

    >>> c = AcceleratedClock(datetime(2026, 11, 11, tzinfo=UTC), speed=3600)
    >>> c.now() == datetime(2026, 11, 11, tzinfo=UTC)
    True
    """

    def __init__(self, origin: datetime, speed: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if origin.tzinfo is None:
            raise ValueError("AcceleratedClock needs a timezone-aware origin")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._origin = origin.astimezone(UTC)
        self._speed = speed
        self._monotonic = monotonic
        self._started: float | None = None
        self._frozen: datetime | None = None

    def start(self) -> None:
        if self._started is None:
            self._started = self._monotonic()

    def freeze(self) -> datetime:
        """Stop the simulated time where it is (the stream ended; the service drains at that time)."""
        if self._frozen is None:
            self._frozen = self.now()
        return self._frozen

    def now(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        if self._started is None:
            return self._origin
        return self._origin + timedelta(seconds=(self._monotonic() - self._started) * self._speed)

