"""Waiting, shared by both connector bases: the injected ``sleep`` and throttle retries.

Every connector takes an async ``sleep`` (production: :func:`wall_sleep`; tests pass one that only
advances a manual clock) and waits out :class:`~shopsentinel.core.errors.ThrottledError` through a
:class:`ThrottleWaiter`, which adds up the seconds waited for ``StreamPage.throttle_wait_seconds``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shopsentinel.core.errors import ThrottledError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


async def wall_sleep(seconds: float) -> None:
    """The production sleep; tests inject one that advances a :class:`ManualClock` instead."""
    await asyncio.sleep(seconds)


class ThrottleWaiter:
    """Retry throttled calls, waiting ``retry_after`` seconds each time, and count the wait.

    The connector reads :meth:`take_waited` after each page to fill
    ``StreamPage.throttle_wait_seconds``.
    """

    def __init__(self, sleep: Sleep, *, max_attempts: int = 8, max_wait_seconds: float = 300.0) -> None:
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._max_wait_seconds = max_wait_seconds
        self._waited = 0.0

    async def wait(self, seconds: float) -> None:
        """Wait a known amount up front (e.g. Shopify's cost bucket is nearly empty)."""
        if seconds > 0:
            await self._sleep(seconds)
            self._waited += seconds

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await call()
            except ThrottledError as exc:
                if attempt == self._max_attempts or exc.retry_after > self._max_wait_seconds:
                    raise
                await self.wait(exc.retry_after)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def take_waited(self) -> float:
        waited, self._waited = self._waited, 0.0
        return waited
