"""The work of the scale-out roles as plain functions over a
:class:`~shopsentinel.runtime.service.Service` (the Celery tasks are thin wrappers registered by
:func:`register_tasks`), and :class:`WorkerContext`, the one service of a worker process.

- :func:`evaluate` — judge these stores (:class:`~shopsentinel.runtime.evaluation.LiveEvaluator`),
  record which live news was judged, run the notification pipeline (``notify(deliver=False,
  respond=False)``; under its ``pipeline`` transaction lock, so no message is enqueued twice) and send a
  ``deliver`` task per channel with something due. ``evaluate([])`` is the ``pipeline`` task the
  scheduler sends every tick, so grouping and escalation timers advance without new data.
- :func:`deliver` — one pass of :meth:`~shopsentinel.notify.delivery.OutboxDelivery.deliver_channel`,
  which sends only while holding the channel's advisory lock and, when it newly takes it, offers again
  the entries a dead holder left ``sending``. The lock is released at the end of the task, so any
  worker can take the next pass: a holder that finishes leaves nothing ``sending``, so only a dead
  holder's in-flight message is ever offered again (once, with the same ``Idempotency-Key``).
- :func:`sync_due` and :func:`respond` — the platform syncs and the response loop's tick (RCA notes,
  predictive alerts, playbooks), each under a lock of its own so two never overlap.

A worker never leads (:class:`FollowerLocks`): the periodic work is the ``scheduler`` role's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from shopsentinel.core.settings import Settings
from shopsentinel.detect.rules import RulePack
from shopsentinel.runtime.distributed.celery_app import (
    DELIVER,
    EVALUATE,
    PIPELINE,
    RESPOND,
    SYNC_DUE,
    TaskSender,
    sent_at,
)
from shopsentinel.runtime.distributed.remote import RemoteScheduler, Sender
from shopsentinel.runtime.service import Service, build_service
from shopsentinel.store.coordination import HeldLocks
from shopsentinel.store.evaluation_marks import change_counts, judged_counts, mark_judged
from shopsentinel.store.repository import latest_rule_pack
from shopsentinel.store.state import OutboxRow, RulePackRow

logger = logging.getLogger(__name__)
StoreKey = tuple[str, str]
LEADER_LOCK = "scheduler"


class FollowerLocks(HeldLocks):
    """The locks of a process that never leads (a worker, a ``serve`` beside workers): the ``scheduler``
    lock is always someone else's, every other lock is taken as usual."""

    def acquire(self, name: str) -> str:
        return "busy" if name == LEADER_LOCK else super().acquire(name)

    def holds(self, name: str) -> bool:
        return name != LEADER_LOCK and super().holds(name)


def shared_settings(settings: Settings) -> Settings:
    """The settings of a role among several processes writing one database: no point cache (a
    worker's cached window would miss the points ``serve`` wrote)."""
    return settings.model_copy(update={"point_cache_stores": 0})


def use_broker(service: Service, sender: Sender, *, follow: bool = True) -> Service:
    """Wire a freshly built service for the scale-out roles: its scheduler sends tasks
    (:class:`RemoteScheduler`), and — ``follow`` — it never takes the leader's lock (the ``scheduler``
    role passes ``follow=False``). Call it before the service's first delivery."""
    if follow and service.locks is not None and not isinstance(service.locks, FollowerLocks):
        service.locks.release_all()
        service.locks = FollowerLocks(service.engine)
    service.scheduler = RemoteScheduler(service.scheduler, sender, service.sessions,
                                        timedelta(seconds=service.settings.eval_retry_seconds),
                                        leader=(lambda: False) if follow else None)
    return service


def refresh_rules(service: Service) -> None:
    """Follow the rule pack saved through another process (``serve``'s API): the newest version in
    the database becomes active here too (unless ``rules_source=file``). One small query per task."""
    if service.rules.read_only:
        return
    with service.sessions() as session:
        newest = session.scalar(select(func.max(RulePackRow.version)))
        if newest is None or newest == service.rules.version():
            return
        row = latest_rule_pack(session)
        if row is not None:
            service.rules.replace(row.version, RulePack.model_validate(row.body))


def channels_to_deliver(service: Service) -> list[str]:
    """The channels with an entry due, plus those with an entry left ``sending`` (by a dead holder —
    a live one holds the channel's lock, so the deliver task leaves its entry alone)."""
    due = service.delivery().due_channels(service.sessions)
    with service.sessions() as session:
        stuck = set(session.scalars(select(OutboxRow.channel).where(OutboxRow.status == "sending").distinct()).all())
    return [*due, *sorted(stuck - set(due))]


