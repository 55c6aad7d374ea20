"""What the alert-detail chart draws: the alert's metric with the band the rule judged it by,
the same hours one week earlier, and the store's related metrics, all on one hourly axis.

Built from one panel of the store (the live evaluator's history), so the band is the judged band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from shopsentinel.catalog import Catalog
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.rules import RulePack
from shopsentinel.detect.series import SeriesResolver
from shopsentinel.runtime.detail import raw_values, rule_band
from shopsentinel.runtime.evaluation import HOUR, floor_hour, store_panel
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import AlertRow, StoreRow

BEFORE = timedelta(hours=72)
AFTER = timedelta(hours=24)
WEEK = 168
RELATED = ("uv", "pay_conversion_rate", "aov", "orders", "gmv")


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(float(v)) else round(float(v), 6) for v in values]


@dataclass
class DetailSeries:
    times: list[datetime] = field(default_factory=list)
    value: list[float | None] = field(default_factory=list)
    expected: list[float | None] = field(default_factory=list)
    lower: list[float | None] = field(default_factory=list)
    upper: list[float | None] = field(default_factory=list)
    last_week: list[float | None] = field(default_factory=list)
    window: tuple[int, int] | None = None
    related: dict[str, list[float | None]] = field(default_factory=dict)


def detail_series(row: AlertRow, store: StoreRow, points: PointStore, calendar: list[CalendarEvent], catalog: Catalog,
                  pack: RulePack, now: datetime, window_days: int) -> DetailSeries:
    if store.first_point_at is None:
        return DetailSeries()
    show_from = floor_hour(row.starts_at) - BEFORE
    end = min(floor_hour(now), floor_hour(row.ends_at or now) + AFTER)
    history_from = max(floor_hour(store.first_point_at), show_from - timedelta(days=max(window_days, 8)))
    if end <= max(history_from, show_from):
        return DetailSeries()
    info = StoreInfo(store.store, store.platform, store.name, store.timezone)
    panel = store_panel(points, info, calendar, catalog, history_from, end)
    first = max(0, int((show_from - history_from) // HOUR))
    band = rule_band(row, panel, catalog, pack) or raw_values(row, panel)
    out = DetailSeries(times=[panel.time_at(t) for t in range(first, panel.hours)])
    if band is not None:
        value, expected, lower, upper = band
        out.value, out.expected = _clean(value[first:]), _clean(expected[first:])
        out.lower, out.upper = _clean(lower[first:]), _clean(upper[first:])
        shifted = np.full(panel.hours, np.nan)
        shifted[WEEK:] = value[: max(0, panel.hours - WEEK)]
        out.last_week = _clean(shifted[first:])
    a = int((floor_hour(row.starts_at) - out.times[0]) // HOUR) if out.times else 0
    b = int((floor_hour(row.ends_at or now) - out.times[0]) // HOUR) if out.times else 0
    out.window = (a, max(a, b))
    resolver = SeriesResolver(panel, catalog)
    for metric in RELATED:
        view = resolver.view(metric, 1)
        if view is None:
            continue
        for j, sku in enumerate(view.skus):
            if sku == "":
                out.related[metric] = _clean(view.values[first:, j])
                break
    return out


__all__ = ["RELATED", "DetailSeries", "detail_series"]
