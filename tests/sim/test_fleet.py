"""The synthetic fleet is what the detector is tuned and judged on: these tests pin its realism."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from shopsentinel.sim.fleet import generate_fleet, write_fleet, write_fleet_chunked
from shopsentinel.sim.fleet_model import (
    COUNT_METRICS,
    INCIDENT_TYPES,
    INCIDENT_VARIANTS,
    LABEL_TYPES,
    METRICS_SCHEMA,
    SKU_METRICS,
    STORE_METRICS,
    Fleet,
    FleetSpec,
)

KEY = ["ts", "platform", "store", "sku", "metric"]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    """The default fleet; SIM_TEST_SEED=8 (etc.) re-runs the realism checks on another seed."""
    return generate_fleet(FleetSpec(seed=int(os.environ.get("SIM_TEST_SEED", "7"))))


@pytest.fixture(scope="module")
def clean_metrics(fleet: Fleet) -> pl.DataFrame:
    """First occurrence of every key: the original value (corrupted copies are appended after it)."""
    return fleet.metrics.unique(subset=KEY, keep="first", maintain_order=True)


def test_same_seed_gives_identical_fleet_and_other_seed_differs() -> None:
    spec = FleetSpec(stores=3, days=21, seed=11)
    first, again = generate_fleet(spec), generate_fleet(spec)
    assert first.metrics.equals(again.metrics)
    assert first.incidents.equals(again.incidents) and first.traps.equals(again.traps)
    other = generate_fleet(FleetSpec(stores=3, days=21, seed=12))
    assert not first.metrics.equals(other.metrics)


def test_metrics_schema_names_and_sku_layout(fleet: Fleet) -> None:
    assert dict(fleet.metrics.schema) == METRICS_SCHEMA
    names = set(fleet.metrics["metric"].unique())
    assert names == set(STORE_METRICS) | set(SKU_METRICS)
    store_level = fleet.metrics.filter(pl.col("metric").is_in(STORE_METRICS))
    assert (store_level["sku"] == "").all()
    per_sku = fleet.metrics.filter(pl.col("metric").is_in(SKU_METRICS))
    assert (per_sku["sku"] != "").all()
    skus_per_store = per_sku.group_by("store").agg(pl.col("sku").n_unique())["sku"]
    assert skus_per_store.min() >= 3 and skus_per_store.max() <= 6
    assert fleet.metrics["ts"].min() == datetime(2026, 8, 1, tzinfo=UTC)
    assert fleet.stores.height == 24 and set(fleet.stores.columns) == {"store", "platform", "name", "timezone"}


def test_fleet_spans_tiny_to_huge_stores(fleet: Fleet, clean_metrics: pl.DataFrame) -> None:
    orders = clean_metrics.filter(pl.col("metric") == "orders")
    daily_peak = dict(orders.group_by("store", pl.col("ts").dt.date()).agg(pl.col("value").max())
                      .group_by("store").agg(pl.col("value").median()).iter_rows())
    zero_share = dict(orders.group_by("store").agg((pl.col("value") == 0).mean()).iter_rows())
    tiny = [p.store for p in fleet.profiles if p.peak_orders <= 5]
    huge = [p.store for p in fleet.profiles if p.peak_orders >= 1000]
    assert len(tiny) >= 2 and len(huge) >= 2
    assert all(daily_peak[s] <= 12 and zero_share[s] >= 0.1 for s in tiny)
    assert all(daily_peak[s] >= 1000 and zero_share[s] == 0 for s in huge)


def test_counts_are_nonnegative_integers_outside_injected_traps(fleet: Fleet) -> None:
    corrupted = (fleet.traps.filter(pl.col("type").is_in(["impossible_value", "conflicting_duplicate"]))
                 .select(pl.col("start").alias("ts"), "store",
                         pl.col("sku").fill_null(""), "metric"))
    assert corrupted.height > 0
    counts = fleet.metrics.filter(pl.col("metric").is_in(COUNT_METRICS))
    clean = counts.join(corrupted, on=["ts", "store", "sku", "metric"], how="anti")
    assert clean.height > counts.height * 0.99
    values = clean["value"].to_numpy()
    assert values.min() >= 0
    assert np.all(values == np.round(values))
    dirty = counts.join(corrupted, on=["ts", "store", "sku", "metric"], how="semi")
    assert (dirty["value"] < 0).any(), "negative stock or orders should have been injected"


def _peak_utc_hour(metrics: pl.DataFrame, store: str, first: datetime, last: datetime) -> int:
    hourly = (metrics.filter((pl.col("store") == store) & (pl.col("metric") == "uv")
                             & pl.col("ts").is_between(first, last))
              .group_by(pl.col("ts").dt.hour().alias("hour")).agg(pl.col("value").median())
              .sort("value", descending=True))
    return int(hourly["hour"][0])


def test_daily_peak_is_in_local_time_across_dst(fleet: Fleet, clean_metrics: pl.DataFrame) -> None:
    stores = {p.store: p for p in fleet.profiles}
    shanghai = max((p for p in stores.values() if p.timezone == "Asia/Shanghai"), key=lambda p: p.peak_orders)
    los_angeles = max((p for p in stores.values() if p.timezone == "America/Los_Angeles"),
                      key=lambda p: p.peak_orders)
    before = (datetime(2026, 10, 12, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC))
    after = (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    # China: evening peak at 21:00 CST = 13:00 UTC all year.
    assert _peak_utc_hour(clean_metrics, shanghai.store, *before) == 13
    # Los Angeles: 20:00 PDT = 03:00 UTC before 1 Nov, 20:00 PST = 04:00 UTC after.
    assert _peak_utc_hour(clean_metrics, los_angeles.store, *before) == 3
    assert _peak_utc_hour(clean_metrics, los_angeles.store, *after) == 4


def test_every_incident_type_appears_several_times(fleet: Fleet) -> None:
    counts = dict(fleet.incidents.group_by("type").len().iter_rows())
    assert set(counts) == set(LABEL_TYPES)
    assert min(counts[t] for t in INCIDENT_TYPES if t not in INCIDENT_VARIANTS.values()) >= 3
    for variant, parent in INCIDENT_VARIANTS.items():  # a variant shares its parent's draws
        assert counts[variant] + counts[parent] >= 3 and counts[variant] >= 1
    per_store = fleet.incidents.group_by("store").len()["len"]
    assert per_store.mean() == pytest.approx(3, abs=1)


def test_incidents_never_overlap_within_a_store_or_touch_promotions(fleet: Fleet) -> None:
    incidents = fleet.incidents
    for _, group in incidents.sort("start").group_by("store"):
        starts, ends = group["start"].to_list(), group["end"].to_list()
        assert all(e <= s for e, s in zip(ends[:-1], starts[1:], strict=True))
    promotions = fleet.calendar.filter(pl.col("kind") == "promotion").with_columns(
        pl.col("store").fill_null(""))
    platform_of = dict(fleet.stores.select("store", "platform").iter_rows())
    for row in incidents.iter_rows(named=True):
        for promo in promotions.filter(pl.col("platform") == platform_of[row["store"]]).iter_rows(named=True):
            if promo["store"] in ("", row["store"]):
                assert row["end"] <= promo["start"] or row["start"] >= promo["end"], (row, promo)


def _window(metrics: pl.DataFrame, store: str, sku: str, metric: str, start: datetime, end: datetime) -> np.ndarray:
    return metrics.filter((pl.col("store") == store) & (pl.col("sku") == sku) & (pl.col("metric") == metric)
                          & (pl.col("ts") >= start) & (pl.col("ts") < end)).sort("ts")["value"].to_numpy()


def _moved_versus_last_week(metrics: pl.DataFrame, row: dict[str, Any]) -> bool:
    """Does the incident's window differ from the same hours a week earlier the way its type says?"""
    start, end, store, sku = row["start"], row["end"], row["store"], row["sku"] or ""
    week = timedelta(days=7)

    def now(metric: str) -> np.ndarray:
        return _window(metrics, store, sku, metric, start, end)

    def last_week(metric: str) -> np.ndarray:
        return _window(metrics, store, sku, metric, start - week, end - week)

    def ratio(metric: str) -> float:
        return float((now(metric).sum() + 1) / (last_week(metric).sum() + 1))

    def failure_rate_jump() -> float:
        """z-score of the window's payment failure rate against last week's rate."""
        attempts = now("payment_attempts").sum()
        rate, usual = now("payment_failures").sum() / attempts, last_week("payment_failures").sum() / last_week("payment_attempts").sum()
        return float((rate - usual) / np.sqrt(usual * (1 - usual) / attempts))

    checks = {
        "traffic_crash": lambda: ratio("uv") < 0.65,
        "conversion_drop": lambda: ratio("orders") / ratio("uv") < 0.75,
        "order_burst": lambda: ratio("orders") > 1.8,
        "refund_surge": lambda: ratio("refunds") > 2.0,
        "payment_failures": lambda: failure_rate_jump() > 2.5,
        "bad_review_surge": lambda: ratio("negative_reviews") > 1.8,
        "ad_anomaly": lambda: ratio("ad_spend") > 1.3 and ratio("ad_orders") / ratio("ad_clicks") < 0.7,
        # Budget-capped: spend as usual, each click dearer (CPC up) and converting worse.
        "ad_budget_squeeze": lambda: 0.75 < ratio("ad_spend") < 1.33
        and ratio("ad_spend") / ratio("ad_clicks") > 1.3 and ratio("ad_orders") / ratio("ad_clicks") < 0.75,
        "logistics_stuck": lambda: now("logistics_stale_orders").max() > last_week("logistics_stale_orders").max() + 5,
        "dsr_drop": lambda: now("dsr").min() < 4.6 <= last_week("dsr").min(),
        "stock_out": lambda: now("stock").min() == 0 < last_week("stock").min(),
        "price_error": lambda: not 0.55 < float(np.min(now("price") / last_week("price"))) < 1.8
        or float(np.max(now("price") / last_week("price"))) > 5,
    }
    return bool(checks[row["type"]]())


