"""The Celery app of the scale-out roles and :class:`TaskSender`, the one place tasks are sent from.

Configuration (docs/DEPLOY.md): acks late and rejected back to the queue when a worker is lost, so a
task dies with its worker only to run again elsewhere; one message prefetched per worker thread, so a
slow task never holds others hostage; JSON only; on Redis a visibility timeout (when an unacknowledged
task goes back to the queue) and a key prefix (kombu ``global_keyprefix``) so installations and tests
can share one Redis. Celery is imported through :func:`~shopsentinel.core.extras.require_celery`, which
names the ``shopsentinel[workers]`` extra when it is missing.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from shopsentinel.core.extras import require_celery
from shopsentinel.core.settings import Settings
from shopsentinel.runtime.distributed.shards import (
    BACKLOG_QUEUE,
    DELIVER_QUEUE,
    RESPOND_QUEUE,
    SYNC_QUEUE,
    StoreKey,
    by_shard,
    eval_queue,
)

logger = logging.getLogger(__name__)

EVALUATE = "shopsentinel.evaluate"
PIPELINE = "shopsentinel.pipeline"
DELIVER = "shopsentinel.deliver"
SYNC_DUE = "shopsentinel.sync_due"
RESPOND = "shopsentinel.respond"


def _stamp() -> dict[str, float]:
    """The headers every task carries: ``sent_at`` (epoch seconds; the worker logs how long it queued)
    and ``sent_by`` (the sending process's id, to tell a kick from the scheduler's periodic send)."""
    return {"sent_at": time.time(), "sent_by": os.getpid()}


def sent_at(request: Any) -> float | None:
    """A running task's ``sent_at`` header (None for a task sent without one)."""
    value = getattr(request, "sent_at", None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get("sent_at")
    return float(value) if isinstance(value, int | float) else None


class DeferredBacklog:
    """Backlog stores waiting out ``backlog_delay_seconds``, held in the broker's Redis (a sorted set
    ``<prefix>shopsentinel:backlog:due``, score = when due) instead of as countdown tasks.

    A countdown task is taken by a worker at once and held in its memory (Celery raises the prefetch
    limit for every one); when a backfill's countdowns expire together, dozens of them land in the
    worker's pool queue and, unacknowledged, keep the worker from fetching anything else — a crash on
    a live ``eval.<n>`` shard waited behind them (bench/distributed.py --trace). Here a store is added
    once (``NX``: the first batch of a backfill sets when it is due, later ones coalesce) and the
    scheduler sends the due stores as plain tasks to the ``backlog`` queue, which workers fetch only
    when a thread is free, in turn with the live shards. Lost (Redis flushed), the stores' durable
    change marks bring them back through the periodic pass."""

    KEY = "shopsentinel:backlog:due"

    def __init__(self, url: str, prefix: str = "") -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self.key = f"{prefix}{self.KEY}"

    @staticmethod
    def _member(key: StoreKey) -> str:
        return f"{key[0]}\x1f{key[1]}"

    def add(self, keys: list[StoreKey], due: float) -> None:
        if keys:
            self._client.zadd(self.key, {self._member(k): due for k in keys}, nx=True)

    def take_due(self, now: float) -> list[StoreKey]:
        """The stores due by ``now``, each removed here; a store two schedulers race for goes to one."""
        members: list[bytes] = list(self._client.zrangebyscore(self.key, "-inf", now))  # type: ignore[arg-type]
        if not members:
            return []
        pipe = self._client.pipeline(transaction=False)
        for member in members:
            pipe.zrem(self.key, member)
        taken = [m for m, removed in zip(members, pipe.execute(), strict=True) if removed]
        return [(platform, store) for platform, store in (m.decode().split("\x1f", 1) for m in taken)]

    def size(self) -> int:
        return int(self._client.zcard(self.key))

    def close(self) -> None:
        self._client.close()


class WaitingTasks:
    """At most one ``deliver`` task per channel and one ``pipeline`` task waiting in the ``deliver``
    queue (Redis: a key ``<prefix>shopsentinel:waiting:<name>`` set when one is sent, deleted when it
    starts). Every evaluation kicks its channels and the scheduler sends both each tick; under load those
    piled up and a crash's kick queued behind a dozen stale ones (bench/distributed.py --trace). A task
    that has not started yet will read the outbox when it does, so a second one adds nothing. The key
    expires after ``ttl`` seconds, so a task lost before it started (its worker killed) holds nothing up
    for longer. Redis errors fail open: the task is sent."""

    KEY = "shopsentinel:waiting:"

    def __init__(self, url: str, prefix: str = "", ttl: int = 10) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._prefix = f"{prefix}{self.KEY}"
        self.ttl = ttl

    def claim(self, name: str) -> bool:
        """Whether a task ``name`` should be sent (none is waiting); marks it waiting."""
        try:
            return bool(self._client.set(self._prefix + name, b"1", nx=True, ex=self.ttl))
        except Exception:  # noqa: BLE001 - send rather than lose a kick
            logger.warning("waiting-task mark unavailable; sending %s anyway", name)
            return True

    def started(self, name: str) -> None:
        try:
            self._client.delete(self._prefix + name)
        except Exception:  # noqa: BLE001 - the mark expires by itself
            logger.warning("could not clear the waiting mark of %s", name)

    def close(self) -> None:
        self._client.close()


def is_redis(url: str) -> bool:
    return url.split(":", 1)[0] in ("redis", "rediss", "redis+socket")


def make_celery(settings: Settings) -> Any:
    """The Celery app for ``settings.broker_url`` (tasks are registered by the worker role)."""
    if not settings.broker_url:
        raise ValueError("未设置 SHOPSENTINEL_BROKER_URL / SHOPSENTINEL_BROKER_URL is not set")
    celery = require_celery()
    app = celery.Celery("shopsentinel", broker=settings.broker_url, set_as_current=False)
    transport: dict[str, Any] = {}
    if is_redis(settings.broker_url):
        transport["visibility_timeout"] = settings.broker_visibility_timeout_seconds
        if settings.broker_key_prefix:
            transport["global_keyprefix"] = settings.broker_key_prefix
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=DELIVER_QUEUE,
        task_create_missing_queues=True,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # our one handler (core/logs.py) stays
        worker_redirect_stdouts=False,
        worker_enable_remote_control=False,  # no pidbox fan-out: nothing here is controlled remotely
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


class TaskSender:
    """Sends the roles' tasks to their queues: ``evaluate`` to the store's ``eval.<n>`` shard (in
    batches of ``batch`` stores; backlog evaluations to ``backlog`` in batches of ``backlog_batch``), ``pipeline`` and ``deliver`` to ``deliver``, ``sync_due`` to ``sync``,
    ``respond`` to ``respond``."""

    def __init__(self, app: Any, shards: int, batch: int, backlog_delay: float = 0.0,
                 backlog_batch: int | None = None, deferred: DeferredBacklog | None = None,
                 waiting: WaitingTasks | None = None) -> None:
        self.app = app
        self.waiting = waiting  # Redis: no second deliver (per channel) or pipeline task while one waits
        self.deferred = deferred  # Redis: the backlog's delay is kept here, not in countdown tasks
        self.shards = shards
        self.batch = batch
        # backlog tasks stay small: a thread judging the past frees up quickly for live news (its task waits
        # for a free thread of the worker, and a 40-store panel holds one for about a second)
        self.backlog_batch = batch if backlog_batch is None else backlog_batch
        self.backlog_delay = backlog_delay  # seconds a backlog evaluation waits, so one judges many batches

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskSender:
        url = settings.broker_url or ""
        deferred = DeferredBacklog(url, settings.broker_key_prefix) if is_redis(url) and settings.backlog_delay_seconds > 0 else None
        waiting = WaitingTasks(url, settings.broker_key_prefix) if is_redis(url) else None
        return cls(make_celery(settings), settings.shards, settings.stores_per_shard, settings.backlog_delay_seconds,
                   settings.backlog_stores_per_task, deferred, waiting)

    def evaluate(self, keys: list[StoreKey], *, backlog: bool = False, counts: dict[StoreKey, int] | None = None,
                 hold: bool = True) -> None:
        """``counts``: each store's change count when the task was sent ([platform, store, count]); the
        worker skips a store an evaluation has since judged at least that far. A backlog evaluation is
        held ``backlog_delay`` first (``hold``): in :class:`DeferredBacklog` on Redis (the scheduler sends
        it when due, :meth:`due_backlog`), else as a countdown task."""
        if backlog and hold and self.deferred is not None and self.backlog_delay > 0:
            self.deferred.add(keys, time.time() + self.backlog_delay)
            return
        for shard, batch in by_shard(keys, self.shards, self.backlog_batch if backlog else self.batch):
            queue = BACKLOG_QUEUE if backlog else eval_queue(shard)
            items = [[*k, counts[k]] if counts and k in counts else list(k) for k in batch]
            delay = {"countdown": self.backlog_delay} if backlog and hold and self.backlog_delay > 0 else {}
            self.app.send_task(EVALUATE, args=[items], queue=queue, headers=_stamp(), **delay)

    def due_backlog(self) -> list[StoreKey]:
        """The held backlog stores now due (removed from the hold); [] without :class:`DeferredBacklog`."""
        return [] if self.deferred is None else self.deferred.take_due(time.time())

    def pipeline(self) -> None:
        if self.waiting is None or self.waiting.claim(PIPELINE):
            self.app.send_task(PIPELINE, queue=DELIVER_QUEUE, headers=_stamp())

    def deliver(self, channel: str) -> None:
        """A delivery pass over ``channel`` (not sent while one waits, :class:`WaitingTasks`); one that finds
        the channel busy ends, the holder looks again (tasks.deliver)."""
        if self.waiting is None or self.waiting.claim(f"{DELIVER}:{channel}"):
            self.app.send_task(DELIVER, args=[channel], queue=DELIVER_QUEUE, headers=_stamp())

    def started(self, task: str) -> None:
        """A ``deliver`` (``"<DELIVER>:<channel>"``) or ``pipeline`` task began: the next kick sends another."""
        if self.waiting is not None:
            self.waiting.started(task)

    def sync_due(self) -> None:
        self.app.send_task(SYNC_DUE, queue=SYNC_QUEUE)

    def respond(self) -> None:
        self.app.send_task(RESPOND, queue=RESPOND_QUEUE)


__all__ = ["DELIVER", "DeferredBacklog", "WaitingTasks", "EVALUATE", "PIPELINE", "RESPOND", "SYNC_DUE", "TaskSender", "is_redis", "make_celery", "sent_at"]
