"""The metric series around an alert with the expected band, recomputed from the panel.

The rule's detector is re-run over the alert's store with the same history the live evaluator
would use, so the band drawn is the band that was judged.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from shopsentinel.catalog import Catalog
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.evaluator import combine
from shopsentinel.detect.panel import Panel
from shopsentinel.detect.rules import RulePack
from shopsentinel.detect.series import SeriesResolver
from shopsentinel.runtime.evaluation import HOUR, floor_hour, store_panel
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import AlertRow, StoreRow

BEFORE = timedelta(hours=72)
AFTER = timedelta(hours=24)


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else round(float(x), 6)


def alert_series(row: AlertRow, store: StoreRow, points: PointStore, calendar: list[CalendarEvent], catalog: Catalog,
                 pack: RulePack, now: datetime, window_days: int) -> list[dict[str, Any]]:
    """Hourly ``{ts, value, expected, lower, upper}`` from 72 h before the alert to 24 h after it."""
    if store.first_point_at is None:
        return []
    show_from = floor_hour(row.starts_at) - BEFORE
    end = min(floor_hour(now), floor_hour(row.ends_at or now) + AFTER)
    history_from = max(floor_hour(store.first_point_at), show_from - timedelta(days=window_days))
    if end <= max(history_from, show_from):
        return []
    info = StoreInfo(store.store, store.platform, store.name, store.timezone)
    panel = store_panel(points, info, calendar, catalog, history_from, end)
    first = max(0, int((show_from - history_from) // HOUR))
    band = rule_band(row, panel, catalog, pack)
    if band is None:
        band = raw_values(row, panel)
    if band is None:
        return []
    value, expected, lower, upper = band
    return [
        {"ts": f"{panel.time_at(t):%Y-%m-%dT%H:%M:%SZ}", "value": _num(value[t]), "expected": _num(expected[t]),
         "lower": _num(lower[t]), "upper": _num(upper[t])}
        for t in range(first, panel.hours)
    ]


Band = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def rule_band(row: AlertRow, panel: Panel, catalog: Catalog, pack: RulePack) -> Band | None:
    try:
        rule = pack.get(row.rule)
    except KeyError:
        return None
    result = combine(rule.when, SeriesResolver(panel, catalog), int(round(rule.event_tail)))
    if result is None:
        return None
    view, decision = result
    for j, sku in enumerate(view.skus):
        if sku == row.sku:
            return decision.value[:, j], decision.expected[:, j], decision.lower[:, j], decision.upper[:, j]
    return None


def raw_values(row: AlertRow, panel: Panel) -> Band | None:
    matrix = panel.metrics.get(row.metric)
    if matrix is None:
        return None
    for j, sku in enumerate(matrix.skus):
        if sku == row.sku:
            values = matrix.values[:, j]
            blank = np.full_like(values, np.nan)
            return values, blank, blank, blank
    return None


__all__ = ["alert_series"]