def test_incident_windows_move_their_metrics_versus_last_week(fleet: Fleet, clean_metrics: pl.DataFrame) -> None:
    peak = {p.store: p.peak_orders for p in fleet.profiles}
    always_visible = ("stock_out", "price_error", "dsr_drop", "logistics_stuck")
    # With a few orders an hour the effect is real but a one-week comparison is too noisy to assert.
    checked = [row for row in fleet.incidents.iter_rows(named=True)
               if row["type"] in always_visible or peak[row["store"]] >= 100]
    assert len(checked) >= 30
    assert [row["id"] for row in checked if not _moved_versus_last_week(clean_metrics, row)] == []


def test_normal_restocks_arrive_before_stock_runs_out(fleet: Fleet, clean_metrics: pl.DataFrame) -> None:
    stock_outs = set(fleet.incidents.filter(pl.col("type") == "stock_out").select("store", "sku").iter_rows())
    zeros = (clean_metrics.filter((pl.col("metric") == "stock") & (pl.col("value") <= 0))
             .select("store", "sku").unique().iter_rows())
    negatives = set(fleet.traps.filter(pl.col("type") == "impossible_value").select("store", "sku").iter_rows())
    assert set(zeros) - negatives <= stock_outs
    assert stock_outs, "the default fleet has stock-outs"


