"""The shared-stock check's read per member store: the whole stock history (before 0015) against
``SyncDB.points_as_of`` (from the longest lag on, plus each SKU's level just before).

    PYTHONPATH=. .venv/bin/python bench/stock_as_of.py --skus 100 --days 90 --lag-hours 12

One store's hourly stock snapshots of ``--skus`` SKUs over ``--days`` days in a fresh SQLite state
database; each read runs 5 times, the median is printed with the row counts and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sources.hourly import POINT_SCHEMA

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--lag-hours", type=float, default=12.0)
    args = parser.parse_args()
    hours = args.days * 24
    frame = pl.DataFrame({
        "ts": [T0 + timedelta(hours=h) for h in range(hours) for _ in range(args.skus)],
        "platform": "tmall", "store": "tm-1",
        "sku": [f"SKU-{s:03d}" for _ in range(hours) for s in range(args.skus)],
        "metric": "stock", "value": [float((h * 7 + s) % 50) for h in range(hours) for s in range(args.skus)],
    }, schema=POINT_SCHEMA)
    with SyncDB(f"sqlite:///{Path(tempfile.mkdtemp()) / 'state.db'}") as db:
        db.metric_store.write(frame)
        now = T0 + timedelta(hours=hours)
        since = now - timedelta(hours=args.lag_hours)
        timings: dict[str, list[float]] = {"whole_history": [], "points_as_of": []}
        rows = {}
        for _ in range(5):
            began = time.perf_counter()
            rows["whole_history"] = db.metric_store.read(platform="tmall", store="tm-1", metric="stock").height
            timings["whole_history"].append(time.perf_counter() - began)
            began = time.perf_counter()
            rows["points_as_of"] = db.points_as_of("tmall", "tm-1", "stock", since).height
            timings["points_as_of"].append(time.perf_counter() - began)
    print(json.dumps({"skus": args.skus, "days": args.days, "lag_hours": args.lag_hours, "rows": rows,
                      "median_s": {k: round(statistics.median(v), 4) for k, v in timings.items()},
                      "loadavg": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
