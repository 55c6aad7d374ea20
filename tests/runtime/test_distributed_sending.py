"""How the roles send their tasks (issue 15; docs/DEPLOY.md), without processes: live news to its shard and
a backfill to the backlog queue (held in Redis until due), one waiting deliver task per channel and one
pipeline task, a task whose changes an evaluation has already seen is skipped, an evaluation that changed
nothing leaves the pipeline alone, and a busy delivery kick ends while the holder sends what was committed
during its pass. The processes and kill -9 are in test_distributed.py."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.types import Point
from shopsentinel.detect.rules import RulePack
from shopsentinel.runtime.distributed.remote import RemoteScheduler
from shopsentinel.runtime.distributed.shards import shard_of
from shopsentinel.runtime.distributed.tasks import evaluate
from shopsentinel.runtime.ingest import write_points
from shopsentinel.runtime.service import Service
from tests.runtime.test_distributed import REDIS_URL
from tests.support.processes import CRASH_RULE
from tests.support.remote import FakeSender, StoreKey


class _CapturingApp:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.countdowns: list[float | None] = []

    def send_task(self, name: str, args: Any = None, queue: str = "", countdown: float | None = None,
                  headers: dict[str, Any] | None = None) -> None:
        assert headers is not None and headers["sent_at"] > 0  # every task says when it was sent (its trace line)
        self.sent.append((name, queue, args))
        self.countdowns.append(countdown)


def test_live_news_goes_to_its_shard_and_a_backfill_to_the_backlog_queue() -> None:
    from shopsentinel.runtime.distributed.celery_app import EVALUATE, TaskSender

    app = _CapturingApp()
    sender = TaskSender(app, shards=4, batch=40, backlog_delay=20.0)
    news, old = ("tmall", "crash"), [("tmall", f"old-{i}") for i in range(3)]
    sender.evaluate([news])
    sender.evaluate(old, backlog=True)
    assert app.sent[0] == (EVALUATE, f"eval.{shard_of(news, 4)}", [[[*news]]])
    assert [q for _n, q, _a in app.sent[1:]] == ["backlog"] * (len(app.sent) - 1)
    assert app.countdowns[0] is None and set(app.countdowns[1:]) == {20.0}  # news at once, backfills a little later
    assert sorted(tuple(k) for _n, _q, a in app.sent[1:] for k in a[0]) == sorted(old)


def test_on_redis_a_backfill_is_held_in_the_broker_not_as_countdown_tasks_and_sent_once_when_due() -> None:
    """Countdown tasks sit in a worker's memory and, expiring together, keep it from fetching a crash's
    live task (bench/distributed.py --trace); held in Redis instead, the scheduler sends them when due."""
    import redis

    from shopsentinel.runtime.distributed.celery_app import DeferredBacklog, TaskSender

    prefix = f"test-held-{uuid.uuid4().hex[:8]}:"
    held = DeferredBacklog(REDIS_URL, prefix)
    try:
        held.size()
    except redis.ConnectionError:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    try:
        app = _CapturingApp()
        sender = TaskSender(app, shards=4, batch=40, backlog_delay=20.0, backlog_batch=5, deferred=held)
        news, old = ("tmall", "crash"), [("tmall", f"old-{i}") for i in range(7)]
        sender.evaluate([news])
        sender.evaluate(old, backlog=True)
        sender.evaluate(old[:3], backlog=True)  # a second batch of the same backfill: coalesced
        assert [q for _n, q, _a in app.sent] == [f"eval.{shard_of(news, 4)}"]  # only the news was sent
        assert held.size() == len(old)
        assert sender.due_backlog() == []  # not due for 20 s
        first_due = float(held._client.zscore(held.key, held._member(old[0])) or 0)
        assert held.take_due(first_due - 1) == []
        due = held.take_due(first_due + 1)
        assert sorted(due) == sorted(old) and held.size() == 0 and held.take_due(first_due + 100) == []
        sender.evaluate(due, backlog=True, counts={k: 2 for k in due}, hold=False)  # the scheduler's send
        sent = app.sent[1:]
        assert {q for _n, q, _a in sent} == {"backlog"} and set(app.countdowns[1:]) == {None}
        assert sorted((k[0], k[1]) for _n, _q, a in sent for k in a[0]) == sorted(old)
        assert all(len(a[0]) <= 5 and all(k[2] == 2 for k in a[0]) for _n, _q, a in sent)
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
        held.close()


def test_on_redis_one_deliver_task_per_channel_and_one_pipeline_task_wait_at_a_time() -> None:
    """Kicks from every evaluation and the scheduler's tick piled up in the deliver queue and a crash's
    kick waited behind stale ones (bench/distributed.py --trace): while one waits, no second is sent."""
    import redis

    from shopsentinel.runtime.distributed.celery_app import DELIVER, PIPELINE, TaskSender, WaitingTasks

    prefix = f"test-waiting-{uuid.uuid4().hex[:8]}:"
    waiting = WaitingTasks(REDIS_URL, prefix)
    try:
        waiting.started("probe")
    except redis.ConnectionError:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    try:
        app = _CapturingApp()
        sender = TaskSender(app, shards=4, batch=40, waiting=waiting)
        for _ in range(3):
            sender.deliver("hook")
            sender.deliver("")
            sender.pipeline()
        assert sorted((n, tuple(a or ())) for n, _q, a in app.sent) == sorted(
            [(DELIVER, ("hook",)), (DELIVER, ("",)), (PIPELINE, ())])
        sender.started(f"{DELIVER}:hook")  # the hook task began (and reads the outbox from now on)
        sender.deliver("hook")
        sender.deliver("")  # the inbox task has not started: still none sent
        assert [a for n, _q, a in app.sent if n == DELIVER] == [["hook"], [""], ["hook"]]
        assert {q for _n, q, _a in app.sent} == {"deliver"}
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
        waiting.close()


def test_the_scheduler_sends_the_due_backlog_with_the_current_change_counts(
    remote: tuple[Service, FakeSender, ManualClock],
) -> None:
    service, sender, _clock = remote
    assert isinstance(service.scheduler, RemoteScheduler)
    store = ("tmall", "backfilled")
    calls: list[tuple[list[StoreKey], bool, dict[StoreKey, int] | None, bool]] = []
    sender.due_backlog = lambda: [store]  # type: ignore[method-assign]
    sender.evaluate = lambda keys, *, backlog=False, counts=None, hold=True: calls.append(  # type: ignore[method-assign]
        (list(keys), backlog, counts, hold))
    service.scheduler.enqueue_backlog([store])
    service.scheduler.enqueue_backlog([store])
    calls.clear()
    assert service.scheduler.release_backlog() == 1
    assert calls == [([store], True, {store: 2}, False)]


def test_a_task_whose_changes_an_evaluation_has_already_seen_is_skipped(
    remote: tuple[Service, FakeSender, ManualClock], monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, sender, _clock = remote
    judged: list[list[StoreKey]] = []
    original = service.evaluator.evaluate
    monkeypatch.setattr(service.evaluator, "evaluate", lambda keys: judged.append(list(keys)) or original(keys))
    store = ("tmall", "backfilled")
    service.scheduler.enqueue_backlog([store])  # batch 1 of a backfill: change 1
    service.scheduler.enqueue_backlog([store])  # batch 2: change 2, before any task ran
    assert sender.evaluated == [store, store]
    evaluate(service, sender, [store], {store: 2})  # the second task happens to run first: judges both changes
    assert judged == [[store]]
    evaluate(service, sender, [store], {store: 1})  # the first task: its change was seen, nothing to do
    assert judged == [[store]]
    service.scheduler.enqueue_backlog([store])  # batch 3 arrives later: change 3 is judged again
    evaluate(service, sender, [store], {store: 3})
    assert judged == [[store], [store]]


def test_backlog_tasks_are_small_and_live_news_keeps_the_shard_batch() -> None:
    from shopsentinel.runtime.distributed.celery_app import TaskSender

    app = _CapturingApp()
    sender = TaskSender(app, shards=1, batch=40, backlog_batch=5)
    stores = [("tmall", f"s{i:02d}") for i in range(12)]
    sender.evaluate(stores)
    sender.evaluate(stores, backlog=True)
    live = [len(a[0]) for _n, q, a in app.sent if q == "eval.0"]
    backlog = [len(a[0]) for _n, q, a in app.sent if q == "backlog"]
    assert live == [12] and backlog == [5, 5, 2]


def test_an_evaluation_that_changes_nothing_leaves_the_pipeline_alone(
    remote: tuple[Service, FakeSender, ManualClock], monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, sender, clock = remote
    pipelines: list[int] = []
    original = service.notify
    monkeypatch.setattr(service, "notify", lambda **kw: pipelines.append(1) or original(**kw))
    quiet, crash = ("tmall", "quiet"), ("tmall", "crash")
    service.rules.replace(service.rules.version(), RulePack.model_validate({"rules": [CRASH_RULE]}))
    hour = clock.now().replace(minute=0, second=0, microsecond=0)
    values = [1000.0] * 6 + [8.0] * 4  # a traffic crash in the last hours
    points = [Point(hour - timedelta(hours=len(values) - i), "tmall", "crash", "uv", v) for i, v in enumerate(values)]
    points += [Point(hour - timedelta(hours=h), "tmall", "quiet", "uv", 1000.0) for h in range(1, 11)]
    with service.sessions() as session:
        write_points(service, session, points, user="test", now=clock.now())  # the API's write path
    assert sender.evaluated == [crash, quiet]
    assert evaluate(service, sender, [quiet]) == 0
    assert pipelines == []  # no alert changed: no pipeline run, no delivery sent
    assert evaluate(service, sender, [crash]) > 0
    assert pipelines == [1]
    assert evaluate(service, sender, []) == 0  # the scheduler's pipeline task always runs it
    assert pipelines == [1, 1]


def _pending_entry(service: Service, key: str) -> None:
    from shopsentinel.core.types import Severity
    from shopsentinel.notify.base import Notification
    from shopsentinel.store.state import OutboxRow

    note = Notification(key=key, title=f"告警 {key}", severity=Severity.WARNING, alerts=[
        {"id": key, "ts": "2026-11-10T00:00:00Z", "state": "firing", "platform": "tmall", "store": key, "metric": "uv",
         "rule": "traffic.crash", "severity": "warning", "kind": "business", "value": 1.0}])
    with service.sessions() as session:
        session.add(OutboxRow(key=key, alert_id=key, payload=note.model_dump(mode="json"), muted=False,
                              created_at=service.clock.now(), status="pending", attempts=0, last_error="", channel=""))
        session.commit()


def _statuses(service: Service) -> dict[str, str]:
    from sqlalchemy import select

    from shopsentinel.store.state import OutboxRow

    with service.sessions() as session:
        return {r.key: r.status for r in session.scalars(select(OutboxRow)).all()}


def test_a_busy_kick_ends_and_the_holder_sends_what_was_committed_during_its_pass(
    remote: tuple[Service, FakeSender, ManualClock], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tail of issue 15: a message committed while a holder's pass runs has its kick find the channel
    busy. The holder reads the outbox again after releasing the channel and sends it — no retry task,
    no wait for the scheduler's periodic deliver."""
    from shopsentinel.runtime.distributed.tasks import deliver, deliver_or_drop
    from shopsentinel.store.coordination import HeldLocks

    service, sender, _clock = remote
    lock = threading.Lock()
    with lock:  # another thread of this process is sending the channel
        marks: dict[str, float] = {}
        assert deliver_or_drop(service, lock, "", marks) == 0 and "busy" in marks
    if service.locks is not None and service.locks.shared:  # PostgreSQL: another process holds the channel
        other = HeldLocks(service.engine)
        try:
            assert other.acquire("channel:") == "taken"
            marks = {}
            assert deliver_or_drop(service, lock, "", marks) == 0 and "busy" in marks
        finally:
            other.release("channel:")
    assert sender.delivered == []  # a busy kick sends no task again

    _pending_entry(service, "before")
    delivery = service.delivery()
    original = delivery.deliver_channel
    passes: list[int] = []

    def pass_during_which_the_pipeline_commits(*args: Any, **kwargs: Any) -> int:
        sent = original(*args, **kwargs)
        passes.append(sent)
        if len(passes) == 1:
            _pending_entry(service, "during")  # committed after this pass read the channel's entries
        return sent

    monkeypatch.setattr(delivery, "deliver_channel", pass_during_which_the_pipeline_commits)
    assert deliver(service, "") == 2
    assert passes == [1, 1]
    assert _statuses(service) == {"before": "sent", "during": "sent"}
    assert deliver(service, "") == 0 and passes == [1, 1, 0]  # nothing new: one pass, no loop
