"""The fakes show an order from its creation, in its state as of now, and list it again when it
changes: a sync at the live edge counts every order created in the last hours, and a later sync
from the same cursors ends at the final-state history (the latest version of each order wins)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import polars as pl
import pytest

from shopsentinel.ingest.sync import SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sim.platforms.dataset import visible
from shopsentinel.sim.sync import (
    DAYS,
    SIM_STORES,
    START,
    SimEnv,
    compare,
    ground_truth,
    latest_stock,
    running_sim,
)
from shopsentinel.sources.hourly import HOUR, hour_start
from shopsentinel.sources.registry import build_source

LIVE = START + timedelta(days=DAYS - 1, hours=13, minutes=20)  # mid-afternoon in Shanghai, day 3


async def _twice(env: SimEnv, db: SyncDB, then: datetime) -> tuple[SyncReport, pl.DataFrame, SyncReport]:
    """A sync at the live edge (its report and points), then one at ``then`` from the cursors it left."""
    source = build_source(env.record.platform, env.config, clock=env.clock, sleep=env.sleep)
    engine = SyncEngine(db, clock=env.clock, sleep=env.sleep)
    try:
        live = await engine.sync_store(env.record, source)
        points = db.points(env.record.platform, env.record.store)
        env.clock.set(then)
        return live, points, await engine.sync_store(env.record, source)
    finally:
        await source.aclose()


def _latest_stock(points: pl.DataFrame) -> dict[str, float]:
    stock = points.filter(pl.col("metric") == "stock").sort("ts").group_by("sku").agg(pl.col("value").last())
    return dict(stock.iter_rows())


@pytest.mark.parametrize("platform", sorted(SIM_STORES))
def test_live_edge_counts_every_order_created_and_settles_to_the_final_history(platform: str) -> None:
    with running_sim(platform, per_hour=6.0) as env, SyncDB(":memory:") as db:
        end = env.clock.now()
        env.clock.set(LIVE)
        live, live_points, settled = asyncio.run(_twice(env, db, end))
        assert live.ok, live.error
        last = hour_start(LIVE, env.record.timezone)  # the hour in progress; the six before it are complete
        hours = [last - HOUR * k for k in range(6, 0, -1)]
        # what the platform serves once settled (JD: no unpaid orders; PDD: confirmed orders only)
        final = env.spec.served(env.dataset).orders
        expected = [sum(h <= o.created_at < h + HOUR for o in final) for h in hours]
        orders = live_points.filter(pl.col("metric") == "orders")
        synced = dict(zip(orders["ts"].to_list(), orders["value"].to_list(), strict=True))
        assert [synced.get(h, 0.0) for h in hours] == expected
        assert sum(expected) >= 12  # not vacuous: daytime hours of a 6-orders-an-hour store
        # many of those orders were still changing at the live edge (paid, shipped, refunded later)
        unsettled = [o for o in final if hours[0] <= o.created_at < last and (o.updated_at or o.created_at) > LIVE]
        assert len(unsettled) >= sum(expected) // 3
        shown = {o.order_id: o for o in visible(env.dataset, LIVE).orders}
        assert all(shown[o.order_id].status != o.status for o in unsettled)

        # everything has settled: the same cursors read the changes, and the points are the final
        # history's (stock: these fakes list only the current snapshot, so the live edge's is extra)
        assert settled.ok, settled.error
        streams = tuple(build_source(env.record.platform, env.config, clock=env.clock).streams())
        truth = ground_truth(env, streams, settled.until)
        synced_all = db.points(env.record.platform, env.record.store)
        if not env.spec.stock_at_scan:
            if "stock" in set(synced_all["metric"].to_list()):
                assert _latest_stock(synced_all) == latest_stock(env, settled.until)
            snapshot = ~pl.col("metric").is_in(["stock", "price"])
            synced_all, truth = synced_all.filter(snapshot), truth.filter(snapshot)
        result = compare(env, synced_all, truth, settled.until)
        assert result.ok, result.examples