def evaluate(service: Service, sender: Sender, keys: list[StoreKey], counts: dict[StoreKey, int] | None = None,
             marks: dict[str, float] | None = None) -> int:
    """Judge ``keys`` (none: only the pipeline), run the notification pipeline when alerts changed
    (or no keys were given), send the deliveries due. Returns the number of alert state changes. ``counts`` (each store's change count when the task
    was sent): a store an evaluation has judged at least that far since is skipped — its data was seen;
    when every store is, the task does nothing. ``marks`` (if given) receives when each stage ended
    (``judged``, ``piped``, ``kicked``; epoch seconds) for the task's trace line."""
    changes = 0
    marks = {} if marks is None else marks
    if keys and counts:
        with service.sessions() as session:
            judged = judged_counts(session, keys)
        wanted = [k for k in keys if k not in counts or judged.get(k, 0) < counts[k]]
        if not wanted:
            return 0
        keys = wanted
    if keys:
        refresh_rules(service)
        with service.sessions() as session:
            seen = change_counts(session, keys)  # before the points are read: news after this stays unjudged
        changes = len(service.evaluator.evaluate(keys))
        with service.sessions() as session:
            mark_judged(session, seen)
            session.commit()
        marks["judged"] = time.time()
        if not changes:
            # nothing new to notify: the pipeline (under its lock, which a crash's evaluation would wait for)
            # is left to the tasks that changed something and to the scheduler's periodic pipeline task
            return 0
    service.notify(deliver=False, respond=False)
    marks["piped"] = time.time()
    for channel in channels_to_deliver(service):
        sender.deliver(channel)
    marks["kicked"] = time.time()
    return changes


# passes one deliver task makes at most while new entries keep arriving (each pass sends within its budget)
MAX_PASSES = 20


def pending_ids(service: Service, channel: str) -> set[int]:
    with service.sessions() as session:
        return set(session.scalars(select(OutboxRow.id).where(OutboxRow.channel == channel,
                                                              OutboxRow.status == "pending")).all())


def deliver(service: Service, channel: str) -> int | None:
    """Delivery passes over ``channel`` under its lock. Returns how many were sent, or None when
    another process holds the channel (it sends; nothing was looked at here).

    After each pass the lock is released and the channel's pending entries are read again: one the
    pass had not seen (committed while it ran — its own deliver task found the channel busy and was
    dropped) makes this task take the lock and pass again. So whoever holds the channel last looks at
    the outbox after every kick that found it busy: an entry never waits for the scheduler's periodic
    deliver, and a busy kick needs no retry."""
    name = f"channel:{channel}"
    total = 0
    for _ in range(MAX_PASSES):
        seen = pending_ids(service, channel)
        try:
            sent = service.delivery().deliver_channel(service.sessions, channel, inbox=service.dispatcher)
            if service.locks is not None and not service.locks.acquired(name):
                return None if total == 0 else total  # the holder now is another process: it looks again
            total += sent
        finally:
            if service.locks is not None:
                service.locks.release(name)
        if not pending_ids(service, channel) - seen:
            break
    return total


def deliver_or_drop(service: Service, lock: threading.Lock, channel: str, marks: dict[str, float] | None = None) -> int:
    """The deliver task: passes if this process's thread lock and the channel's lock are free. If either
    is busy the task ends: the holder reads the outbox again after releasing the channel
    (:func:`deliver`), so the entry this task was sent for is its. The scheduler's periodic deliver
    remains the net for a holder that died."""
    if lock.acquire(blocking=False):
        try:
            logger.info("投递开始 / delivering channel %r", channel)
            sent = deliver(service, channel)
            logger.info("投递结束 / delivered channel %r: %s sent", channel, "0 (busy elsewhere)" if sent is None else sent)
        finally:
            lock.release()
        if sent is not None:
            return sent
    if marks is not None:
        marks["busy"] = time.time()
    return 0


@contextmanager
def _exclusive(service: Service, name: str) -> Iterator[bool]:
    """Whether this process got the lock ``name`` (released after); on SQLite always."""
    got = service.locks is None or service.locks.acquire(name) != "busy"
    try:
        yield got
    finally:
        if got and service.locks is not None:
            service.locks.release(name)


def sync_due(service: Service, sender: Sender) -> bool:
    """The platform syncs that are due (``settings.sync_db``); their points reach the evaluators
    through the write path. Returns whether it ran."""
    if service.settings.sync_db is None:
        return False
    with _exclusive(service, "role:sync") as got:
        if not got:
            return False
        service.sync_runner().run_due()
    evaluate(service, sender, [])  # sync failures are data alerts: route them now
    return True


