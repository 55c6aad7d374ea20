""":class:`RemoteScheduler`: the scheduler ingest talks to when a broker is configured.

It keeps :class:`~shopsentinel.runtime.scheduler.Scheduler`'s interface (``enqueue``,
``enqueue_backlog``, ``has_news``, ``pending``, ``wake``, ``run_pending``) and its periodic pass
(stores behind the last closed hour, or every store after a rule-pack or calendar change), but
judges nothing itself: every store it is given becomes an ``evaluate`` task on the store's shard.

Live news is first counted in the database (:mod:`shopsentinel.store.evaluation_marks`), then sent.
The periodic pass adds the stores whose counted news no evaluation has seen ``retry_after`` after it
arrived — the task died with a ``kill -9``-ed worker, or the broker was unreachable — so they are
judged within about one ``eval_retry_seconds``, not only when the broker's visibility timeout expires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.alerting.manager import StateChange
from shopsentinel.runtime.scheduler import Scheduler
from shopsentinel.store.evaluation_marks import change_counts, mark_changed, touch, unjudged

logger = logging.getLogger(__name__)
StoreKey = tuple[str, str]


class Sender(Protocol):
    """What sends the roles' tasks (:class:`~shopsentinel.runtime.distributed.celery_app.TaskSender`; tests fake it)."""

    def evaluate(self, keys: list[StoreKey], *, backlog: bool = False, counts: dict[StoreKey, int] | None = None,
                 hold: bool = True) -> None: ...

    def due_backlog(self) -> list[StoreKey]: ...

    def pipeline(self) -> None: ...

    def deliver(self, channel: str) -> None: ...

    def started(self, task: str) -> None: ...

    def sync_due(self) -> None: ...

    def respond(self) -> None: ...


class RemoteScheduler(Scheduler):
    """Built from the service's own scheduler (``replacing``), whose periodic pass it reuses."""

    def __init__(self, base: Scheduler, sender: Sender, sessions: sessionmaker[Session], retry_after: timedelta,
                 leader: Callable[[], bool] | None = None) -> None:
        super().__init__(base._clock, base._interval, base._evaluator, self._stale_or_unjudged,
                         base._generation, base._leader if leader is None else leader)
        self._base_keys = base._store_keys
        self.periodic = base.periodic  # the daily retention prune: run by the leading scheduler role
        self._sender = sender
        self._sessions = sessions
        self._retry_after = retry_after
        self._late: list[StoreKey] = []

    def _stale_or_unjudged(self, before: datetime, everything: bool) -> list[StoreKey]:
        """The periodic pass's stores (``Scheduler``'s own choice) plus those with unjudged live news."""
        keys = self._base_keys(before, everything)
        now = self._clock.now()
        with self._sessions() as session:
            late = unjudged(session, now - self._retry_after)
            touch(session, late, now)  # sent again now: the next resend waits as long again
            session.commit()
        if late:
            logger.warning("调度：%d 个店铺的新数据尚未评估（评估任务可能随工作进程丢失），重新发送 / "
                           "scheduler: %d stores with unjudged news (their task may have died with a worker); "
                           "sending them again", len(late), len(late))
        self._late = late  # lost live news: resent on its shard, not behind the backlog's delay
        return list(dict.fromkeys([*keys, *late]))

    def enqueue(self, keys: list[StoreKey]) -> None:
        """Live news: count it durably, then send the stores to their shards."""
        if not keys:
            return
        self._send(keys, counts=self._count(keys))

    def enqueue_backlog(self, keys: list[StoreKey]) -> None:
        """A backfill of past hours: sent to the backlog queue, behind no news (the periodic pass catches
        it if the send fails). Counted like news, so a task whose changes an evaluation has already seen
        is skipped: a backfill posted in a hundred batches costs a few evaluations, not a hundred."""
        self._send(keys, backlog=True, counts=self._count(keys))

    def release_backlog(self) -> int:
        """The scheduler's tick: send the held backlog stores now due (``backlog_delay_seconds`` after
        their first batch) to the ``backlog`` queue, with their current change counts (a store judged
        that far since is skipped by the worker). Returns how many stores."""
        try:
            keys = self._sender.due_backlog()
            if not keys:
                return 0
            with self._sessions() as session:
                counts = change_counts(session, keys)
            self._sender.evaluate(keys, backlog=True, counts=counts, hold=False)
        except Exception:  # the broker is down: the marks bring the stores back through the periodic pass
            logger.exception("发送到期的回补评估失败，稍后由调度器补发 / could not send the due backlog evaluations; "
                             "the scheduler sends them again later")
            return 0
        return len(keys)

    def _count(self, keys: list[StoreKey]) -> dict[StoreKey, int]:
        """Count one change of each store (durably) and return the counts the tasks carry."""
        with self._sessions() as session:
            mark_changed(session, keys, self._clock.now())
            session.commit()
            return change_counts(session, keys)

    def enqueue_later(self, keys: list[StoreKey]) -> None:
        self._send(keys)

    def has_news(self) -> bool:
        return False  # nothing waits here: it is all on the broker

    def pending(self) -> list[StoreKey]:
        return []

    def run_pending(self, limit: int | None = None) -> list[StateChange]:
        """The periodic pass when due (and this process leads), its stores sent as tasks. Judges
        nothing here, so it returns no state changes."""
        with self._run_lock:
            now = self._clock.now()
            if (self.next_due is None or now >= self.next_due) and self._leader():
                self._periodic_pass(now)
            self.run_periodic(now)
            keys = self._take(None)
            late, self._late = set(self._late), []
        self._send([k for k in keys if k in late])  # news whose task died with a worker: at once, on its shard
        self._send([k for k in keys if k not in late], backlog=True)  # closing hours: behind live news
        return []

    def _send(self, keys: list[StoreKey], *, backlog: bool = False, counts: dict[StoreKey, int] | None = None) -> None:
        if not keys:
            return
        try:
            self._sender.evaluate(keys, backlog=backlog, counts=counts)
        except Exception:  # the broker is down: the marks (live news) or the periodic pass bring them back
            logger.exception("发送评估任务失败，稍后由调度器补发 / could not send evaluation tasks; the scheduler "
                             "sends them again later")


__all__ = ["RemoteScheduler", "Sender"]
