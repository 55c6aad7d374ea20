"""The sync engine against real fakes on loopback: ground truth, crash and restart, late changes,
throttling backoff and idempotence. No real sleeping: every wait moves the fake's manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from shopsentinel.core.errors import ThrottledError
from shopsentinel.ingest.sync import SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sim.sync import SIM_STORES, SimEnv, compare, ground_truth, running_sim
from shopsentinel.sources.base import Source, StreamPage
from shopsentinel.sources.registry import build_source


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the engine catches it."""


class Faulty:
    """Wraps a real source; raises ``error`` once after ``after_pages`` pages of ``stream``."""

    def __init__(self, inner: Source, *, stream: str, after_pages: int, error: BaseException) -> None:
        self.inner, self.stream, self.after, self.error = inner, stream, after_pages, error
        self.fired = False

    def streams(self) -> Any:
        return self.inner.streams()

    async def _pages(self, stream: str, cursor: dict[str, Any], until: datetime) -> AsyncIterator[StreamPage]:
        count = 0
        async with aclosing(self.inner.pages(stream, cursor, until)) as pages:
            async for page in pages:
                if stream == self.stream and count == self.after and not self.fired:
                    self.fired = True
                    raise self.error
                count += 1
                yield page

    def pages(self, stream: str, cursor: dict[str, Any], until: datetime) -> AsyncIterator[StreamPage]:
        return self._pages(stream, cursor, until)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def sync(env: SimEnv, db: SyncDB, wrap: Any = None) -> SyncReport:
    source: Any = build_source(env.record.platform, env.config, clock=env.clock, sleep=env.sleep)
    if wrap is not None:
        source = wrap(source)
    try:
        return await SyncEngine(db, clock=env.clock, sleep=env.sleep).sync_store(env.record, source)
    finally:
        await source.aclose()


def streams_of(env: SimEnv) -> tuple[str, ...]:
    return tuple(build_source(env.record.platform, env.config, clock=env.clock).streams())


def assert_matches_truth(env: SimEnv, db: SyncDB, report: SyncReport) -> pl.DataFrame:
    truth = ground_truth(env, streams_of(env), report.until)
    result = compare(env, db.points(env.record.platform, env.record.store), truth, report.until)
    assert result.ok, result.examples
    return truth


@pytest.mark.parametrize("platform", sorted(SIM_STORES))
def test_sync_of_each_platform_equals_ground_truth_while_throttled(platform: str) -> None:
    with running_sim(platform, throttle=True) as env, SyncDB(":memory:") as db:
        report = asyncio.run(sync(env, db))
        assert report.ok, report.error
        truth = assert_matches_truth(env, db, report)
    assert truth.filter(pl.col("metric") == "orders")["value"].sum() > 100  # not vacuous
    assert sum(s.throttle_wait_seconds for s in report.streams.values()) > 0
    assert env.sleep.waits  # waited on the manual clock, never for real


def test_sync_killed_midway_restarts_from_persisted_cursor_without_gaps_or_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    with running_sim("taobao") as env:
        with SyncDB(path) as db:
            with pytest.raises(Killed):
                asyncio.run(sync(env, db, lambda s: Faulty(s, stream="orders", after_pages=4, error=Killed())))
            mid_cursor = db.cursor("taobao", env.record.store, "orders")
            stored = db.entity_count("taobao", env.record.store)["orders"]
        assert "window" in mid_cursor or "since" in mid_cursor
        assert 0 < stored < len(env.dataset.orders)
        with SyncDB(path) as db:  # a new process opens the same file
            report = asyncio.run(sync(env, db))
            assert report.ok, report.error
            assert report.streams["orders"].entities == len(env.dataset.orders) - stored  # resumed, not restarted
            assert_matches_truth(env, db, report)


