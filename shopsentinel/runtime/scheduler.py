"""When stores are evaluated: promptly after their data changes, and when an hour closes.

Two queues: *fresh* stores (their points just changed) and the *backlog* of the periodic pass.
Every ``interval`` the pass queues the stores whose evaluation is behind the last closed hour
(the window ends at the last full hour, so re-judging an unchanged window gives the same answer)
— or every store when the rule pack or the calendar changed. A tick takes fresh stores first, so
data that just arrived never waits behind the periodic pass; in the background the tick is bounded
(``limit``) and notifications are sent between ticks.

Time comes from the injected clock: :meth:`Scheduler.run_pending` is what one tick does, so
tests drive it with a :class:`~shopsentinel.core.clock.ManualClock` and never sleep. In the
service a background task calls it whenever ingest wakes it (or once a second).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread

from shopsentinel.alerting.manager import StateChange
from shopsentinel.core.clock import Clock
from shopsentinel.runtime.evaluation import LiveEvaluator, StoreKey, floor_hour

logger = logging.getLogger(__name__)
# Ticks are sized from the measured evaluation cost per store: one of backlog only (closing hours,
# backfills) takes about BACKLOG_TICK_SECONDS of work, so a crash arriving meanwhile waits behind a short
# tick, never a long one; one with news about NEWS_TICK_SECONDS, the stores judged longest ago (or never)
# first, so the first message of a crash is not held back by a dozen stores whose data merely changed.
BACKLOG_TICK_SECONDS = 0.5
NEWS_TICK_SECONDS = 1.0


@dataclass
class Periodic:
    """Work the leading scheduler does every ``every`` (e.g. the daily retention prune), on a thread
    of its own so a long run never holds up evaluation; the first run is at the first leading tick."""

    name: str
    every: timedelta
    run: Callable[[datetime], object]
    next_due: datetime | None = None
    running: threading.Thread | None = None


class Scheduler:
    """``store_keys(before, everything)`` returns the stores to judge in a periodic pass: those
    evaluated up to before ``before`` (or never), or all of them when ``everything``.
    ``generation()`` names the inputs every store depends on (rule pack and calendar versions).
    ``leader()`` says whether this process runs the periodic pass (one process among replicas
    sharing a database; stores whose data arrived here are judged here whatever it says)."""

    def __init__(self, clock: Clock, interval: timedelta, evaluator: LiveEvaluator,
                 store_keys: Callable[[datetime, bool], list[StoreKey]],
                 generation: Callable[[], Hashable] = lambda: None, leader: Callable[[], bool] = lambda: True,
                 timer: Callable[[], float] = time.perf_counter, backlog_tick_seconds: float = BACKLOG_TICK_SECONDS,
                 news_tick_seconds: float = NEWS_TICK_SECONDS) -> None:
        self._clock = clock
        self._timer = timer
        self.backlog_tick_seconds = backlog_tick_seconds
        self.news_tick_seconds = news_tick_seconds
        self.seconds_per_store: float | None = None  # moving average of the measured evaluation cost
        self._news_in_hand = False  # the tick under way took fresh stores
        self._leader = leader  # replicas on one database: only the leader runs the periodic pass
        self._interval = interval
        self._evaluator = evaluator
        self._store_keys = store_keys
        self._generation = generation
        self._seen_generation: Hashable | None = None
        self._fresh: dict[StoreKey, None] = {}
        self._backlog: dict[StoreKey, None] = {}
        self._last_run: dict[StoreKey, int] = {}  # tick number of each store's last evaluation
        self._ticks = 0
        self._backlog_waited = False  # the last bounded tick with news left the backlog out
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.next_due: datetime | None = None
        self.wake = threading.Event()
        self.periodic: list[Periodic] = []

    def add_periodic(self, name: str, every: timedelta, run: Callable[[datetime], object]) -> None:
        """Run ``run(now)`` every ``every`` in the leading process only (see :class:`Periodic`)."""
        self.periodic.append(Periodic(name, every, run))

    def due_periodic(self, now: datetime) -> list[Periodic]:
        """The periodic entries due at ``now`` (and not still running), if this process leads; each is
        then due again ``every`` later."""
        due = [p for p in self.periodic if (p.next_due is None or now >= p.next_due)
               and (p.running is None or not p.running.is_alive())]
        if not due or not self._leader():
            return []
        for entry in due:
            entry.next_due = now + entry.every
        return due

    def run_periodic(self, now: datetime, *, background: bool = True) -> list[str]:
        """Start the due periodic entries (``background``: each on a daemon thread); returns their names."""
        due = self.due_periodic(now)
        for entry in due:
            if background:
                entry.running = threading.Thread(target=_run_entry, args=(entry, now), name=f"periodic-{entry.name}",
                                                 daemon=True)
                entry.running.start()
            else:
                _run_entry(entry, now)
        return [e.name for e in due]

    def enqueue(self, keys: list[StoreKey]) -> None:
        """Ask for these stores to be evaluated first at the next tick (thread-safe, deduplicated)."""
        with self._lock:
            for key in keys:
                self._fresh[key] = None
                self._backlog.pop(key, None)
        self.wake.set()

    def enqueue_backlog(self, keys: list[StoreKey]) -> None:
        """Ask for these stores to be evaluated behind live news (a backfill of past hours)."""
        with self._lock:
            for key in keys:
                if key not in self._fresh:
                    self._backlog[key] = None
        self.wake.set()

    def has_news(self) -> bool:
        """Whether fresh data waits to be judged."""
        with self._lock:
            return bool(self._fresh)

    def judging_news(self) -> bool:
        """Whether fresh data waits to be judged or the tick under way is judging it (and notifying)."""
        with self._lock:
            return bool(self._fresh) or self._news_in_hand

    def pending(self) -> list[StoreKey]:
        with self._lock:
            return [*self._fresh, *self._backlog]

    def _periodic_pass(self, now: datetime) -> None:
        generation = self._generation()
        everything = self.next_due is None or generation != self._seen_generation
        keys = self._store_keys(floor_hour(now), everything)
        self._seen_generation = generation
        self.next_due = now + self._interval
        with self._lock:
            for key in keys:
                if key not in self._fresh:
                    self._backlog[key] = None

    def _take(self, limit: int | None) -> list[StoreKey]:
        with self._lock:
            keys: list[StoreKey] = []
            if limit is not None and self.seconds_per_store:
                budget = self.news_tick_seconds if self._fresh else self.backlog_tick_seconds
                if budget < limit * self.seconds_per_store:  # more than fits: as many as fit, never none
                    least = 2 if self._fresh and self._backlog else 1  # room for news beside the backlog's share
                    limit = max(least, int(budget / self.seconds_per_store))
            # fresh data first. With news waiting, the backlog (closing hours, backfills) gets an eighth
            # of every other bounded tick — so it is never starved by a constant stream of new points,
            # and live news waits at most one such small tick, never a full one
            share = not self._fresh or self._backlog_waited
            reserve = 0 if limit is None or not self._backlog or not share else max(1, limit // 8)
            self._backlog_waited = bool(self._fresh and self._backlog and not share)
            if limit is not None and len(self._fresh) > limit - reserve:
                # more fresh stores than fit: the ones judged longest ago first, so a store whose data
                # keeps changing (running corrections) cannot hold back one with news
                ordered = sorted(self._fresh, key=lambda k: self._last_run.get(k, -1))
                self._fresh = dict.fromkeys(ordered)
            news = bool(self._fresh)
            self._news_in_hand = news
            for queue, cap in ((self._fresh, None if limit is None else limit - reserve), (self._backlog, None)):
                if queue is self._backlog and limit is not None:
                    # with news waiting, the backlog gets only its reserve; without, the whole tick
                    cap = len(keys) + reserve if news else limit
                while queue and (cap is None or len(keys) < cap):
                    key = next(iter(queue))
                    del queue[key]
                    keys.append(key)
            self._ticks += 1
            for key in keys:
                self._last_run[key] = self._ticks
            if not self._fresh and not self._backlog:
                self.wake.clear()
            return keys

    def run_pending(self, limit: int | None = None) -> list[StateChange]:
        """One tick: run the periodic pass if due, then evaluate the queue — fresh stores first,
        at most ``limit`` stores (all when None); what is left stays queued for the next tick."""
        with self._run_lock:
            now = self._clock.now()
            if (self.next_due is None or now >= self.next_due) and self._leader():
                self._periodic_pass(now)
            self.run_periodic(now)
            keys = self._take(limit)
            if not keys:
                return []
            started = self._timer()
            try:
                changes = self._evaluator.evaluate(keys)
            except Exception:
                # e.g. SQLite's write lock held past busy_timeout under a burst: the stores stay queued
                # (behind the others, so one that always fails cannot starve them) — never dropped,
                # or their alerts would be missed
                self.enqueue_later(keys)
                raise
            per_store = (self._timer() - started) / len(keys)
            average = self.seconds_per_store
            self.seconds_per_store = per_store if average is None else 0.7 * average + 0.3 * per_store
            return changes

    def enqueue_later(self, keys: list[StoreKey]) -> None:
        """Put stores whose evaluation failed back at the end of the fresh queue."""
        with self._lock:
            for key in keys:
                self._backlog.pop(key, None)
                self._fresh.setdefault(key, None)
        self.wake.set()


def _run_entry(entry: Periodic, now: datetime) -> None:
    try:
        entry.run(now)
    except Exception:  # logged; the entry is due again after its period
        logger.exception("定期任务 %s 失败 / periodic work %s failed", entry.name, entry.name)


class BackgroundRunner:
    """Runs :meth:`Scheduler.run_pending` (and the notification step) in a worker thread until
    stopped. Its threads come from a limiter of its own, not from the pool that serves sync request
    handlers: under a burst of ingest requests that pool is full, and evaluation must not queue
    behind the very requests whose data it is waiting to judge."""

    def __init__(self, scheduler: Scheduler, after_tick: Callable[[], object] | None = None, poll_seconds: float = 1.0,
                 limit: int | None = None) -> None:
        self._scheduler = scheduler
        self._limit = limit
        self._after_tick = after_tick
        self._poll = poll_seconds
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    def start(self) -> None:
        self._limiter = anyio.CapacityLimiter(1)  # one tick at a time, on threads of its own
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        self._stopping = True
        self._scheduler.wake.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stopping:
            await anyio.to_thread.run_sync(self._scheduler.wake.wait, self._poll, limiter=self._limiter)
            if self._stopping:
                break
            try:
                await anyio.to_thread.run_sync(self._scheduler.run_pending, self._limit, limiter=self._limiter)
                if self._after_tick is not None:
                    await anyio.to_thread.run_sync(self._after_tick, limiter=self._limiter)
            except Exception:  # keep serving: one bad evaluation must not stop the loop
                logger.exception("evaluation tick failed")


__all__ = ["BackgroundRunner", "Periodic", "Scheduler"]
