"""History on connect (issue 13, item 2): a Taobao store connected on its fake without a start
pulls as much history as the platform keeps (about 3 months), through the same cursors as every
later sync; its per-stream progress goes from 0 to 100 %, orders older than the limit are never
asked for (no false zero hours before it), and the service's API shows the progress."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.secrets import SecretBox
from shopsentinel.ingest.sync_progress import sync_progress
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.ingest.sync_stores import register_store, sync_registered
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset
from shopsentinel.sim.platforms.harness import ClockSleep
from shopsentinel.sim.sync import serving_dataset
from shopsentinel.sources.registry import CONNECTORS, history_start

NOW = datetime(2026, 11, 20, 4, 30, tzinfo=UTC)
DATA_FROM = NOW - timedelta(days=120)  # the shop is older than what the platform lets us read


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return make_dataset(5, "Asia/Shanghai", DATA_FROM, NOW, 0.4)


@pytest.fixture
def connected(dataset: Dataset, tmp_path: Path) -> Iterator[tuple[SyncDB, SecretBox, ManualClock, dict]]:
    clock = ManualClock(NOW)
    box = SecretBox(Fernet.generate_key())
    with serving_dataset("taobao", dataset, clock, store="tb-new") as (_app, fields), SyncDB(tmp_path / "s.duckdb") as db:
        fields = {**fields, "window_hours": 24, "page_size": 100}
        yield db, box, clock, fields


def test_every_platform_has_a_history_limit_and_top_keeps_about_three_months() -> None:
    assert {p: CONNECTORS[p].history_days for p in ("taobao", "tmall", "jd", "pdd", "douyin", "kuaishou")} == dict.fromkeys(
        ("taobao", "tmall", "jd", "pdd", "douyin", "kuaishou"), 90)
    assert CONNECTORS["amazon"].history_days == 730 and CONNECTORS["shopify"].history_days == 60
    assert history_start("taobao", NOW) == datetime(2026, 8, 22, 4, tzinfo=UTC)


def test_a_store_connected_without_a_start_backfills_90_days_with_progress_from_0_to_100(connected) -> None:
    db, box, clock, fields = connected
    record = register_store(db, box, "taobao", "tb-new", "Asia/Shanghai", fields, now=clock.now())
    assert record.start == history_start("taobao", NOW)
    before = sync_progress(db, "taobao", "tb-new", clock.now())
    assert before is not None and before.covered == 0.0 and not before.backfilled and before.history_days == 90.02

    [report] = asyncio.run(sync_registered(db, box, clock=clock, sleep=ClockSleep(clock)))
    assert report.ok, report.error
    after = sync_progress(db, "taobao", "tb-new", clock.now())
    assert after is not None and after.backfilled
    assert set(after.streams) == {"orders", "refunds", "reviews", "stock"}
    assert all(share == 1.0 for share in after.streams.values())

    points = db.points("taobao", "tb-new")
    orders = points.filter(points["metric"] == "orders")
    assert orders["ts"].min() >= record.start - timedelta(hours=1)  # nothing before the platform's limit
    assert orders["ts"].min() <= record.start + timedelta(hours=1)
    assert orders["value"].sum() > 0
    days = (orders["ts"].max() - orders["ts"].min()).total_seconds() / 86400
    assert 89.5 <= days <= 90.5


def test_a_start_older_than_the_platform_keeps_is_moved_up_to_its_limit(connected) -> None:
    db, box, clock, fields = connected
    record = register_store(db, box, "taobao", "tb-new", "Asia/Shanghai",
                            {**fields, "start": (NOW - timedelta(days=200)).isoformat()}, now=clock.now())
    assert record.start == history_start("taobao", NOW)
    recent = NOW - timedelta(days=10)
    assert register_store(db, box, "taobao", "tb-new", "Asia/Shanghai", {**fields, "start": recent},
                          now=clock.now()).start == recent


def test_progress_is_read_from_the_cursors_midway(connected) -> None:
    db, box, clock, fields = connected
    record = register_store(db, box, "taobao", "tb-new", "Asia/Shanghai", fields, now=clock.now())
    halfway = record.start + (NOW - record.start) / 2
    db.store_page("taobao", "tb-new", "orders", [], [], {"since": halfway.isoformat(), "phase": "backfill"}, NOW)
    progress = sync_progress(db, "taobao", "tb-new", NOW)
    assert progress is not None and progress.streams == {"orders": 0.5} and not progress.backfilled


def test_the_api_shows_backfill_progress_per_stream(connected, tmp_path: Path) -> None:
    from shopsentinel.runtime.sync_runner import SyncRunner
    from tests.support.service import make_api

    db, box, clock, fields = connected
    api = make_api(f"sqlite:///{tmp_path / 'state.db'}", clock, sync_db=tmp_path / "unused.duckdb")
    try:
        api.service.sync = SyncRunner(api.service, db, lambda: box, clock=clock, sleep=ClockSleep(clock))
        assert api.get("/api/v1/stores/taobao/tb-new/sync").status_code == 404  # not connected yet
        register_store(db, box, "taobao", "tb-new", "Asia/Shanghai", fields, now=clock.now())
        body = api.get("/api/v1/stores/taobao/tb-new/sync").json()
        assert (body["percent"], body["backfilled"], body["streams"]) == (0, False, [])
        assert body["message"].startswith("历史回补中：0%") and body["history_days"] == 90.02
        api.service.sync.run_due()
        body = api.get("/api/v1/stores/taobao/tb-new/sync").json()
        assert (body["percent"], body["backfilled"], body["message"]) == (100, True, "历史回补完成")
        assert {s["stream"]: s["percent"] for s in body["streams"]} == dict.fromkeys(
            ("orders", "refunds", "reviews", "stock"), 100)
    finally:
        api.service.close()
