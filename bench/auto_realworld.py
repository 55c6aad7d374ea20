"""The ``auto`` detector (custom metrics) on public real-world series, offline and reproducible.

    .venv/bin/python bench/auto_realworld.py            # writes bench/results/auto_realworld.json

Every series in bench/data/realworld/ (see the README there: sources, versions, licences) is written
as a custom metric to a ``metrics.csv`` per docs/CONTRACTS.md and replayed with the real
``shopsentinel backtest`` path (``run_backtest``: cleaning, then ``custom_metric_alerts`` at the
default sensitivity). Labels are either documented anomalies of the series (the water-flow
segments, the annotated occupancy change points) or anomalies injected into the real series with
a fixed seed: spike, dip, level shift (permanent), variance burst, stuck value, drop to zero.

Scoring, NAB style (windows that end in the detector's warm-up, its first three days, are not
scored), on alert episode starts (``custom.auto`` alerts): a start inside a labelled
window, or up to ``TOLERANCE`` points after it, is a hit for that window; any other start is a
false alarm. Recall = windows hit / windows, precision = starts in windows / all starts, delay =
points from the window's start to its first alert.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "realworld"
TOLERANCE = 3  # points after a window in which an alert still counts as a hit
SEED = 20261124
KINDS = ("spike", "dip", "level_shift", "variance_burst", "stuck", "drop_to_zero")


@dataclass
class Series:
    name: str
    times: np.ndarray  # datetime64[s]
    values: np.ndarray
    source: str
    windows: list[tuple[int, int, str]] = field(default_factory=list)  # [start, end] point indices, kind


def _read(path: Path, time_col: str, value_col: str, fmt: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    times, values = [], []
    with path.open() as f:
        for row in csv.DictReader(f):
            if row[value_col] in ("", "NA", "nan"):
                continue
            raw = row[time_col]
            dt = datetime.strptime(raw, fmt) if fmt else datetime.fromisoformat(raw)
            if dt.tzinfo is not None:
                dt = dt.astimezone(UTC).replace(tzinfo=None)
            times.append(np.datetime64(dt, "s"))
            values.append(float(row[value_col]))
    return np.array(times, dtype="datetime64[s]"), np.array(values, dtype=float)


def _robust_std(values: np.ndarray) -> float:
    q75, q25 = np.percentile(values, [75, 25])
    return float((q75 - q25) / 1.349) or float(np.std(values)) or 1.0


def inject(series: Series, rng: np.random.Generator, kinds: tuple[str, ...] = KINDS, width: int | None = None) -> Series:
    """Injects one anomaly of each kind at random, non-overlapping places of the judged part."""
    n = series.values.size
    x = series.values.copy()
    w = width or int(np.clip(n // 60, 6, 48))
    # Clearly visible anomalies: 4 robust sigmas of the whole series, and at least 8 times the
    # typical point-to-point change (a flat series gets anomalies that stand out of its noise).
    size = max(4.0 * _robust_std(x), 8.0 * _robust_std(np.diff(x)))
    lo = max(n // 4, 80)
    slots = np.linspace(lo, n - 2 * w, len(kinds) + 1).astype(int)
    non_negative = bool(x.min() >= 0)
    if np.quantile(x, 0.01) < size:  # zero is within reach of normal values: not an anomaly here
        kinds = tuple("spike" if k == "drop_to_zero" else k for k in kinds)
    order = rng.permutation(len(kinds))
    windows = []
    for slot, kind_index in zip(slots[:-1], order, strict=True):
        kind = kinds[kind_index]
        gap = slots[1] - slots[0]
        s = int(slot + rng.integers(0, max(1, gap - 2 * w)))
        if kind == "spike":
            x[s] += size
            e = s
        elif kind == "dip":
            x[s] = max(x[s] - size, 0.0) if non_negative else x[s] - size
            e = s
        elif kind == "level_shift":
            down = rng.random() < 0.5 and not (non_negative and np.mean(x[s:] < size) > 0.05)
            x[s:] += -size if down else size  # a non-negative series is not shifted below zero
            e = s + w
        elif kind == "variance_burst":
            x[s : s + w] += rng.normal(0.0, 0.5 * size, w)
            if non_negative:
                x[s : s + w] = np.abs(x[s : s + w])
            e = s + w - 1
        elif kind == "stuck":
            x[s : s + w] = x[s - 1]
            e = s + w - 1
        else:  # drop_to_zero
            x[s : s + w] = 0.0
            e = s + w - 1
        windows.append((s, e, kind))
    return Series(series.name, series.times, x, series.source, sorted(windows))


def load_all() -> list[Series]:
    rng = np.random.default_rng(SEED)
    out: list[Series] = []

    # Seattle hourly temperature, 2010 (vega_datasets): two missing stretches of 2 days each.
    t, v = _read(DATA / "seattle-temps.csv", "date", "temp", "%Y/%m/%d %H:%M")
    keep = np.ones(t.size, dtype=bool)
    keep[3000:3048] = False
    keep[6100:6148] = False
    out.append(inject(Series("seattle_temp_hourly", t[keep], v[keep], "vega_datasets 0.9.0 seattle-temps.csv"), rng))

    # Water flow through a pipeline branch (river): four documented anomalous segments.
    t, v = _read(DATA / "water-flow.csv", "Time", "Water flow [l/s]")
    # (indices found by thresholding at 60% / the top of the series; each window starts 2 points
    # early because the onset of a real segment is gradual)
    documented = [(92, 108, "documented_low"), (210, 220, "documented_low"), (327, 329, "documented_peak"), (871, 885, "documented_low")]
    out.append(Series("water_flow_hourly", t, v, "river 0.26.1 water-flow.csv", documented))
    # ... and the same series with injected anomalies placed after the documented ones.
    clean = v.copy()
    for s, e, _ in documented:
        clean[s - 3 : e + 4] = clean[s - 27 : e - 20]  # the same hours of the day before
    out.append(inject(Series("water_flow_injected", t, clean, "river 0.26.1 water-flow.csv (documented segments replaced by the day before)"), rng))

    # Office occupancy sensors every 16 minutes (river / TCPD): annotated change points where at
    # least 3 of the 5 annotators agree (within 5 points).
    for col, label in (("V3", "light"), ("V4", "co2")):
        t, v = _read(DATA / "occupancy.csv", "time", col, "%Y-%m-%d %H:%M:%S")
        windows = [(cp - 2, cp + 8, "annotated_change") for cp in (53, 142, 236, 416)]
        out.append(Series(f"occupancy_{label}_16min", t, v, "river 0.26.1 occupancy.csv (TCPD)", windows))

    # Apple daily trading volume (trading days only: irregular), heavy tailed.
    t, v = _read(DATA / "apple.csv", "Date", "Volume", "%Y-%m-%d")
    out.append(inject(Series("apple_volume_daily", t, v, "river 0.26.1 apple.csv"), rng))

    # Brent crude daily price: a random walk with long trends.
    t, v = _read(DATA / "brent_crude_oil.csv", "day", "DPB", "%m/%d/%Y")
    out.append(inject(Series("brent_price_daily", t, v, "river 0.26.1 brent_crude_oil.csv"), rng))

    # Seattle daily weather 2012-2015 (vega_datasets): max temperature, and zero-inflated rain.
    t, v = _read(DATA / "seattle-weather.csv", "date", "temp_max", "%Y/%m/%d")
    out.append(inject(Series("seattle_tmax_daily", t, v, "vega_datasets 0.9.0 seattle-weather.csv"), rng))
    t, v = _read(DATA / "seattle-weather.csv", "date", "precipitation", "%Y/%m/%d")
    out.append(inject(Series("seattle_rain_daily", t, v, "vega_datasets 0.9.0 seattle-weather.csv"), rng, kinds=("spike", "stuck", "level_shift")))
    return out


def write_dataset(series: list[Series], directory: Path) -> None:
    with (directory / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "platform", "store", "metric", "value", "sku"])
        for s in series:
            for ts, val in zip(s.times, s.values, strict=True):
                w.writerow([f"{str(ts)}Z", "bench", s.name, f"rw_{s.name}", repr(float(val)), ""])
    with (directory / "stores.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["store", "platform", "name", "timezone"])
        for s in series:
            w.writerow([s.name, "bench", s.name, "UTC"])


def score_series(s: Series, starts: list[np.datetime64]) -> dict[str, Any]:
    # NAB-style probation: the detector learns for its first three days (at most half the
    # series) and judges nothing there, so windows that end in that time are not scored.
    span = s.times[-1] - s.times[0]
    probation_end = s.times[0] + min(np.timedelta64(3 * 86400, "s"), span // 2)
    unscored = [w for w in s.windows if s.times[w[1]] < probation_end]
    s = Series(s.name, s.times, s.values, s.source, [w for w in s.windows if w not in unscored])
    idx = np.searchsorted(s.times, np.array(starts, dtype="datetime64[s]"), side="left") if starts else np.array([], dtype=int)
    hits, delays, in_window = 0, [], 0
    per_kind: dict[str, bool] = {}
    for a, b, kind in s.windows:
        inside = idx[(idx >= a) & (idx <= b + TOLERANCE)]
        if inside.size:
            hits += 1
            delays.append(int(inside.min() - a))
        per_kind[f"{kind}@{a}"] = bool(inside.size)
    for i in idx:
        if any(a <= i <= b + TOLERANCE for a, b, _ in s.windows):
            in_window += 1
    false_alarms = int(idx.size - in_window)
    recall = hits / len(s.windows) if s.windows else 0.0
    precision = in_window / idx.size if idx.size else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "points": int(s.values.size), "windows": len(s.windows), "hit": hits, "alerts": int(idx.size),
        "false_alarms": false_alarms, "recall": round(recall, 3), "precision": round(precision, 3), "f1": round(f1, 3),
        "false_alarms_per_1000": round(1000 * false_alarms / s.values.size, 2),
        "median_delay_points": float(np.median(delays)) if delays else None,
        "caught": per_kind, "unscored_in_warmup": len(unscored), "source": s.source,
    }


def auto_starts(series: list[Series]) -> dict[str, list[np.datetime64]]:
    """Episode starts of ``custom.auto`` from the real backtest path."""
    from shopsentinel.runtime.backtest import run_backtest

    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(series, Path(tmp))
        result = run_backtest(Path(tmp), workers=1)
    starts: dict[str, list[np.datetime64]] = {s.name: [] for s in series}
    for e in result.events:
        if e.rule == "custom.auto":
            starts[e.store].append(np.datetime64(e.start.replace(tzinfo=None), "s"))
    return {k: sorted(v) for k, v in starts.items()}



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "auto_realworld.json")
    args = parser.parse_args(argv)
    series = load_all()
    starts = auto_starts(series)
    rows = {s.name: score_series(s, starts[s.name]) for s in series}
    total = {k: sum(r[k] for r in rows.values()) for k in ("points", "windows", "hit", "alerts", "false_alarms")}
    recall = total["hit"] / total["windows"]
    precision = (total["alerts"] - total["false_alarms"]) / total["alerts"] if total["alerts"] else 0.0
    delays = [r["median_delay_points"] for r in rows.values() if r["median_delay_points"] is not None]
    by_kind: dict[str, list[int]] = {}
    for r in rows.values():
        for key, caught in r["caught"].items():
            by_kind.setdefault(key.split("@")[0], [0, 0])
            by_kind[key.split("@")[0]][0] += int(caught)
            by_kind[key.split("@")[0]][1] += 1
    overall = {
        **total,
        "recall": round(recall, 3),
        "precision": round(precision, 3),
        "f1": round(2 * precision * recall / (precision + recall), 3) if precision + recall else 0.0,
        "false_alarms_per_1000": round(1000 * total["false_alarms"] / total["points"], 2),
        "median_delay_points": float(np.median(delays)) if delays else None,
        "caught_by_kind": {k: f"{a}/{b}" for k, (a, b) in sorted(by_kind.items())},
    }
    print(f"{'series':26} {'pts':>6} {'win':>4} {'hit':>4} {'alerts':>6} {'FA':>4} {'FA/1k':>6} {'P':>6} {'R':>6} {'F1':>6} {'delay':>6}")
    for name, r in [*rows.items(), ("OVERALL", overall)]:
        print(f"{name:26} {r['points']:>6} {r['windows']:>4} {r['hit']:>4} {r['alerts']:>6} {r['false_alarms']:>4} "
              f"{r['false_alarms_per_1000']:>6} {r['precision']:>6} {r['recall']:>6} {r['f1']:>6} {r['median_delay_points']!s:>6}")
    print("caught by kind:", overall["caught_by_kind"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"tolerance_points": TOLERANCE, "seed": SEED, "overall": overall, "series": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
