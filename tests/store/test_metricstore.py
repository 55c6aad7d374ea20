"""The one metric store's bulk path on SQLite and the real PostgreSQL (COPY): upserts that count
conflicts and find the changed hours, re-sync windows that delete what a connector no longer
reports, stores registered by the write, and a cached window that sees another process's bulk write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest

from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.store.db import open_database
from shopsentinel.store.legacy_duckdb import move_duckdb_file
from shopsentinel.store.points import FRAME_SCHEMA, PointStore
from shopsentinel.store.repository import get_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def frame(rows: list[tuple[int, str, str, float]], store: str = "s1") -> pl.DataFrame:
    """(hour offset, sku, metric, value) rows of tmall/<store>."""
    return pl.DataFrame([(T0 + timedelta(hours=h), "tmall", store, sku, metric, value) for h, sku, metric, value in rows],
                        schema=FRAME_SCHEMA, orient="row")


@pytest.fixture
def store(database_url: str) -> Iterator[PointStore]:
    engine, _ = open_database(database_url)
    yield PointStore(engine, cache_stores=10)
    engine.dispose()


def stored(store: PointStore) -> list[tuple[int, str, str, float]]:
    got = store.read(platform="tmall", store="s1")
    return sorted((int((ts - T0).total_seconds() // 3600), sku, m, v)
                  for ts, sku, m, v in got.select("ts", "sku", "metric", "value").iter_rows())


def test_a_bulk_write_counts_conflicts_and_finds_the_earliest_change(store: PointStore) -> None:
    first = store.write(frame([(h, "", "uv", 100.0 + h) for h in range(6)]), now=T0)
    assert (first.rows, first.replaced, first.changed) == (6, 0, {("tmall", "s1"): T0})
    assert first.created == (("tmall", "s1"),)
    assert first.spans == {("tmall", "s1"): (T0, T0 + timedelta(hours=5))}
    again = store.write(frame([(0, "", "uv", 100.0), (3, "", "uv", 7.0), (4, "", "uv", 104.0), (6, "", "uv", 1.0)]))
    assert again.replaced == 1 and again.created == ()
    assert again.changed == {("tmall", "s1"): T0 + timedelta(hours=3)}  # hour 0 and 4 were resent unchanged
    assert stored(store) == [(h, "", "uv", v) for h, v in enumerate([100.0, 101.0, 102.0, 7.0, 104.0, 105.0, 1.0])]
    assert store.write(frame([(0, "", "uv", 100.0)])).changed == {}  # an identical resend changes nothing
    with store.engine.connect() as conn:
        from sqlalchemy.orm import Session

        row = get_store(Session(bind=conn), "tmall", "s1")
        assert row is not None and row.last_point_at == T0 + timedelta(hours=6)


def test_a_resync_window_deletes_what_the_connector_no_longer_reports(store: PointStore) -> None:
    store.write(frame([(h, sku, m, 1.0) for h in range(6) for sku, m in (("", "orders"), ("A", "units_sold"), ("", "uv"))]))
    # hours 2..3 recomputed: the orders of hour 3 are gone, SKU A's hour 2 changed; uv is not the connector's to swap
    written = store.replace("tmall", "s1", frame([(2, "", "orders", 1.0), (2, "A", "units_sold", 5.0), (3, "A", "units_sold", 1.0)]),
                            T0 + timedelta(hours=2), T0 + timedelta(hours=4), ["orders", "units_sold"])
    assert (written.deleted, written.replaced) == (1, 1)
    assert written.changed == {("tmall", "s1"): T0 + timedelta(hours=2)}
    have = stored(store)
    assert (3, "", "orders", 1.0) not in have and (3, "", "uv", 1.0) in have
    assert (2, "A", "units_sold", 5.0) in have and (5, "", "orders", 1.0) in have
    assert len(have) == 17
    same = store.replace("tmall", "s1", frame([(2, "", "orders", 1.0), (2, "A", "units_sold", 5.0), (3, "A", "units_sold", 1.0)]),
                         T0 + timedelta(hours=2), T0 + timedelta(hours=4), ["orders", "units_sold"])
    assert (same.deleted, same.replaced, same.changed) == (0, 0, {})


def test_a_cached_window_sees_another_writers_bulk_load(store: PointStore) -> None:
    store.write(frame([(h, "", "uv", 1.0) for h in range(10)]))
    window = (T0, T0 + timedelta(hours=10))
    assert store.frame("tmall", "s1", *window)["value"].sum() == 10.0  # now cached
    other = PointStore(store.engine, cache_stores=0)  # e.g. `shopsentinel import` in another process
    other.write(frame([(2, "", "uv", 50.0)]))
    assert store.frame("tmall", "s1", *window)["value"].sum() == 59.0


def test_an_old_sync_file_moves_its_legacy_points_into_the_metric_store_once(tmp_path: object, store: PointStore) -> None:
    path = f"{tmp_path}/sync.duckdb"
    con = duckdb.connect(path)
    con.execute("CREATE TABLE sync_points (ts TIMESTAMP NOT NULL, platform VARCHAR NOT NULL, store VARCHAR NOT NULL, "
                "sku VARCHAR NOT NULL, metric VARCHAR NOT NULL, value DOUBLE NOT NULL, PRIMARY KEY (platform, store, sku, metric, ts))")
    con.execute("INSERT INTO sync_points VALUES ('2026-03-01 00:00:00', 'tmall', 's1', '', 'orders', 3), "
                "('2026-03-01 01:00:00', 'tmall', 's1', '', 'orders', 4)")
    con.close()
    assert move_duckdb_file(path, store.engine, points=store) == {"sync_points": 2}
    assert move_duckdb_file(path, store.engine, points=store) is None  # moved: kept as ….moved, not read again
    with SyncDB(store.engine) as db:
        assert db.points("tmall", "s1")["value"].to_list() == [3.0, 4.0]
    assert stored(store) == [(0, "", "orders", 3.0), (1, "", "orders", 4.0)]
    con = duckdb.connect(f"{path}.moved", read_only=True)  # the old file is kept whole
    assert con.execute("SELECT count(*) FROM sync_points").fetchone() == (2,)
    con.close()


def test_a_failed_bulk_load_stores_nothing_and_the_next_one_works(store: PointStore) -> None:
    store.write(frame([(0, "", "uv", 1.0)]))
    bad = frame([(1, "", "uv", 2.0), (2, "", "uv", 3.0)]).with_columns(
        pl.when(pl.col("value") == 3.0).then(None).otherwise(pl.col("value")).alias("value"))  # a NULL value
    for _ in range(2):  # twice: the pooled connection that failed is handed out again
        with pytest.raises(Exception, match="(?i)null"):
            store.write(bad)
        assert stored(store) == [(0, "", "uv", 1.0)]
    assert store.write(frame([(1, "", "uv", 2.0)])).rows == 1
    assert stored(store) == [(0, "", "uv", 1.0), (1, "", "uv", 2.0)]