def test_failed_sync_is_recorded_in_health_and_the_next_run_recovers() -> None:
    with running_sim("pdd") as env, SyncDB(":memory:") as db:
        boom = RuntimeError("connection reset")
        failed = asyncio.run(sync(env, db, lambda s: Faulty(s, stream="refunds", after_pages=3, error=boom)))
        health = db.health("pdd", env.record.store)
        assert not failed.ok and "refunds: RuntimeError: connection reset" in (failed.error or "")
        assert failed.streams["stock"].pages >= 1  # the other streams still ran
        assert health.consecutive_failures == 1 and health.last_success is None and health.dirty_from is not None
        report = asyncio.run(sync(env, db))
        assert report.ok
        assert_matches_truth(env, db, report)
        health = db.health("pdd", env.record.store)
    assert health.consecutive_failures == 0 and health.last_error is None and health.synced_until == report.until


def test_a_failed_stream_leaves_its_hours_missing_not_zero() -> None:
    """An orders stream that fails (authorization revoked) writes no orders for the hours it did not read: a
    business rule must see missing data there, not "0 orders"; the next successful sync fills them."""
    with running_sim("pdd") as env, SyncDB(":memory:") as db:
        store = env.record.store
        assert asyncio.run(sync(env, db)).ok

        def last(metric: str) -> Any:
            frame = db.points("pdd", store).filter(pl.col("metric") == metric)
            return frame["ts"].max()

        synced_orders, synced_refunds = last("orders"), last("refunds")
        env.clock.advance(timedelta(hours=6))
        revoked = RuntimeError("Invalid session")
        failed = asyncio.run(sync(env, db, lambda s: Faulty(s, stream="orders", after_pages=0, error=revoked)))
        assert not failed.ok and "orders: RuntimeError: Invalid session" in (failed.error or "")
        assert last("orders") == synced_orders  # nothing written for the hours the failed stream did not read
        assert last("refunds") > synced_refunds  # the streams that were read still count (0 refunds an hour)
        report = asyncio.run(sync(env, db))
        assert report.ok, report.error
        assert last("orders") > synced_orders  # read now: those hours are counted (0 where nothing was sold)
        assert_matches_truth(env, db, report)


def test_throttling_that_escapes_the_connector_is_backed_off_and_retried() -> None:
    with running_sim("douyin") as env, SyncDB(":memory:") as db:
        error = ThrottledError("slow down", retry_after=30)
        report = asyncio.run(sync(env, db, lambda s: Faulty(s, stream="orders", after_pages=2, error=error)))
        assert report.ok, report.error
        assert report.streams["orders"].backoff_seconds == 30
        assert 30 in env.sleep.waits
        assert_matches_truth(env, db, report)


def test_order_that_changes_state_later_is_counted_once_with_its_latest_state() -> None:
    with running_sim("taobao") as env, SyncDB(":memory:") as db:
        first = asyncio.run(sync(env, db))
        unpaid = next(o for o in env.dataset.orders if o.status == "待付款")
        env.clock.advance(timedelta(hours=2))
        paid_at = env.clock.now() - timedelta(minutes=30)
        env.dataset.replace_order(replace(unpaid, status="待发货", paid_at=paid_at, updated_at=paid_at))
        second = asyncio.run(sync(env, db))
        assert first.ok and second.ok and second.streams["orders"].entities == 1
        truth = assert_matches_truth(env, db, second)
        points = db.points("taobao", env.record.store)
    orders = points.filter(pl.col("metric") == "orders")["value"].sum()
    assert orders == len(env.dataset.orders) == truth.filter(pl.col("metric") == "orders")["value"].sum()
    assert points.filter(pl.col("metric") == "paid_orders", pl.col("ts") >= paid_at - timedelta(hours=1))["value"].sum() >= 1


def test_rerunning_a_sync_changes_nothing() -> None:
    with running_sim("jd") as env, SyncDB(":memory:") as db:
        asyncio.run(sync(env, db))
        before = db.points("jd", env.record.store)
        again = asyncio.run(sync(env, db))
        after = db.points("jd", env.record.store)
    assert again.ok and sum(s.entities for s in again.streams.values()) == 0
    assert before.equals(after) and before.height > 300
