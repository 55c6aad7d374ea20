"""The point store's read cache returns exactly what an uncached read returns, after new
hours, late points, corrected values and a window that slides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from shopsentinel.core.types import Point
from shopsentinel.store.db import open_database
from shopsentinel.store.points import PointStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)


def _hours(first: int, last: int, value: float = 1.0, store: str = "s1") -> list[Point]:
    return [Point(T0 + h * H, "tmall", store, m, value + h, sku) for h in range(first, last)
            for m, sku in (("orders", ""), ("stock", "SKU-1"))]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cached_reads_equal_fresh_reads(database_url: str) -> None:
    engine, _ = open_database(database_url)
    cached, fresh = PointStore(engine, cache_stores=1), PointStore(engine, cache_stores=0)

    def check(start: int, end: int, store: str = "s1") -> pl.DataFrame:
        got = cached.frame("tmall", store, T0 + start * H, T0 + end * H)
        assert_frame_equal(got, fresh.frame("tmall", store, T0 + start * H, T0 + end * H))
        return got

    cached.upsert(_hours(0, 48))
    assert check(0, 24).height == 48
    cached.upsert(_hours(24, 30))              # new hours
    check(0, 30)
    cached.upsert([Point(T0 + 3 * H, "tmall", "s1", "orders", 99.0)])  # a correction of an old hour
    got = check(0, 30)
    assert got.filter((pl.col("ts") == T0 + 3 * H) & (pl.col("metric") == "orders"))["value"].to_list() == [99.0]
    cached.upsert(_hours(30, 40) + [Point(T0 + 20 * H, "tmall", "s1", "uv", 5.0)])  # late point
    check(5, 40)                               # the window slid
    check(2, 40)                               # and back: older than the cache, read again
    cached.upsert(_hours(0, 10, store="s2"))   # another store evicts s1 (one store cached)
    check(0, 10, store="s2")
    check(5, 41)
    engine.dispose()


def test_upsert_reports_the_earliest_new_or_changed_point_per_store(database_url: str) -> None:
    engine, _ = open_database(database_url)
    store = PointStore(engine, cache_stores=0)
    assert store.upsert(_hours(1, 3) + _hours(0, 2, store="s2")) == {("tmall", "s1"): T0 + H, ("tmall", "s2"): T0}
    assert store.upsert(_hours(1, 3)) == {}  # the same values again: nothing changed
    changed = store.upsert(_hours(0, 3) + [Point(T0 + H, "tmall", "s2", "uv", 1.0)])
    assert changed == {("tmall", "s1"): T0, ("tmall", "s2"): T0 + H}  # s1's hour 0 is new
    assert store.frame("tmall", "s2", T0, T0 + 2 * H).filter(pl.col("metric") == "uv")["value"].to_list() == [1.0]
    engine.dispose()
