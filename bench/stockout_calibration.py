"""Stock-out forecast calibration on synthetic fleets: of SKUs given P(stock-out within 72 h) ≥ 85%,
how many really run out? Plus a reliability table by probability bucket and the Brier score.

    .venv/bin/python bench/stockout_calibration.py                   # held-out seeds 91–96
    .venv/bin/python bench/stockout_calibration.py --seeds 11,12,21,22,23 --out /tmp/tune.json   # looked-at seeds

Every six hours from day 28 on (fleets with 0.6 incidents per store-week, for enough stock-outs), each SKU with stock on hand gets a forecast from its own
history only (units sold, with out-of-stock hours unknown, its stock levels for its deliveries, the
store's supplier record pooled over its SKUs' last 12 weeks of stock, the calendar's promotions, no
in-transit data: the generator has none); the outcome is whether its stock reaches zero within the next 72
hours. Each forecast is also recalibrated the way the service does it
(:mod:`shopsentinel.insight.recalibrate`): online, per fleet, mapped through the fit of the forecasts
whose 72 hours had passed at the time, each forecast weighing ``step / 72`` of an observation. The
predictive alert's behaviour (raise at ≥ 85%, clear below 50% or on an empty shelf) is replayed over
both and each raised alert scored once. Results go to bench/results/stockout_calibration.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from shopsentinel.insight.predict import HORIZON_HOURS, WEEK_HOURS, stockout_risk
from shopsentinel.insight.recalibrate import replay_online
from shopsentinel.insight.supply import DELIVERY_WEEKS, SupplierRecord, read_deliveries
from shopsentinel.sim.fleet import generate_fleet
from shopsentinel.sim.fleet_model import FleetSpec

REPO = Path(__file__).resolve().parent.parent
BUCKETS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0001)


def _matrix(frame: pl.DataFrame, metric: str, hours: int, start: datetime) -> dict[str, np.ndarray]:
    part = frame.filter(pl.col("metric") == metric)
    out: dict[str, np.ndarray] = {}
    for (sku,), rows in part.group_by("sku"):
        values = np.full(hours, np.nan)
        index = ((rows["ts"].dt.epoch("s").to_numpy() - int(start.timestamp())) // 3600).astype(int)
        keep = (index >= 0) & (index < hours)
        values[index[keep]] = rows["value"].to_numpy()[keep]
        out[str(sku)] = values
    return out


Forecast = tuple[str, str, int, float, bool, str]  # store, sku, hour, P(stock-out ≤ 72 h), ran out ≤ 72 h, supply state


def run_seed(spec: FleetSpec, simulations: int, step: int) -> list[Forecast]:
    fleet = generate_fleet(spec)
    hours = spec.hours
    zones = dict(fleet.stores.select("store", "timezone").iter_rows())
    pairs: list[Forecast] = []
    for (platform, store), frame in fleet.metrics.filter(pl.col("sku") != "").partition_by(
            "platform", "store", as_dict=True).items():
        promo = np.zeros(hours, dtype=bool)
        for event in fleet.calendar.filter((pl.col("kind") == "promotion") & (pl.col("platform") == platform)
                                           & pl.col("store").is_in(["", store])).iter_rows(named=True):
            lo = int((event["start"] - spec.start).total_seconds() // 3600)
            hi = int((event["end"] - spec.start).total_seconds() // 3600)
            promo[max(lo, 0):max(min(hi, hours), 0)] = True
        local = spec.start.astimezone(ZoneInfo(str(zones[store])))
        first_how = local.weekday() * 24 + local.hour
        sold, stock = _matrix(frame, "units_sold", hours, spec.start), _matrix(frame, "stock", hours, spec.start)
        skus = [(sku, np.where(stock[sku] == 0, np.nan, units), stock[sku]) for sku, units in sold.items() if sku in stock]
        for t in range(28 * 24 + 8, hours - HORIZON_HOURS, step):
            recent = slice(max(t - DELIVERY_WEEKS * WEEK_HOURS, 0), t)
            supplier = SupplierRecord.pool(read_deliveries(level[recent], clean[:t]) for _, clean, level in skus)
            for sku, clean, level in skus:
                now_stock = level[t - 1]
                if not now_stock > 0:
                    continue
                outcome = bool(np.nanmin(level[t:t + HORIZON_HOURS]) <= 0)
                forecast = stockout_risk(clean[:t], stock=float(now_stock), promo_past=promo[:t],
                                         promo_future=promo[t:t + HORIZON_HOURS], first_hour_of_week=first_how,
                                         simulations=simulations, seed=t, stock_history=level[:t], supplier=supplier)
                pairs.append((store, sku, t, forecast.probability, outcome, forecast.supply))
    return pairs


def alerts(pairs: list[Forecast], raise_at: float = 0.85, clear_below: float = 0.5) -> list[bool]:
    """What the predictive alert does with these forecasts (``insight/predictive.py``): a SKU's alert
    opens when P ≥ ``raise_at`` and stays open until P < ``clear_below`` or the shelf is empty (no
    forecast is made for an empty shelf, so a gap in the forecast times). One outcome per opened
    alert: did the SKU run out within 72 h of the alert?"""
    by_sku: dict[tuple[str, str], list[Forecast]] = {}
    for f in pairs:
        by_sku.setdefault((f[0], f[1]), []).append(f)
    outcomes = []
    for series in by_sku.values():
        series.sort(key=lambda f: f[2])
        step = min((b[2] - a[2] for a, b in zip(series, series[1:], strict=False)), default=0)
        is_open, previous = False, None
        for _, _, t, p, ran_out, _ in series:
            if is_open and (p < clear_below or (previous is not None and t - previous > step)):
                is_open = False
            if not is_open and p >= raise_at:
                is_open = True
                outcomes.append(ran_out)
            previous = t
    return outcomes


def wilson(hits: int, n: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson interval of a proportion (the figures rest on a few dozen forecasts)."""
    if not n:
        return None
    p = hits / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 3), round(centre + half, 3)]


