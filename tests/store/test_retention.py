"""Retention of the points (store/retention.py), on the real PostgreSQL (a fresh schema, month
partitions) and on SQLite: months entirely before the cutoff go, recent ones stay, the default
partition is only trimmed, a dry run removes nothing, a second run finds nothing, a write to the
current month running at the same time is kept; a retention shorter than what detection reads is
refused; the daily run happens in the leading scheduler only; ``shopsentinel store prune``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.types import Point
from shopsentinel.detect.rules import RulePack, default_rules
from shopsentinel.runtime.scheduler import Scheduler
from shopsentinel.store.db import open_database
from shopsentinel.store.points import FRAME_SCHEMA, PointStore
from shopsentinel.store.retention import (
    RetentionError,
    check_retention,
    prune_checked,
    prune_points,
    required_days,
    rule_lookback,
)
from tests.support.service import pg_schema

NOW = datetime(2026, 12, 7, 5, tzinfo=UTC)
RETENTION = 400  # cutoff 2025-11-02 05:00
# one point on the 15th of every month from January 2025 to December 2026, plus one on 2025-11-01
MONTHS = [datetime(2025 + (m // 12), m % 12 + 1, 15, tzinfo=UTC) for m in range(24)]
EDGE = datetime(2025, 11, 1, tzinfo=UTC)  # before the cutoff, in the month that holds it


@contextmanager
def database(kind: str) -> Iterator[Engine]:
    if kind == "postgresql":
        with pg_schema("retention") as (_user, _schema, url):
            engine, _ = open_database(url)
            try:
                yield engine
            finally:
                engine.dispose()
    else:
        import tempfile

        engine, _ = open_database(f"sqlite:///{tempfile.mkdtemp(prefix='retention-')}/state.db")
        try:
            yield engine
        finally:
            engine.dispose()


def seed(engine: Engine) -> None:
    stamps = [*MONTHS, EDGE]
    PointStore(engine, cache_stores=0).write(pl.DataFrame(
        [(t, "tmall", "s1", "", "uv", float(i)) for i, t in enumerate(stamps)], schema=FRAME_SCHEMA, orient="row"))


def points_ts(engine: Engine) -> list[datetime]:
    with engine.connect() as conn:
        return [datetime.fromtimestamp(r[0], UTC) for r in conn.execute(text("SELECT ts FROM points ORDER BY ts"))]


def partitions(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {r[0]: int(r[1]) for r in conn.execute(text(
            "SELECT c.relname, (SELECT count(*) FROM points WHERE tableoid = c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'points' AND p.relnamespace = to_regnamespace(current_schema())::oid"))}


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_old_points_go_recent_stay_dry_run_removes_nothing_and_a_second_run_finds_nothing(kind: str) -> None:
    with database(kind) as engine:
        seed(engine)
        if kind == "postgresql":  # rows in the default partition: one old, one recent (no month partition for them)
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO points_default VALUES ('tmall','s2','','uv',:a,1.0), ('tmall','s2','','uv',:b,2.0)"),
                             {"a": int(datetime(2024, 6, 1, tzinfo=UTC).timestamp()),
                              "b": int(datetime(2027, 6, 1, tzinfo=UTC).timestamp())})
        before = points_ts(engine)
        cutoff = NOW - timedelta(days=RETENTION)
        old = [t for t in before if t < cutoff]

        dry = prune_points(engine, RETENTION, NOW, dry_run=True, batch=3)
        assert points_ts(engine) == before
        assert dry.dry_run and dry.cutoff == cutoff

        report = prune_points(engine, RETENTION, NOW, batch=3)
        after = points_ts(engine)
        assert (report.dropped, report.deleted) == (dry.dropped, dry.deleted)
        if kind == "postgresql":
            # whole months before the cutoff dropped; November 2025 (holds the cutoff) kept whole, its
            # 1 November row included; of the default partition only the old row deleted
            assert sorted(report.dropped) == [f"points_p2025{m:02d}" for m in range(1, 11)]
            assert set(report.dropped.values()) == {1}
            assert report.deleted == 1
            assert after == [t for t in before if t >= datetime(2025, 11, 1, tzinfo=UTC)]
            assert "points_default" in partitions(engine)
            assert not any(name in partitions(engine) for name in report.dropped)
        else:  # row by row, in batches of 3: exactly the rows before the cutoff
            assert report.dropped == {}
            assert report.deleted == len(old) == 11
            assert after == [t for t in before if t >= cutoff]
        assert after[-1] == before[-1] and NOW.replace(day=15, hour=0) in after

        again = prune_points(engine, RETENTION, NOW, batch=3)
        assert again.rows == 0 and points_ts(engine) == after


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_write_to_the_current_month_during_the_prune_is_kept(kind: str) -> None:
    with database(kind) as engine:
        seed(engine)
        store = PointStore(engine, cache_stores=0)
        hours = [NOW.replace(day=1, hour=0) + timedelta(hours=h) for h in range(120)]
        errors: list[BaseException] = []

        def write() -> None:
            try:
                for h in hours:  # one short transaction per point, as the live path writes
                    store.upsert([Point(ts=h, platform="tmall", store="live", metric="uv", value=1.0)])
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        report = prune_points(engine, RETENTION, NOW, batch=2)
        writer.join()
        assert not errors
        assert report.rows == (10 if kind == "postgresql" else 11)  # PostgreSQL keeps November 2025 whole
        with engine.connect() as conn:
            live = conn.execute(text("SELECT count(*) FROM points WHERE store = 'live'")).scalar()
        assert live == len(hours)


def test_a_retention_shorter_than_detection_reads_is_refused_and_deletes_nothing() -> None:
    pack = default_rules()
    days, rule = rule_lookback(pack)
    assert days >= 35 and rule is not None  # the default pack's longest history (stock rules' 6-week usual low)
    with pytest.raises(RetentionError, match="^数据保留期.*评估窗口") as window:
        check_retention(20, eval_window_days=35)
    assert "SHOPSENTINEL_POINTS_RETENTION_DAYS=20" in str(window.value) and "35" in str(window.value)
    with pytest.raises(RetentionError, match=f"规则 {rule}"):
        check_retention(days - 1, eval_window_days=10, pack=pack)
    check_retention(days, eval_window_days=10, pack=pack)
    # an hour-of-week rule of 30 weeks reads 210 days
    body = pack.model_dump(mode="json", by_alias=True)
    body["rules"].append({"id": "custom.weekly", "name": {"zh": "周规律", "en": "weekly"}, "severity": "warning",
                          "when": {"type": "seasonal_band", "metric": "uv", "direction": "down", "history": 30}})
    weekly = RulePack.model_validate(body)
    assert required_days(35, weekly)[0] == 210
    with database("sqlite") as engine:
        seed(engine)
        before = points_ts(engine)
        with pytest.raises(RetentionError, match="custom.weekly"):
            prune_checked(engine, 200, 35, weekly, NOW)
        assert points_ts(engine) == before
        assert prune_checked(engine, 0, 35, weekly, NOW) is None  # 0: retention off
        assert points_ts(engine) == before


def test_the_daily_entry_runs_in_the_leading_scheduler_only_once_a_day() -> None:
    clock = ManualClock(NOW)
    runs: list[datetime] = []
    leading = {"now": False}
    scheduler = Scheduler(clock, timedelta(minutes=1), None, lambda _b, _a: [],  # type: ignore[arg-type]
                          leader=lambda: leading["now"])
    scheduler.add_periodic("retention", timedelta(days=1), runs.append)
    assert scheduler.run_periodic(clock.now(), background=False) == []  # a standby never runs it
    leading["now"] = True
    assert scheduler.run_periodic(clock.now(), background=False) == ["retention"]
    clock.advance(timedelta(hours=23))
    assert scheduler.run_periodic(clock.now(), background=False) == []
    clock.advance(timedelta(hours=1))
    assert scheduler.run_periodic(clock.now(), background=False) == ["retention"]
    assert runs == [NOW, NOW + timedelta(days=1)]


def test_store_prune_cli_dry_run_then_prune(tmp_path: Path) -> None:
    from shopsentinel.cli import app

    url = f"sqlite:///{tmp_path}/state.db"
    engine, _ = open_database(url)
    try:
        seed(engine)
        PointStore(engine, cache_stores=0).upsert(
            [Point(ts=datetime.now(UTC) - timedelta(days=500), platform="tmall", store="s9", metric="uv", value=1.0)])
        before = points_ts(engine)
        runner = CliRunner()
        dry = runner.invoke(app, ["store", "prune", "--database-url", url, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "would drop" in dry.output and points_ts(engine) == before
        refused = runner.invoke(app, ["store", "prune", "--database-url", url, "--days", "5"])
        assert refused.exit_code != 0 and "SHOPSENTINEL_POINTS_RETENTION_DAYS=5" in refused.output
        assert points_ts(engine) == before
        done = runner.invoke(app, ["store", "prune", "--database-url", url])
        assert done.exit_code == 0, done.output
        cutoff = datetime.now(UTC) - timedelta(days=400)
        assert points_ts(engine) == [t for t in before if t >= cutoff] != before
    finally:
        engine.dispose()
