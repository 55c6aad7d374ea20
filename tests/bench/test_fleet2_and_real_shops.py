"""The evaluation scripts of bench/: fleet2 is deterministic and its labels agree with its data;
bench/real_shops.py converts raw shop records into the expected hourly and daily totals."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


generator = _load("fleet2_generator", BENCH / "fleet2" / "generator.py")
real_shops = _load("bench_real_shops", BENCH / "real_shops.py")


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet2")
    generator.write(generator.generate(stores=8, days=28, seed=101), out)
    return out


def test_same_seed_same_files_other_seed_other_files(fleet_dir: Path, tmp_path: Path) -> None:
    generator.write(generator.generate(stores=8, days=28, seed=101), tmp_path / "again")
    generator.write(generator.generate(stores=8, days=28, seed=102), tmp_path / "other")
    assert _digest(tmp_path / "again") == _digest(fleet_dir)
    assert _digest(tmp_path / "other")["metrics.csv"] != _digest(fleet_dir)["metrics.csv"]


def _metrics(folder: Path) -> pl.DataFrame:
    return pl.read_csv(folder / "metrics.csv", infer_schema=False).with_columns(
        pl.col("value").cast(pl.Float64), pl.col("ts").str.to_datetime(time_zone="UTC"))


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_outage_hour_has_no_point_and_the_hours_around_it_do(fleet_dir: Path) -> None:
    metrics = _metrics(fleet_dir)
    traps = pl.read_csv(fleet_dir / "traps.csv", infer_schema=False)
    outages = traps.filter(pl.col("type") == "outage")
    assert outages.height >= 6
    for row in outages.iter_rows(named=True):
        start, end = _ts(row["start"]), _ts(row["end"])
        assert end - start == timedelta(hours=2)
        store = metrics.filter(pl.col("store") == row["store"])
        assert store.filter((pl.col("ts") >= start) & (pl.col("ts") < end)).height == 0
        before = store.filter(pl.col("ts") == start - timedelta(hours=1)).height
        after = store.filter(pl.col("ts") == end).height
        assert before > 0 and after > 0  # the store reports every hour otherwise


def test_incidents_show_in_the_data(fleet_dir: Path) -> None:
    metrics = _metrics(fleet_dir)
    incidents = pl.read_csv(fleet_dir / "incidents.csv", infer_schema=False).fill_null("")
    stores = pl.read_csv(fleet_dir / "stores.csv", infer_schema=False)
    assert set(incidents["store"]) <= set(stores["store"])
    assert set(incidents["type"]) <= set(generator.INCIDENT_TYPES)
    checked = 0
    for row in incidents.iter_rows(named=True):
        start, end = _ts(row["start"]), _ts(row["end"])
        store = metrics.filter(pl.col("store") == row["store"])
        window = (pl.col("ts") >= start) & (pl.col("ts") < end)
        if row["type"] == "stock_out":
            stock = store.filter((pl.col("sku") == row["sku"]) & (pl.col("metric") == "stock") & window)
            assert stock.height > 0 and stock["value"].max() == 0
            checked += 1
        elif row["type"] == "price_error":
            price = store.filter((pl.col("sku") == row["sku"]) & (pl.col("metric") == "price"))
            inside, usual = price.filter(window)["value"].mean(), price.filter(~window)["value"].median()
            assert inside <= 0.11 * usual
            checked += 1
        elif row["type"] == "giant_order":
            gmv = store.filter((pl.col("metric") == "gmv") & pl.col("sku").is_null())
            paid = store.filter((pl.col("metric") == "paid_orders") & pl.col("sku").is_null())
            aov = gmv["value"].sum() / max(paid["value"].sum(), 1)
            assert gmv.filter(window)["value"].max() >= 25 * aov
            checked += 1
    assert checked >= 1


def test_archetypes_closed_hours_and_budget_cap(tmp_path: Path) -> None:
    fleet = generator.generate(stores=8, days=21, seed=5)
    b2b = next(s for s in fleet.stores if s.archetype.name == "b2b")
    hour, weekday, _ = generator.local_calendar(fleet.start, fleet.hours, b2b.archetype.timezone)
    closed = (weekday == 6) | (hour >= 20) | (hour < 8)
    assert (b2b.metrics["uv"][closed] == 0).all() and (b2b.metrics["orders"][closed] == 0).all()
    assert b2b.metrics["uv"][~closed].sum() > 0
    capped = next(s for s in fleet.stores if s.archetype.name == "capped_ads")
    _, _, day = generator.local_calendar(fleet.start, fleet.hours, capped.archetype.timezone)
    spend = pl.DataFrame({"day": day, "spend": capped.metrics["ad_spend"]}).group_by("day").agg(
        pl.col("spend").sum(), pl.len()).filter(pl.col("len") == 24)["spend"]
    assert spend.std() / spend.mean() < 0.03  # a flat daily budget
    newborn = next(s for s in fleet.stores if s.archetype.name == "newborn")
    assert (~newborn.missing).sum() == 3 * 24


# -------------------------------------------------------------------------------- real_shops conversions


def test_takeaway_hourly_totals_and_record_holes(tmp_path: Path) -> None:
    raw = tmp_path / "takeaway.csv"
    raw.write_text(
        "OrderNumber,OrderDate,ItemName,Quantity,ProductPrice,TotalProducts\n"
        "1,01/07/2019 18:05,Naan,2,2.5,2\n"
        "1,01/07/2019 18:05,Korma,1,8.95,2\n"
        "2,01/07/2019 18:40,Rice,1,2.95,1\n"
        "3,01/07/2019 19:10,Korma,2,8.95,1\n"
        "4,12/07/2019 20:00,Rice,3,2.95,1\n",  # 10 empty days between: a hole in the record
        encoding="utf-8")
    points = real_shops.convert_takeaway(raw).pivot(on="metric", index="ts", values="value").sort("ts")
    # London is on BST (UTC+1) in July: 18:xx local is 17:00 UTC
    at = {row["ts"].strftime("%Y-%m-%dT%H"): row for row in points.iter_rows(named=True)}
    assert at["2019-07-01T17"]["orders"] == 2 and at["2019-07-01T17"]["gmv"] == pytest.approx(5.0 + 8.95 + 2.95)
    assert at["2019-07-01T18"]["orders"] == 1 and at["2019-07-01T18"]["gmv"] == pytest.approx(17.9)
    assert at["2019-07-01T20"]["orders"] == 0  # an hour without orders is a zero, not a gap
    assert at["2019-07-12T19"]["orders"] == 1
    assert "2019-07-05T12" not in at  # inside the 10-day hole: no point at all
    assert points.height == 2 * 24  # 07-01 and 07-12, local days, every hour
    assert real_shops.record_gaps([datetime(2019, 7, 1).date(), datetime(2019, 7, 12).date()]) == [
        (datetime(2019, 7, 2).date(), datetime(2019, 7, 12).date())]


def test_taobao_hourly_uv_pv_orders(tmp_path: Path) -> None:
    # 2017-11-25 00:00 Asia/Shanghai = 1511539200; the last user (cut mid-file) is dropped
    base = 1511539200
    rows = [(1, "pv", base + 10), (1, "pv", base + 20), (1, "buy", base + 30), (2, "pv", base + 40),
            (2, "cart", base + 3600), (3, "pv", base - 100), (9, "pv", base + 50)]
    raw = tmp_path / "ub.csv"
    raw.write_text("".join(f"{u},100,7,{b},{t}\n" for u, b, t in rows), encoding="utf-8")
    points = real_shops.convert_taobao(raw).pivot(on="metric", index="ts", values="value").sort("ts")
    assert points.height == 9 * 24
    first, second = points.row(0, named=True), points.row(1, named=True)
    assert (first["uv"], first["pv"], first["orders"]) == (2, 3, 1)  # user 3 is before the window, 9 is cut
    assert (second["uv"], second["pv"], second["orders"]) == (1, 0, 0)
    assert first["ts"].isoformat() == "2017-11-24T16:00:00+00:00"


def test_cdnow_daily_totals(tmp_path: Path) -> None:
    raw = tmp_path / "cdnow.txt"
    raw.write_text(" customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n"
                   " 00002 19970101  2   20.00\n 00001 19970103  1   5.00\n", encoding="utf-8")
    points = real_shops.convert_cdnow(raw).pivot(on="metric", index="ts", values="value").sort("ts")
    assert points["orders"].to_list() == [2, 0, 1]
    assert points["gmv"].to_list() == pytest.approx([31.77, 0, 5.0])
    assert points["ts"][0].isoformat() == "1997-01-01T05:00:00+00:00"  # New York midnight


def test_labels_file_loads_and_every_event_has_evidence() -> None:
    labels = real_shops.load_labels(BENCH / "data" / "real_labels.yaml")
    assert {e.shop for e in labels.events} == set(real_shops.SHOPS)
    assert all(e.evidence for e in labels.events) and all(q.evidence for q in labels.quiet)
    assert len({e.id for e in labels.events}) == len(labels.events)