def test_traps_point_at_real_rows(fleet: Fleet) -> None:
    traps = fleet.traps
    counts = dict(traps.group_by("type").len().iter_rows())
    for kind in ("outage", "metric_outage", "duplicate", "conflicting_duplicate", "impossible_value", "aftermath", "dst"):
        assert counts.get(kind, 0) > 0, kind
    metrics = fleet.metrics
    duplicated_rows = metrics.filter(metrics.is_duplicated())
    assert counts["duplicate"] == duplicated_rows.height - duplicated_rows.unique().height
    assert counts["duplicate"] == pytest.approx(0.003 * metrics.height, rel=0.3)
    for row in traps.filter(pl.col("type").is_in(["outage", "metric_outage"])).iter_rows(named=True):
        gap = metrics.filter((pl.col("store") == row["store"]) & pl.col("ts").is_between(row["start"], row["end"], "left"))
        if row["metric"]:
            gap = gap.filter(pl.col("metric") == row["metric"])
        assert gap.height == 0, row
    for row in traps.filter(pl.col("type").is_in(["conflicting_duplicate", "impossible_value"])).iter_rows(named=True):
        same = metrics.filter((pl.col("store") == row["store"]) & (pl.col("ts") == row["start"])
                              & (pl.col("metric") == row["metric"]) & (pl.col("sku") == row["sku"]))["value"]
        if row["type"] == "conflicting_duplicate":
            assert same.n_unique() >= 2, row
        else:
            typical = metrics.filter((pl.col("store") == row["store"]) & (pl.col("metric") == row["metric"]))["value"].median()
            assert (same < 0).any() or (same > 100 * max(float(typical or 0), 1)).any(), row


