"""Dirt that real connectors deliver: gaps, repeated rows, conflicting rows and impossible values.

None of it is a business incident; every corrupted row is labelled in traps.csv so the scorer can
count business alerts raised on it (the target is zero) and data alerts raised for it (good).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopsentinel.sim.fleet_model import COUNT_METRICS, FleetSpec, StoreProfile, TrapLabel
from shopsentinel.sim.fleet_plan import Timeline, place_trap

_SINGLE_OUTAGE_METRICS = ("uv", "orders", "gmv", "refunds", "ad_spend", "reviews", "paid_orders")


@dataclass
class LongRows:
    """One store's points as parallel arrays (hour index, series index, value)."""

    hour: np.ndarray
    series: np.ndarray
    value: np.ndarray

    def select(self, keep: np.ndarray) -> LongRows:
        return LongRows(self.hour[keep], self.series[keep], self.value[keep])

    def extend(self, other: LongRows) -> LongRows:
        return LongRows(np.concatenate((self.hour, other.hour)), np.concatenate((self.series, other.series)),
                        np.concatenate((self.value, other.value)))


def corrupt(spec: FleetSpec, store: StoreProfile, rows: LongRows, names: list[tuple[str, str]],
            timeline: Timeline, rng: np.random.Generator) -> tuple[LongRows, list[TrapLabel]]:
    """Apply outages, impossible values, conflicting and exact duplicates, in that order."""
    traps: list[TrapLabel] = []

    def label(kind: str, series: int, start: int, end: int) -> None:
        metric, sku = names[series] if series >= 0 else ("", "")
        traps.append(TrapLabel(kind, store.platform, store.store, sku, metric, start, end))

    if spec.outages:
        keep = np.ones(rows.hour.size, dtype=bool)
        if rng.random() < 0.35:
            window = place_trap(timeline, int(rng.integers(3, 49)), rng)
            if window is not None:
                keep &= ~((rows.hour >= window[0]) & (rows.hour < window[1]))
                timeline.outages.append(window)
                label("outage", -1, *window)
        if rng.random() < 0.25:
            window = place_trap(timeline, 24, rng)
            if window is not None:
                metric = str(rng.choice(_SINGLE_OUTAGE_METRICS))
                series = names.index((metric, ""))
                keep &= ~((rows.series == series) & (rows.hour >= window[0]) & (rows.hour < window[1]))
                timeline.outages.append(window)
                label("metric_outage", series, *window)
        rows = rows.select(keep)

    if spec.impossible_values:
        for _ in range(int(rng.random() < 0.6) + int(rng.random() < 0.2)):
            kind = str(rng.choice(["negative_stock", "negative_orders", "gmv_x1000"]))
            wanted = {"negative_stock": "stock", "negative_orders": "orders", "gmv_x1000": "gmv"}[kind]
            candidates = [i for i, (m, _) in enumerate(names) if m == wanted]
            series = int(rng.choice(candidates))
            at = np.nonzero(rows.series == series)[0]
            if kind == "gmv_x1000":  # a unit bug shows on a busy hour, not on a zero-sales night
                at = at[rows.value[at] >= np.median(rows.value[at])]
            at = at[[timeline.trap_fits(int(rows.hour[i]) - 2, int(rows.hour[i]) + 3) for i in at]]
            if at.size == 0:
                continue
            row = int(rng.choice(at))
            if kind == "gmv_x1000":
                rows.value[row] = round(max(rows.value[row], 1.0) * 1000, 2)
            else:
                rows.value[row] = -float(rng.integers(1, 60))
            label("impossible_value", series, int(rows.hour[row]), int(rows.hour[row]) + 1)

    if spec.conflicting_duplicates and rng.random() < 0.5:
        picks = rng.choice(rows.hour.size, size=int(rng.integers(1, 4)), replace=False)
        values = rows.value[picks].copy()
        for j, row in enumerate(picks):
            metric = names[int(rows.series[row])][0]
            if metric in COUNT_METRICS:
                values[j] = values[j] + max(1.0, round(abs(float(values[j])) * rng.uniform(0.1, 0.5)))
            else:
                values[j] = round(values[j] * rng.uniform(1.1, 1.5) + 0.01, 2)
            label("conflicting_duplicate", int(rows.series[row]), int(rows.hour[row]), int(rows.hour[row]) + 1)
        rows = rows.extend(LongRows(rows.hour[picks], rows.series[picks], values))

    if spec.duplicates and spec.duplicate_rate > 0:
        picks = np.nonzero(rng.random(rows.hour.size) < spec.duplicate_rate)[0]
        for picked in picks.tolist():
            label("duplicate", int(rows.series[picked]), int(rows.hour[picked]), int(rows.hour[picked]) + 1)
        rows = rows.extend(rows.select(picks))
    return rows, traps