def respond(service: Service, sender: Sender) -> bool:
    """The response loop's tick (RCA notes, predictive alerts, playbooks), then the pipeline.
    Returns whether it ran."""
    with _exclusive(service, "role:respond") as got:
        if not got:
            return False
        service.response.tick(service)
    evaluate(service, sender, [])
    return True


class WorkerContext:
    """One :class:`Service` per worker process, built on first use, and the task sender. Thread
    safe: with the threads pool every task of the process shares it; two threads of one process
    never deliver one channel at once (the advisory lock is per process)."""

    def __init__(self, settings: Settings, sender: Sender | None = None) -> None:
        self.settings = settings
        self._sender = sender
        self._service: Service | None = None
        self._lock = threading.Lock()
        self._channels: dict[str, threading.Lock] = {}

    @property
    def sender(self) -> Sender:
        if self._sender is None:
            self._sender = TaskSender.from_settings(self.settings)
        return self._sender

    def service(self) -> Service:
        with self._lock:
            if self._service is None:
                self._service = use_broker(build_service(shared_settings(self.settings)), self.sender)
            return self._service

    def channel_lock(self, channel: str) -> threading.Lock:
        with self._lock:
            return self._channels.setdefault(channel, threading.Lock())

    def close(self) -> None:
        with self._lock:
            if self._service is not None:
                self._service.close()
                self._service = None


def _trace(request: Any, task: str, started: float, marks: dict[str, float], **fields: Any) -> None:
    """One INFO line per task with its timeline (epoch seconds, in the JSON log format's fields): when it
    was sent, started, each stage of ``marks``, finished; its queue. What ``bench/distributed.py
    --trace`` reads to break an arrival → notification latency into stages."""
    finished = time.time()
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key")
    queued = sent_at(request)
    by = getattr(request, "sent_by", None)
    logger.info("任务 %s：排队 %s 秒，运行 %.3f 秒 / task %s: %s s queued, %.3f s running", task,
                "?" if queued is None else f"{started - queued:.3f}", finished - started, task,
                "?" if queued is None else f"{started - queued:.3f}", finished - started,
                extra={"trace": task, "queue": queue, "sent": queued, "started": started, "finished": finished, "sent_by": by,
                       **{f"at_{k}": v for k, v in marks.items()}, **fields})


def register_tasks(app: Any, context: WorkerContext) -> None:
    """The roles' tasks on ``app``, each a thin wrapper over the functions above."""

    @app.task(name=EVALUATE, bind=True)  # type: ignore[untyped-decorator]
    def evaluate_task(self: Any, keys: list[list[Any]]) -> int:
        started = time.time()
        stores = [(str(k[0]), str(k[1])) for k in keys]
        counts = {(str(k[0]), str(k[1])): int(k[2]) for k in keys if len(k) > 2}
        marks: dict[str, float] = {}
        changes = evaluate(context.service(), context.sender, stores, counts or None, marks)
        _trace(self.request, "evaluate", started, marks, changes=changes, stores=[k[1] for k in stores])
        return changes

    @app.task(name=PIPELINE, bind=True)  # type: ignore[untyped-decorator]
    def pipeline_task(self: Any) -> int:
        started = time.time()
        context.sender.started(PIPELINE)  # from now on a new pipeline task may wait in the queue
        marks: dict[str, float] = {}
        changes = evaluate(context.service(), context.sender, [], None, marks)
        _trace(self.request, "pipeline", started, marks)
        return changes

    @app.task(name=DELIVER, bind=True)  # type: ignore[untyped-decorator]
    def deliver_task(self: Any, channel: str, retry: int = 0) -> int:  # retry: sent by an earlier version, ignored
        started = time.time()
        context.sender.started(f"{DELIVER}:{channel}")  # before the pass reads: a later kick sends a new task
        marks: dict[str, float] = {}
        sent = deliver_or_drop(context.service(), context.channel_lock(channel), channel, marks)
        _trace(self.request, "deliver", started, marks, channel=channel, retry=retry, delivered=sent)
        return sent

    @app.task(name=SYNC_DUE)  # type: ignore[untyped-decorator]
    def sync_task() -> bool:
        return sync_due(context.service(), context.sender)

    @app.task(name=RESPOND)  # type: ignore[untyped-decorator]
    def respond_task() -> bool:
        return respond(context.service(), context.sender)

    del evaluate_task, pipeline_task, deliver_task, sync_task, respond_task


__all__ = ["FollowerLocks", "WorkerContext", "channels_to_deliver", "deliver", "deliver_or_drop", "evaluate", "refresh_rules", "register_tasks",
           "respond", "shared_settings", "sync_due", "use_broker"]
