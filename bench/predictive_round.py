"""One hour's predictive round (``insight/predictive.py``) over stores with SKU sales: what the
response loop adds to a notification step, per store and in all.

    .venv/bin/python bench/predictive_round.py --stores 40 --skus 6 --db both

Each store gets ``--skus`` SKUs with 12 weeks of hourly stock (fortnightly deliveries, some late) and
4 weeks of hourly sales, written through the service's point store; one SKU per store is about to
sell out. The round is then run as the service runs it — ``PredictiveAlerts.tick`` until the hour's
store list is done — on a manual clock: selling stores found through the store registry, each store's
frame and 12 weeks of stock read, supplier record, Monte Carlo per SKU (2,000 paths), track record
written and settled, recalibration refitted. Reported: seconds for the round, per store, the alerts it
raised; appended to bench/results/predictive_round.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from databases import each_database
from pydantic import SecretStr
from record import record

from shopsentinel.app import create_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings
from shopsentinel.core.types import Point
from shopsentinel.runtime.ingest import store_spans
from shopsentinel.store.repository import note_points

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


def sku_points(store: str, sku: str, rng: np.random.Generator, short: bool) -> list[Point]:
    hours = 12 * 168
    rate = float(rng.uniform(1, 8))
    sold = rng.poisson(rate, hours).astype(float)
    level = np.empty(hours)
    stock = rate * 24 * 10
    due = int(rng.integers(0, 336))
    for h in range(hours):
        if h == due:
            stock += rate * 336
            due += 336 + (int(rng.integers(12, 72)) if rng.random() < 0.2 else 0)
        sold[h] = min(sold[h], stock)
        stock -= sold[h]
        level[h] = stock
    if short:
        level[-1] = rate * 20  # under a day left, no truck in sight
    start = NOW - hours * HOUR
    out = [Point(start + h * HOUR, "tmall", store, "stock", float(level[h]), sku) for h in range(hours)]
    out += [Point(start + h * HOUR, "tmall", store, "units_sold", float(sold[h]), sku) for h in range(hours - 28 * 24, hours)]
    return out


def run(url: str, stores: int, skus: int) -> dict[str, float]:
    clock = ManualClock(NOW)
    settings = Settings(database_url=url, bootstrap_token=SecretStr("bench-token"), _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, clock=clock, background=False)
    service = app.state.service
    rng = np.random.default_rng(5)
    began = time.perf_counter()
    for s in range(stores):
        points = [p for k in range(skus) for p in sku_points(f"store-{s:03d}", f"SKU-{k}", rng, short=k == 0)]
        service.points.upsert(points)
        with service.sessions() as session:
            note_points(session, store_spans(points), NOW)
            session.commit()
    loaded = time.perf_counter() - began
    predictive = service.response.predictive
    predictive.stores_per_tick = 25
    began = time.perf_counter()
    raised = 0
    ticks = 0
    while True:
        raised += len(predictive.tick(service, NOW))
        ticks += 1
        if not predictive.pending:
            break
    seconds = time.perf_counter() - began
    service.close()
    return {"load_seconds": round(loaded, 1), "round_seconds": round(seconds, 2), "ticks": ticks,
            "per_store_ms": round(seconds / stores * 1000, 1), "alerts_raised": raised}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=40)
    parser.add_argument("--skus", type=int, default=6)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    for name, url in each_database(args.db, "predictive-round-"):
        result = run(url, args.stores, args.skus)
        record(REPO / "bench/results/predictive_round.jsonl",
               {"bench": "predictive_round", "db": name, "stores": args.stores, "skus": args.skus, **result,
                "at": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
