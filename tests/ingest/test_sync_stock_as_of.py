"""The shared-stock check reads only what it compares: each member's stock from the longest lag
on plus its level just before (``SyncDB.points_as_of``), and finds exactly what the whole history
finds — on SQLite and the real PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl

from shopsentinel.ingest.sync import stock_sync_findings
from shopsentinel.ingest.sync_state import StockGroup, StockMember, SyncDB
from shopsentinel.sources.hourly import POINT_SCHEMA
from shopsentinel.store.db import open_database

T0 = datetime(2026, 5, 1, tzinfo=UTC)
STORES = (("tmall", "tm-1"), ("jd", "jd-1"))
SKUS = ("A", "B", "C")


def test_points_as_of_finds_what_the_whole_history_finds(database_url: str) -> None:
    rng = random.Random(7)
    rows = []
    for platform, store in STORES:
        for sku in SKUS:
            level = 100.0
            for hour in range(300):
                if rng.random() < 0.15:  # a snapshot only when the level moves (they hold until they change)
                    level = float(max(0, level + rng.choice((-30, -5, 5, 30))))
                    rows.append((T0 + timedelta(hours=hour), platform, store, sku, "stock", level))
    engine, _ = open_database(database_url)
    try:
        with SyncDB(engine) as db:
            db.metric_store.write(pl.DataFrame(rows, schema=POINT_SCHEMA, orient="row"))
            groups = [StockGroup(f"g-{sku}", tuple(StockMember(p, s, sku, reference=(p == "tmall" and sku == "C"))
                                                   for p, s in STORES), tolerance, lag)
                      for sku, tolerance, lag in (("A", 0.0, 2.0), ("B", 10.0, 5.0), ("C", 4.0, 12.0))]
            whole = pl.concat([db.metric_store.read(platform=p, store=s, metric="stock") for p, s in STORES])
            found_any = 0
            for hour in range(20, 300, 7):
                now = T0 + timedelta(hours=hour, minutes=30)
                since = now - timedelta(hours=max(g.lag_hours for g in groups))
                bounded = pl.concat([db.points_as_of(p, s, "stock", since) for p, s in STORES])
                assert bounded.height < whole.height
                expected = stock_sync_findings(whole, groups, now=now)
                assert stock_sync_findings(bounded, groups, now=now) == expected, now
                found_any += len(expected)
            assert found_any > 0  # the comparison had mismatches to find
    finally:
        engine.dispose()
