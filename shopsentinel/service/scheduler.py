"""When stores are evaluated: promptly after their points arrive, and every ``interval``.

Time comes from the injected clock: :meth:`Scheduler.run_pending` is what one tick does, so
tests drive it with a :class:`~shopsentinel.core.clock.ManualClock` and never sleep. In the
service a background task calls it whenever ingest wakes it (or once a second).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import anyio.to_thread

from shopsentinel.alerting.manager import StateChange
from shopsentinel.core.clock import Clock
from shopsentinel.service.evaluation import LiveEvaluator, StoreKey

logger = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, clock: Clock, interval: timedelta, evaluator: LiveEvaluator,
                 store_keys: Callable[[], list[StoreKey]]) -> None:
        self._clock = clock
        self._interval = interval
        self._evaluator = evaluator
        self._store_keys = store_keys
        self._pending: dict[StoreKey, None] = {}
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.next_due: datetime | None = None
        self.wake = threading.Event()

    def enqueue(self, keys: list[StoreKey]) -> None:
        """Ask for these stores to be evaluated at the next tick (thread-safe, deduplicated)."""
        with self._lock:
            for key in keys:
                self._pending[key] = None
        self.wake.set()

    def pending(self) -> list[StoreKey]:
        with self._lock:
            return list(self._pending)

    def run_pending(self) -> list[StateChange]:
        """One tick: schedule every store if the interval has passed, then evaluate the queue."""
        with self._run_lock:
            now = self._clock.now()
            if self.next_due is None or now >= self.next_due:
                self.enqueue(self._store_keys())
                self.next_due = now + self._interval
            with self._lock:
                keys = list(self._pending)
                self._pending.clear()
                self.wake.clear()
            if not keys:
                return []
            return self._evaluator.evaluate(keys)


class BackgroundRunner:
    """Runs :meth:`Scheduler.run_pending` (and outbox delivery) in a worker thread until stopped."""

    def __init__(self, scheduler: Scheduler, after_tick: Callable[[], object] | None = None, poll_seconds: float = 1.0) -> None:
        self._scheduler = scheduler
        self._after_tick = after_tick
        self._poll = poll_seconds
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        self._stopping = True
        self._scheduler.wake.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stopping:
            await anyio.to_thread.run_sync(self._scheduler.wake.wait, self._poll)
            if self._stopping:
                break
            try:
                await anyio.to_thread.run_sync(self._scheduler.run_pending)
                if self._after_tick is not None:
                    await anyio.to_thread.run_sync(self._after_tick)
            except Exception:  # keep serving: one bad evaluation must not stop the loop
                logger.exception("evaluation tick failed")


__all__ = ["BackgroundRunner", "Scheduler"]
