"""Write rate of the one metric store (``store/points.py``) into SQLite and PostgreSQL: the live
API path (``PointStore.upsert``: multi-row ``INSERT … ON CONFLICT … RETURNING``, SQLAlchemy's
executemany) against the bulk path (``PointStore.write``: ``COPY`` on PostgreSQL / ``executemany``
on SQLite into a temporary table, then one ``INSERT … SELECT … ON CONFLICT``), which
``shopsentinel import``, connector syncs and ``store migrate`` use.

    .venv/bin/python bench/metricstore.py --points 200000 --db both

``--revision 0011`` runs against the schema before PostgreSQL's month partitions (A/B). Each path writes ``--points`` new points (hourly, 50 stores × SKUs × metrics) into a fresh database
in batches of ``--batch``, then the same points again with every value changed (all conflicts).
Reported: points/s for each, appended to bench/results/metricstore.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from databases import each_database
from record import record

from shopsentinel.core.types import Point
from shopsentinel.store.db import make_engine, open_database
from shopsentinel.store.migrations import alembic_config
from shopsentinel.store.points import FRAME_SCHEMA, PointStore

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def dataset(n: int, shift: float) -> pl.DataFrame:
    stores, series = 50, 20  # 20 series (sku × metric) per store
    hours = max(1, n // (stores * series))
    rows = [(T0 + timedelta(hours=h), "tmall", f"s{s}", f"SKU-{k % 5}", f"m{k // 5}", float(h + k + shift))
            for s in range(stores) for k in range(series) for h in range(hours)]
    return pl.DataFrame(rows[:n], schema=FRAME_SCHEMA, orient="row")


def run(name: str, url: str, path: str, n: int, batch: int, revision: str) -> list[dict[str, object]]:
    if revision == "head":
        engine, _ = open_database(url)
    else:  # e.g. 0011: PostgreSQL's points before the month partitions
        from alembic import command

        engine = make_engine(url)
        command.upgrade(alembic_config(engine), revision)
    store = PointStore(engine, cache_stores=0)
    out = []
    try:
        for phase, shift in (("insert", 0.0), ("update", 0.5)):
            frame = dataset(n, shift)
            chunks = [frame.slice(i, batch) for i in range(0, frame.height, batch)]
            if path == "upsert":
                prepared = [[Point(ts=t, platform=p, store=s, sku=k, metric=m, value=v) for t, p, s, k, m, v in c.iter_rows()]
                            for c in chunks]
                began = time.perf_counter()
                for points in prepared:
                    store.upsert(points)
            else:
                began = time.perf_counter()
                for chunk in chunks:
                    store.write(chunk)
            seconds = time.perf_counter() - began
            out.append({"bench": "metricstore", "db": name, "revision": revision, "path": path, "phase": phase,
                        "points": frame.height,
                        "batch": batch, "seconds": round(seconds, 2), "points_per_s": round(frame.height / seconds)})
    finally:
        engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--revision", default="head", help="schema revision (0011: points not partitioned)")
    args = parser.parse_args()
    results = []
    for path in ("upsert", "write"):
        for name, url in each_database(args.db, "bench-metricstore-"):
            results += run(name, url, path, args.points, args.batch, args.revision)
    record(REPO / "bench" / "results" / "metricstore.jsonl", *results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
