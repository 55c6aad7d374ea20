"""The ``scheduler`` role: the periodic work, with exactly one active instance that survives its own death.

Every instance loops. The one holding the PostgreSQL session advisory lock ``scheduler``
(:class:`~shopsentinel.store.coordination.HeldLocks`, the same lock an embedded ``serve`` leads with)
is the leader; the others stand by and try to take the lock every ``standby_seconds``. A ``kill -9``
of the leader closes its connection, PostgreSQL frees the lock at once, and a standby leads from its
next try — no lease to wait out, no beat schedule file to share.

The leader, every ``schedule_seconds``, sends:

- ``evaluate`` tasks for the periodic pass (:class:`~shopsentinel.runtime.distributed.remote.RemoteScheduler`
  reuses the scheduler's own pass: stores behind the last closed hour, every store after a rule-pack or
  calendar change, plus stores whose live news no evaluation has seen — a task lost with a worker);
- ``evaluate`` tasks on the ``backlog`` queue for the backfilled stores whose ``backlog_delay_seconds``
  is over (:class:`~shopsentinel.runtime.distributed.celery_app.DeferredBacklog`);
- one ``pipeline`` task, so grouping waits and escalation timers advance without new data (the
  pipeline runs in a worker, under its transaction lock, like every other pipeline run: the scheduler
  stays a thin clock that builds nothing heavier than a few queries, and a slow pipeline never delays
  the next tick or the hand-over of the lead);
- a ``deliver`` task per channel with something due or left ``sending`` (which also picks up what a dead
  worker left in flight); ``sync_due`` (with ``sync_db``) and ``respond``.

Duplicated sends are harmless by design: evaluation reconciles under a per-store lock, the pipeline
under its lock, delivery under the channel's lock.
"""

from __future__ import annotations

import logging
import threading

from shopsentinel.runtime.distributed.remote import RemoteScheduler, Sender
from shopsentinel.runtime.distributed.tasks import LEADER_LOCK, channels_to_deliver, refresh_rules
from shopsentinel.runtime.service import Service

logger = logging.getLogger(__name__)


class SchedulerLoop:
    def __init__(self, service: Service, sender: Sender, standby_seconds: float = 1.0) -> None:
        self.service = service
        self.sender = sender
        self.standby_seconds = standby_seconds
        self.leading = False
        self.ticks = 0

    def lead(self) -> bool:
        """Take (or keep) the lead; False while another instance holds it."""
        locks = self.service.locks
        return locks is None or locks.acquire(LEADER_LOCK) != "busy"

    def tick(self) -> None:
        """One leader tick: send the periodic work."""
        service = self.service
        refresh_rules(service)  # a rule pack saved through serve: every store is judged again (the pass's generation)
        service.scheduler.run_pending()  # the periodic pass when due: evaluate tasks per shard
        if isinstance(service.scheduler, RemoteScheduler):
            service.scheduler.release_backlog()  # backfilled stores whose backlog_delay is over
        self.sender.pipeline()
        for channel in channels_to_deliver(service):
            self.sender.deliver(channel)
        if service.settings.sync_db is not None:
            self.sender.sync_due()
        self.sender.respond()
        self.ticks += 1
        logger.info("调度节拍 %d / scheduler tick %d", self.ticks, self.ticks)

    def step(self) -> float:
        """Lead if possible and, leading, tick; returns how long to wait before the next step."""
        try:
            leading = self.lead()
        except Exception:  # the database is unreachable: nobody can be sure to lead
            logger.exception("调度：无法确认主节点 / scheduler: cannot take the lead")
            leading = False
        if leading != self.leading:
            logger.warning("调度：%s / scheduler: %s", "本实例成为主节点" if leading else "本实例待命",
                           "leading" if leading else "standing by")
            self.leading = leading
        if not leading:
            return self.standby_seconds
        try:
            self.tick()
        except Exception:  # e.g. the broker is down: try again next tick
            logger.exception("调度节拍失败 / scheduler tick failed")
        return self.service.settings.schedule_seconds

    def run(self, stop: threading.Event) -> None:
        logger.warning("调度：待命 / scheduler: standing by")
        while not stop.is_set():
            stop.wait(self.step())


__all__ = ["SchedulerLoop"]