def summarize(pairs: list[Forecast]) -> dict[str, Any]:
    p = np.array([f[3] for f in pairs])
    y = np.array([f[4] for f in pairs], dtype=float)
    table = []
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:], strict=True):
        mask = (p >= lo) & (p < hi)
        if mask.any():
            table.append({"bucket": f"{lo:.2f}–{min(hi, 1.0):.2f}", "forecasts": int(mask.sum()),
                          "mean_p": round(float(p[mask].mean()), 3), "ran_out": round(float(y[mask].mean()), 3),
                          "ran_out_ci95": wilson(int(y[mask].sum()), int(mask.sum()))})
    high = p >= 0.85
    return {"forecasts": len(pairs), "stock_outs": int(y.sum()), "brier": round(float(np.mean((p - y) ** 2)), 5),
            "brier_base_rate": round(float(np.mean((y.mean() - y) ** 2)), 5),
            "given_85_or_more": int(high.sum()),
            "ran_out_when_85_or_more": round(float(y[high].mean()), 3) if high.any() else None,
            "ran_out_when_85_or_more_ci95": wilson(int(y[high].sum()), int(high.sum())),
            "alerts_raised": len(raised := alerts(pairs)),
            "alerts_ran_out": round(float(np.mean(raised)), 3) if raised else None,
            "alerts_ran_out_ci95": wilson(int(sum(raised)), len(raised)),
            "reliability": table}


def recalibrated(pairs: list[Forecast], step: int) -> list[Forecast]:
    """The same forecasts as the service would have said them after online recalibration."""
    hours = np.array([f[2] for f in pairs])
    said = replay_online(hours, np.array([f[3] for f in pairs]), np.array([f[4] for f in pairs], dtype=float),
                         np.array([f[5] for f in pairs]), horizon=HORIZON_HOURS, weight=step / HORIZON_HOURS)
    return [(f[0], f[1], f[2], round(float(q), 4), f[4], f[5]) for f, q in zip(pairs, said, strict=True)]


def _line(s: dict[str, Any]) -> str:
    return (f"{s['forecasts']} forecasts, {s['stock_outs']} stock-outs, brier {s['brier']}, "
            f"≥85%: {s['given_85_or_more']} given, {s['ran_out_when_85_or_more']} ran out; "
            f"alerts: {s['alerts_raised']} raised, {s['alerts_ran_out']} ran out")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="91,92,93,94,95,96")
    parser.add_argument("--stores", type=int, default=12)
    parser.add_argument("--days", type=int, default=140, help="fleet length (the map learns as the fleet ages)")
    parser.add_argument("--simulations", type=int, default=500)
    parser.add_argument("--step-hours", type=int, default=6, help="hours between forecast times")
    parser.add_argument("--incident-rate", type=float, default=0.6, help="incidents per store-week (more stock-outs)")
    parser.add_argument("--jobs", type=int, default=2, help="fleets evaluated in parallel")
    parser.add_argument("--late-delivery-rate", type=float, default=0.0,
                        help="share of purchase orders that land late (supplier lateness; 0 = never)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/stockout_calibration.json")
    parser.add_argument("--pairs", type=Path, help="also write every (seed, store, sku, hour, forecast, outcome) here (parquet)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    began = time.perf_counter()
    per_seed, everything, everything_said = {}, [], []
    specs = [FleetSpec(stores=args.stores, days=args.days, seed=seed, incident_rate=args.incident_rate,
                       late_delivery_rate=args.late_delivery_rate) for seed in seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_seed, specs, [args.simulations] * len(specs), [args.step_hours] * len(specs)))
    said_by_seed = [recalibrated(pairs, args.step_hours) for pairs in results]
    for seed, pairs, said in zip(seeds, results, said_by_seed, strict=True):
        per_seed[str(seed)] = {"model": summarize(pairs), "recalibrated": summarize(said)}
        everything += pairs
        everything_said += said
        print(f"seed {seed}: model {_line(per_seed[str(seed)]['model'])}\n         recalibrated "
              f"{_line(per_seed[str(seed)]['recalibrated'])}", flush=True)
    if args.pairs:
        pl.DataFrame([(seed, *f, q[3]) for seed, pairs, said in zip(seeds, results, said_by_seed, strict=True)
                      for f, q in zip(pairs, said, strict=True)], orient="row",
                     schema=["seed", "store", "sku", "hour", "p", "ran_out", "supply", "said"]).write_parquet(args.pairs)
    overall = {"model": summarize(everything), "recalibrated": summarize(everything_said)}
    for name, summary in overall.items():
        print(name)
        print(pl.DataFrame(summary["reliability"]))
        print(json.dumps({k: v for k, v in summary.items() if k != "reliability"}, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"spec": {"seeds": seeds, "stores": args.stores, "days": args.days,
                                             "simulations": args.simulations,
                                             "step_hours": args.step_hours, "incident_rate": args.incident_rate,
                                             "late_delivery_rate": args.late_delivery_rate},
                                    "seconds": round(time.perf_counter() - began, 1), "overall": overall,
                                    "per_seed": per_seed}, indent=2, ensure_ascii=False))
    print(f"wrote {args.out} in {time.perf_counter() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