def test_chunked_parquet_equals_in_memory(tmp_path: Path) -> None:
    spec = FleetSpec(stores=5, days=21, seed=3, burn_in_days=7)
    in_memory = generate_fleet(spec)
    write_fleet_chunked(spec, tmp_path, fmt="parquet", stores_per_chunk=2)
    streamed = pl.read_parquet(tmp_path / "metrics.parquet")
    assert streamed.schema == in_memory.metrics.schema
    assert streamed.sort(KEY + ["value"]).equals(in_memory.metrics.sort(KEY + ["value"]))
    written = pl.read_csv(tmp_path / "incidents.csv", infer_schema=False)
    assert written.height == in_memory.incidents.height


def test_csv_files_follow_the_contract(tmp_path: Path) -> None:
    small = generate_fleet(FleetSpec(stores=2, days=14, seed=5, burn_in_days=3))
    write_fleet(small, tmp_path, fmt="csv")
    header = (tmp_path / "metrics.csv").read_text().splitlines()[:2]
    assert header[0] == "ts,platform,store,metric,value,sku"
    assert header[1].startswith("2026-08-01T00:00:00Z,") and header[1].endswith(",")
    back = pl.read_csv(tmp_path / "metrics.csv", schema_overrides={"value": pl.Float64, "sku": pl.String})
    assert back.height == small.metrics.height
    assert np.allclose(np.sort(back["value"].to_numpy()), np.sort(small.metrics["value"].to_numpy()))
    for name, columns in {"stores.csv": "store,platform,name,timezone",
                          "calendar.csv": "start,end,platform,store,name,kind",
                          "incidents.csv": "id,type,platform,store,sku,metrics,start,end,severity_hint",
                          "traps.csv": "type,platform,store,sku,metric,start,end"}.items():
        assert (tmp_path / name).read_text().splitlines()[0] == columns


def test_metrics_are_mutually_consistent(clean_metrics: pl.DataFrame, fleet: Fleet) -> None:
    corrupted = (fleet.traps.filter(pl.col("type") == "impossible_value")
                 .select(pl.col("start").alias("ts"), "store"))
    wide = (clean_metrics.filter(pl.col("sku") == "").join(corrupted, on=["ts", "store"], how="anti")
            .pivot("metric", index=["ts", "store"], values="value").drop_nulls())
    assert wide.height > 0.95 * 24 * 112 * 24
    for smaller, larger in (("paid_orders", "orders"), ("ad_orders", "orders"), ("negative_reviews", "reviews"),
                            ("payment_failures", "payment_attempts"), ("bounces", "uv"), ("orders", "uv")):
        assert (wide[smaller] <= wide[larger]).all(), (smaller, larger)
    dsr = wide["dsr"]
    assert dsr.quantile(0.05) >= 4.6 and dsr.max() <= 5.0
    assert 5 <= wide["cs_response_seconds"].median() <= 120
    stale = wide["logistics_stale_orders"]
    assert stale.median() <= 15 and stale.max() > 3 * max(stale.median(), 1)


def test_late_deliveries_land_later_than_promised_and_only_when_asked() -> None:
    """The supplier-lateness switch: off, a SKU's stock path is the planner's exact plan; on, some
    orders land days after their promised slot, the shelf runs lower, and the same seed gives the
    same path again."""
    from shopsentinel.sim.fleet_stock import Lateness, StockPolicy, simulate_stock

    rng = np.random.default_rng(4)
    hours = 120 * 24
    expected = np.full(hours, 3.0)
    demand = rng.poisson(expected)
    policy = StockPolicy(lead_days=4, safety_days=6, target_days=20, case_pack=12, receiving_hour=2, initial_stock=200)
    on_time = simulate_stock(demand, expected, policy)
    assert simulate_stock(demand, expected, policy, lateness=Lateness(0.0, seed=1)).deliveries == on_time.deliveries
    late = simulate_stock(demand, expected, policy, lateness=Lateness(0.5, seed=1, median_days=4))
    again = simulate_stock(demand, expected, policy, lateness=Lateness(0.5, seed=1, median_days=4))
    assert late.deliveries == again.deliveries and late.deliveries != on_time.deliveries
    assert all(t % 24 == policy.receiving_hour for t, _ in late.deliveries)  # still at a receiving slot
    settled = slice(10 * 24, None)  # after the first delivery (the opening stock is its own dip)
    assert late.stock[settled].min() < on_time.stock[settled].min()  # a late truck eats into the safety stock
    assert (late.sold <= demand).all() and (late.stock >= 0).all()
