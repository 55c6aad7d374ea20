"""The roles on Celery (issue 15, "Roles on Celery"; docs/DEPLOY.md).

Unit tests: the shard hash is stable and spreads stores; live news is counted durably and a store
whose evaluation task was lost is sent again by the periodic pass until an evaluation has seen it.

Integration: real processes on this machine's PostgreSQL (a throwaway schema) and Redis (a key
prefix of the test's own, flushed at the end) — two ``serve`` replicas, two ``worker``s, two
``scheduler``s, a webhook receiver counting what arrives. Crashes posted to both replicas each arrive
once; a worker is killed with ``-9`` in the middle of a (slow) delivery and the scheduler leader with
it; the standby leads, the periodic work resumes, everything still arrives once — at most the one
message in flight at the kill twice, with the same Idempotency-Key — and no store has twin alerts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.runtime.distributed.remote import RemoteScheduler
from shopsentinel.runtime.distributed.shards import all_queues, by_shard, shard_of
from shopsentinel.runtime.distributed.tasks import FollowerLocks, evaluate
from shopsentinel.runtime.service import Service
from shopsentinel.sim.channels import FakeWebhookReceiver
from shopsentinel.store.evaluation_marks import change_counts, mark_changed, mark_judged, unjudged
from tests.runtime.test_fault_delivery import add_webhook
from tests.support.once import assert_each_once, hook_receiver, stores_in
from tests.support.processes import (
    SHOPSENTINEL,
    Server,
    crash_points,
    route_everything_at_once,
    service_env,
    wait_for,
)
from tests.support.remote import FakeSender
from tests.support.service import pg_schema

REDIS_URL = "redis://127.0.0.1:6379/0"


# --- the shard hash --------------------------------------------------------------------------------


def test_the_shard_of_a_store_is_stable_and_stores_spread_over_the_shards() -> None:
    keys = [("tmall", f"s{i:04d}") for i in range(2000)]
    # fixed values: the same in every process and every run (hash() would be salted per process)
    assert [shard_of(k, 4) for k in keys[:8]] == [shard_of(k, 4) for k in keys[:8]]
    script = "from shopsentinel.runtime.distributed.shards import shard_of; print([shard_of(('tmall', f's{i:04d}'), 4) for i in range(8)])"
    other = subprocess.run([os.fspath(SHOPSENTINEL.with_name("python")), "-c", script], capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == str([shard_of(k, 4) for k in keys[:8]])
    counts = Counter(shard_of(k, 4) for k in keys)
    assert set(counts) == {0, 1, 2, 3}
    assert all(400 <= n <= 600 for n in counts.values()), counts  # 500 each, give or take
    assert shard_of(("tmall", "a/b"), 4) == shard_of(("tmall", "a/b"), 4)
    assert all_queues(2) == ["eval.0", "eval.1", "deliver", "backlog", "sync", "respond"]
    batches = by_shard(keys[:100], 4, 10)
    assert sorted(k for _, batch in batches for k in batch) == sorted(keys[:100])  # each store once
    assert all(len(batch) <= 10 and {shard_of(k, 4) for k in batch} == {n} for n, batch in batches)


# --- live news is durable ---------------------------------------------------------------------------


def test_news_whose_evaluation_was_lost_is_sent_again_until_an_evaluation_has_seen_it(
    remote: tuple[Service, FakeSender, ManualClock],
) -> None:
    service, sender, clock = remote
    assert isinstance(service.scheduler, RemoteScheduler)
    lost, judged = ("tmall", "lost"), ("tmall", "judged")
    service.scheduler.enqueue([lost, judged])  # ingest: counted, then sent
    assert sender.evaluated == [lost, judged]
    assert service.scheduler.pending() == [] and not service.scheduler.has_news()
    evaluate(service, sender, [judged])  # judged's task ran; lost's died with its worker

    sender.evaluated.clear()
    service.scheduler.run_pending()  # the first pass: too soon to call the news lost
    assert sender.evaluated == []
    clock.advance(timedelta(seconds=61))
    service.scheduler.run_pending()
    assert sender.evaluated == [lost]  # sent again; the judged store is not
    sender.evaluated.clear()
    clock.advance(timedelta(seconds=20))
    service.scheduler.run_pending()  # not due yet
    clock.advance(timedelta(seconds=45))
    service.scheduler.run_pending()
    assert sender.evaluated == [lost]  # still unjudged: sent again, spaced by eval_retry_seconds

    evaluate(service, sender, [lost])
    sender.evaluated.clear()
    clock.advance(timedelta(seconds=61))
    service.scheduler.run_pending()
    assert sender.evaluated == []


def test_news_that_arrives_while_an_evaluation_runs_stays_unjudged(
    remote: tuple[Service, FakeSender, ManualClock],
) -> None:
    service, _sender, clock = remote
    key = ("jd", "s1")
    with service.sessions() as session:
        mark_changed(session, [key], clock.now())
        session.commit()
        seen = change_counts(session, [key])  # an evaluation starts reading
        mark_changed(session, [key], clock.now())  # news arrives meanwhile
        session.commit()
        mark_judged(session, seen)
        session.commit()
        assert unjudged(session, clock.now() + timedelta(seconds=1)) == [key]
        mark_judged(session, change_counts(session, [key]))
        mark_judged(session, seen)  # a late, older evaluation never moves the mark back
        session.commit()
        assert unjudged(session, clock.now() + timedelta(seconds=1)) == []


def test_a_worker_never_takes_the_lead(remote: tuple[Service, FakeSender, ManualClock]) -> None:
    service, _sender, _clock = remote
    follower = FollowerLocks(service.engine)
    try:
        assert follower.acquire("scheduler") == "busy" and not follower.holds("scheduler")
        assert follower.acquire("channel:x") == "taken" and follower.holds("channel:x")
    finally:
        follower.release_all()


# --- the roles as real processes --------------------------------------------------------------------


class Role:
    """One ``shopsentinel worker`` or ``shopsentinel scheduler`` subprocess (output in ``tmp_path/<name>.log``)."""

    def __init__(self, tmp_path: Path, env: dict[str, str], name: str, *args: str) -> None:
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([str(SHOPSENTINEL), *args], env=env, cwd=tmp_path, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


START_SECONDS = 300.0  # six cold starts at once on a loaded 2-core machine; polled, so no slower when idle


def wait_healthy(server: Server) -> None:
    def healthy() -> bool:
        if server.proc.poll() is not None:
            raise AssertionError(f"service exited with {server.proc.returncode}:\n{server.log()}")
        try:
            return httpx.get(f"{server.base_url}/healthz", timeout=0.5).status_code == 200
        except httpx.TransportError:
            return False

    wait_for("/healthz", healthy, timeout=START_SECONDS)


def post(server: Server, stores: list[str]) -> None:
    """Post the crashes of ``stores`` (the client waits up to 60 s: a loaded machine may take seconds)."""
    points = crash_points(stores)
    response = server.client.post("/api/v1/points", json={"points": points})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(points), response.text


def redis_client() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return client


@pytest.fixture
def broker_prefix() -> Iterator[str]:
    client = redis_client()
    prefix = f"sstest-{uuid.uuid4().hex[:10]}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def hook() -> Iterator[FakeWebhookReceiver]:
    yield from hook_receiver()


VIA_A = [f"tm-dist-a{i:02d}" for i in range(12)]
VIA_B = [f"tm-dist-b{i:02d}" for i in range(12)]
LATE = [f"tm-dist-late{i}" for i in range(3)]
CHANNEL = "ops-hook"
LEADING, TICK = "scheduler: leading", "scheduler tick"


def open_pass(worker: Role) -> int | None:
    """The number of the webhook delivery pass the worker is inside right now, or None."""
    text = worker.log()
    started = text.count(f"delivering channel '{CHANNEL}'")
    return started if started > text.count(f"delivered channel '{CHANNEL}'") else None


class Sender:
    """Finds the worker that is sending: inside the same delivery pass for a while (a worker that
    finds the channel busy leaves its pass at once; the holder stays for a slow message after another)."""

    def __init__(self, workers: list[Role], dwell: float = 1.0) -> None:
        self.workers = workers
        self.dwell = dwell
        self.seen: dict[str, tuple[int, float]] = {}

    def __call__(self) -> Role | None:
        now = time.monotonic()
        for worker in self.workers:
            current = open_pass(worker)
            if current is None:
                self.seen.pop(worker.name, None)
                continue
            number, since = self.seen.setdefault(worker.name, (current, now))
            if number != current:
                self.seen[worker.name] = (current, now)
            elif now - since >= self.dwell:
                return worker
        return None


def test_serve_worker_and_scheduler_roles_deliver_every_crash_once_across_kill_9(
    tmp_path: Path, hook: FakeWebhookReceiver, broker_prefix: str
) -> None:
    fake = hook
    with pg_schema("dist") as (_user, _schema, url), ExitStack() as stack:
        env = service_env(tmp_path, SHOPSENTINEL_DATABASE_URL=url, SHOPSENTINEL_BROKER_URL=REDIS_URL,
                          SHOPSENTINEL_BROKER_KEY_PREFIX=broker_prefix, SHOPSENTINEL_SHARDS="2",
                          SHOPSENTINEL_EVAL_RETRY_SECONDS="5")
        roles_env = {**env}
        roles_env.pop("SHOPSENTINEL_BOOTSTRAP_TOKEN")  # the API's token is serve's business

        def start(name: str, *args: str) -> Role:
            role = Role(tmp_path, roles_env, name, *args)
            stack.callback(role.close)
            return role

        # everything starts at once (a cold start is slow on a loaded machine); B after A has the token
        a = Server(tmp_path, env, "serve-a")
        stack.callback(a.close)
        a.client.timeout = httpx.Timeout(60.0)  # a loaded machine may take seconds to answer
        workers = [start(f"worker-{i}", "worker", "--concurrency", "3") for i in (1, 2)]
        schedulers = [start(f"scheduler-{i}", "scheduler") for i in (1, 2)]
        wait_healthy(a)
        b = Server(tmp_path, env, "serve-b")
        stack.callback(b.close)
        b.client.timeout = httpx.Timeout(60.0)
        add_webhook(a, f"{fake.base_url}/hook", name=CHANNEL)  # type: ignore[attr-defined]
        route_everything_at_once(a)
        wait_healthy(b)
        for worker in workers:
            wait_for(f"{worker.name} to be ready", lambda w=worker: w.check_alive() or "worker ready" in w.log(),
                     timeout=START_SECONDS)

        def leaders() -> list[Role]:
            for s in schedulers:
                s.check_alive()
            return [s for s in schedulers if LEADING in s.log()]

        leader = wait_for("one scheduler to lead", lambda: leaders() or None, timeout=START_SECONDS)[0]
        standby = next(s for s in schedulers if s is not leader)
        wait_for("the standby to stand by", lambda: "scheduler: standing by" in standby.log(), timeout=START_SECONDS)
        assert LEADING not in standby.log()
        for server in (a, b):  # serve runs no background runner and never leads
            assert server.client.get("/healthz").json()["role"] == "follower"

        fake.faults.delay_seconds = 0.25  # slow enough to kill the sender in the middle of its pass
        post(a, VIA_A)
        post(b, VIA_B)
        wait_for("some messages to arrive", lambda: len(fake.received) >= 3, timeout=90)
        victim = wait_for("a worker in the middle of a delivery", Sender(workers), timeout=60)
        victim.kill9()
        leader.kill9()
        sent_before_kill = len(fake.received)
        assert sent_before_kill < len(VIA_A) + len(VIA_B)  # killed in the middle of the send

        fake.faults.delay_seconds = 0.0
        wait_for("the standby to lead", lambda: LEADING in standby.log(), timeout=30)
        ticks = standby.log().count(TICK)
        wait_for("the new leader's periodic work", lambda: standby.log().count(TICK) >= ticks + 2, timeout=30)
        wait_for("the crashes posted before the kills to arrive",
                 lambda: stores_in(fake, [*VIA_A, *VIA_B]) == {*VIA_A, *VIA_B} or None, timeout=90)
        post(b, LATE)  # the surviving worker judges and sends on its own
        everyone = [*VIA_A, *VIA_B, *LATE]
        wait_for("every crash to arrive", lambda: stores_in(fake, everyone) == set(everyone) or None, timeout=90)

        assert_each_once(fake, everyone)  # at most the one message in flight at a kill sent twice, same key

        items = b.get("/api/v1/alerts", params={"state": "firing", "limit": 1000})["items"]
        firing = Counter(x["store"] for x in items if x["store"].startswith("tm-dist-"))
        assert firing == Counter(dict.fromkeys(everyone, 1))  # one firing alert per store, no twin

        entries = b.get("/api/v1/outbox", params={"limit": 10_000})["items"]
        hook_entries = [e for e in entries if e["key"].endswith(f">{CHANNEL}")]
        assert len(hook_entries) == len(everyone)
        wait_for("every webhook entry to be marked sent", lambda: all(
            e["status"] == "sent" for e in b.get("/api/v1/outbox", params={"limit": 10_000})["items"]
            if e["key"].endswith(f">{CHANNEL}")), timeout=30)
