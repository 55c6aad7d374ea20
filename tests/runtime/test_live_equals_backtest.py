"""Live evaluation and backtest replay give the same alerts on the same data.

A small fleet (4 stores, 28 days) is backtested from its files; the same points, in file order
so the same duplicate wins, are then pushed through ``POST /api/v1/points`` one day at a time
while a manual clock advances a day and the scheduler ticks (28 evaluations). Every episode the
backtest reports — business rules and the data alerts computed on the panel (silent store,
silent metric) — must appear live with the same start and end, and live must report nothing else.

The live window is 21 days, so two regimes are covered: for the first three weeks the window
starts at the store's first point and the history is exactly the backtest's; in the last week it
slides, detectors see three weeks instead of up to four, and only episodes starting after the
previous evaluation (less the late-data margin) may become new alerts, while an episode whose
start moved is matched to the stored alert of the same series. No warm-up restriction was
needed. Alerts from quarantine findings (``data.impossible_value``, ``data.conflicting_duplicate``)
are excluded: live rejects impossible points at the door and resolves duplicates by upsert, so it
reports those per request, not as alerts. Store outages (``data.store_silent``) are the one data
alert live judges differently on purpose: freshness is judged at the live edge (the service clock),
so an outage inside a day that arrives whole at the next push is a gap of the past, not news.
Live may only report an outage the backtest reports too (same store, overlapping), and only one
still running at a push — the last hours of a day's batch.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.ingest.reader import read_calendar, read_metrics, read_stores
from shopsentinel.runtime.backtest import run_backtest
from shopsentinel.sim.fleet import FleetSpec, generate_fleet, write_fleet

FINDING_RULES = {"data.impossible_value", "data.conflicting_duplicate"}
FRESHNESS_RULES = {"data.store_silent"}
DAYS = 28
WINDOW_DAYS = 21  # slides for the last week, so both regimes are compared

Key = tuple[str, str, str, str, str, str | None]


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fleet")
    write_fleet(generate_fleet(FleetSpec(stores=4, days=DAYS, seed=7)), directory)
    return directory


def _iso(ts: object) -> str:
    return f"{ts:%Y-%m-%dT%H:%M:%SZ}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_live_alerts_equal_backtest(fleet_dir: Path, database_url: str, api_factory: Any) -> None:
    result = run_backtest(fleet_dir)
    expected: set[Key] = {
        (e.rule, e.store, e.sku, e.metric, _iso(e.start), _iso(e.end) if e.end else None)
        for e in result.events if e.rule not in FINDING_RULES | FRESHNESS_RULES
    }
    outages: set[Key] = {(e.rule, e.store, e.sku, e.metric, _iso(e.start), _iso(e.end) if e.end else None)
                         for e in result.events if e.rule in FRESHNESS_RULES}
    assert outages, "the fixture fleet has whole-store outages"
    assert len(expected) + len(outages) >= 5, "the fixture fleet should produce a handful of alerts"

    metrics = read_metrics(fleet_dir / "metrics.csv").sort("line")
    start = result.start
    clock = ManualClock(start)
    api = api_factory(database_url, clock, eval_window_days=WINDOW_DAYS)
    for store in read_stores(fleet_dir / "stores.csv"):  # register with the fleet's own zones
        first = metrics.filter(pl.col("store") == store.store).head(1)
        r = api.post("/api/v1/points", json={"points": [{
            "ts": _iso(first["ts"][0]), "platform": store.platform, "store": store.store,
            "metric": first["metric"][0], "value": first["value"][0], "sku": first["sku"][0]}]})
        assert r.status_code == 200
        assert api.patch(f"/api/v1/stores/{store.platform}/{store.store}", json={"timezone": store.timezone}).status_code == 200
    for event in read_calendar(fleet_dir / "calendar.csv"):
        r = api.post("/api/v1/calendar", json={"start": _iso(event.start), "end": _iso(event.end), "platform": event.platform,
                                               "store": event.store, "name": event.name, "kind": event.kind})
        assert r.status_code == 201, r.text
    day = start
    rejected = 0
    while day < result.end:
        batch = metrics.filter((pl.col("ts") >= day) & (pl.col("ts") < day + timedelta(days=1)))
        points = [
            {"ts": _iso(ts), "platform": p, "store": s, "metric": m, "value": v, "sku": k}
            for ts, p, s, m, v, k in batch.select("ts", "platform", "store", "metric", "value", "sku").iter_rows()
        ]
        r = api.post("/api/v1/points", json={"points": points})
        assert r.status_code == 200
        rejected += len(r.json()["rejected"])
        day += timedelta(days=1)
        clock.set(day)
        api.service.tick()
    items = api.get("/api/v1/alerts", params={"limit": 10000}).json()["items"]

    live = {
        (i["rule"], i["store"], i["sku"], i["metric"], i["starts_at"], i["ends_at"])
        for i in items if i["rule"] not in FINDING_RULES | FRESHNESS_RULES
    }
    live_outages = {(i["rule"], i["store"], i["sku"], i["metric"], i["starts_at"], i["ends_at"])
                    for i in items if i["rule"] in FRESHNESS_RULES}
    assert live_outages <= outages, f"outages only live: {sorted(live_outages - outages)}"  # same start and end
    assert result.clean.quarantined >= rejected
    assert live == expected, f"only live: {sorted(live - expected)}\nonly backtest: {sorted(expected - live)}"

