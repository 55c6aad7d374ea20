"""Resolve a rule's metric into a :class:`SeriesView`: the matrix a detector looks at.

Counts are summed over the rule's window, ratios are computed from windowed numerator and
denominator (so significance can be judged on the counts behind them), stock cover divides
stock by a demand forecast, and composite metrics evaluate their formula. Each view also
carries the mask of points its baselines must not learn from: calendar events (plus a tail)
and points that were themselves far outside their own history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shopsentinel.catalog import Catalog
from shopsentinel.catalog.formula import Formula
from shopsentinel.detect.baselines import (
    Baseline,
    rolling_mean_daily,
    rolling_sum,
    seasonal_history,
    summarize,
)
from shopsentinel.detect.panel import MetricMatrix, Panel
from shopsentinel.detect.significance import (
    count_surprise,
    extra_variation,
    pooled_dispersion,
    robust_surprise,
)

OUTLIER_SIGMAS = 5.0
OUTLIER_CHANGE = 0.3
EVENT_KINDS = ("promotion", "holiday", "maintenance")


@dataclass
class SeriesView:
    metric: str
    kind: str  # count | ratio | continuous
    values: np.ndarray
    store_index: np.ndarray
    skus: list[str]
    offsets: np.ndarray
    numerator: np.ndarray | None = None
    denominator: np.ndarray | None = None
    window: int = 1
    closed_hours: np.ndarray | None = None  # T × S: declared closed (the whole window outside opening hours)
    _exclude: dict[int, np.ndarray] = field(default_factory=dict)
    _cache: dict[str, np.ndarray] = field(default_factory=dict)
    _baselines: dict[tuple[object, ...], Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[tuple[int, str]]:
        return list(zip(self.store_index.tolist(), self.skus, strict=True))


def _align(source: MetricMatrix, store_index: np.ndarray, skus: list[str], *, store_level: bool = False) -> np.ndarray:
    """Columns of ``source`` re-ordered to the given keys (NaN where a key has no data)."""
    lookup = {(int(s), "" if store_level else k): i for i, (s, k) in enumerate(zip(source.store_index, source.skus, strict=True))}
    out = np.full((source.values.shape[0], len(skus)), np.nan)
    for j, (s, k) in enumerate(zip(store_index, skus, strict=True)):
        i = lookup.get((int(s), "" if store_level else k))
        if i is not None:
            out[:, j] = source.values[:, i]
    return out


def with_dispersion(cv: np.ndarray, dispersion: np.ndarray | None) -> np.ndarray:
    """The larger of a baseline's own extra variation and the series' pooled lumpiness."""
    if dispersion is None:
        return cv
    return np.fmax(cv, dispersion)


class SeriesResolver:
    """Builds (and caches) the views the rules of one panel ask for."""

    def __init__(self, panel: Panel, catalog: Catalog) -> None:
        self.panel = panel
        self.catalog = catalog
        self._cache: dict[tuple[str, int, int, int], SeriesView | None] = {}
        self._event_masks: dict[int, np.ndarray] = {}

    def event_mask(self, tail_hours: int) -> np.ndarray:
        if tail_hours not in self._event_masks:
            self._event_masks[tail_hours] = self.panel.event_mask(EVENT_KINDS, tail_hours)
        return self._event_masks[tail_hours]

    def view(self, metric: str, window: float, demand_days: int = 14, exposure: float | None = None) -> SeriesView | None:
        size = max(1, int(round(window)))
        reach = max(size, int(round(exposure))) if exposure else size
        key = (metric, size, demand_days, reach)
        if key not in self._cache:
            self._cache[key] = self._resolve(metric, size, demand_days, reach)
        return self._cache[key]

    def _make(self, metric: str, kind: str, values: np.ndarray, base: MetricMatrix, window: int, **extra: np.ndarray | None) -> SeriesView:
        offsets = self.panel.offsets[:, base.store_index] if base.width else np.zeros((self.panel.hours, 0))
        return SeriesView(metric, kind, values, base.store_index, list(base.skus), offsets, window=window,
                          closed_hours=self._closed(base.store_index, window), **extra)  # type: ignore[arg-type]

    def _closed(self, store_index: np.ndarray, window: int) -> np.ndarray | None:
        closed = self.panel.closed_window(window)
        return closed[:, store_index] if closed is not None else None

    def _resolve(self, metric: str, window: int, demand_days: int, exposure: int = 0) -> SeriesView | None:
        definition = self.catalog.get(metric)
        matrices = self.panel.metrics
        if metric in matrices and not definition.derived:
            base = matrices[metric]
            if definition.aggregation == "sum":
                kind = "count" if definition.kind == "count" else "continuous"
                return self._make(metric, kind, rolling_sum(base.values, window), base, window)
            return self._make(metric, "continuous", base.values, base, window)
        if metric == "stock_cover_days":
            stock, sold = matrices.get("stock"), matrices.get("units_sold")
            if stock is None:
                return None
            sales = _align(sold, stock.store_index, stock.skus) if sold is not None else np.full(stock.values.shape, np.nan)
            # No units_sold for a SKU: read its sales off the stock itself (each hour's decrease;
            # restocks, which raise stock, count as no sale).
            depletion = np.vstack([np.full((1, stock.width), np.nan), np.maximum(-np.diff(stock.values, axis=0), 0.0)])
            # A one-hour drop far beyond the recent selling rate is a stock correction, not sales.
            recent_rate = np.vstack([np.full((1, stock.width), np.nan), rolling_mean_daily(depletion, 7)[:-1] / 24.0])
            depletion = np.where(depletion > 10 * np.nan_to_num(recent_rate, nan=np.inf) + 2, 0.0, depletion)
            no_sales = np.isnan(sales).all(axis=0)
            sales[:, no_sales] = depletion[:, no_sales]
            demand = self._normal_demand(sales, stock.store_index, demand_days)
            with np.errstate(divide="ignore", invalid="ignore"):
                cover = np.where(demand > 0, np.maximum(stock.values, 0) / demand, np.nan)
            return self._make(metric, "continuous", cover, stock, window, denominator=demand)
        if not definition.derived or definition.formula is None:
            return None
        supplied = self._supplied(metric, definition.formula, window)
        if supplied is not None:
            return supplied
        formula = Formula(definition.formula)
        names = formula.names()
        window = max(window, definition.window_hours)
        if len(names) == 2 and definition.formula.replace(" ", "") == f"{names[0]}/{names[1]}":
            num_m, den_m = matrices.get(names[0]), matrices.get(names[1])
            if num_m is None or den_m is None:
                return None
            store_level = self.catalog.get(names[0]).scope == "store"
            den = _align(den_m, num_m.store_index, num_m.skus, store_level=store_level)
            num = rolling_sum(num_m.values, window)
            if exposure > window:
                # The numerator lags its denominator (refunds of the orders of the last days): the
                # denominator over the exposure, per window, so a quiet day after a busy one keeps
                # the busy day's orders in view.
                den = rolling_sum(den, exposure) * (window / exposure)
            else:
                den = rolling_sum(den, window)
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = np.where(den > 0, num / den, np.nan)
            return self._make(metric, "ratio", rate, num_m, window, numerator=num, denominator=den)
        parts = {name: self.view(name, window) for name in names}
        if any(v is None for v in parts.values()):
            return None
        anchor = next(iter(parts.values()))
        assert anchor is not None
        aligned = {}
        for name, v in parts.items():
            assert v is not None
            lookup = {k: i for i, k in enumerate(v.keys)}
            cols = [lookup.get(k) for k in anchor.keys]
            aligned[name] = np.stack([v.values[:, c] if c is not None else np.full(self.panel.hours, np.nan) for c in cols], axis=1)
        values = np.asarray(formula.evaluate(aligned), dtype=float)
        return SeriesView(metric, "continuous", values, anchor.store_index, list(anchor.skus), anchor.offsets, window=window,
                          closed_hours=self._closed(anchor.store_index, window))

    def _supplied(self, metric: str, formula: str, window: int) -> SeriesView | None:
        """A derived metric delivered as data (e.g. a console export's conversion rate) is used
        as it is when the metrics its formula needs are not there."""
        base = self.panel.metrics.get(metric)
        if base is None or all(name in self.panel.metrics for name in Formula(formula).names() if name != "forecast_daily"):
            return None
        return self._make(metric, "continuous", base.values, base, window)

    def _normal_demand(self, sold: np.ndarray, store_index: np.ndarray, days: int) -> np.ndarray:
        """Daily demand from the trailing ``days`` days outside promotions (a causal forecast)."""
        events = self.event_mask(0)[:, store_index]
        return rolling_mean_daily(np.where(events, np.nan, sold), days)

    def exclusion(self, view: SeriesView, tail_hours: int = 0) -> np.ndarray:
        """Points a baseline must skip: events (+ tail) and the view's own outliers."""
        if tail_hours not in view._exclude:
            # A windowed value is touched by an event until the window has passed it.
            tail = tail_hours + view.window - 1
            events = self.event_mask(tail)[:, view.store_index]
            view._exclude[tail_hours] = events | self._outliers(view, events, tail)
        return view._exclude[tail_hours]

    def dispersion(self, view: SeriesView) -> np.ndarray | None:
        """A count view's own lumpiness (:func:`pooled_dispersion`, T × S; None for other kinds).
        Only calendar events are left out of it: spikes are what lumpiness is made of."""
        if view.kind != "count":
            return None
        if "dispersion" not in view._cache:
            tail = view.window - 1
            events = self.event_mask(tail)[:, view.store_index]
            view._cache["dispersion"] = pooled_dispersion(
                view.values, view.offsets, events, view.window,
                daily=self._seasonal(view, 24, 7, "mean", events, tail),
                weekly=self._seasonal(view, 168, 4, "median", events, tail))
        return view._cache["dispersion"]

    @staticmethod
    def _seasonal(view: SeriesView, period: int, count: int, how: str, events: np.ndarray, tail: int) -> Baseline:
        """``summarize(seasonal_history(view.values, …, exclude=events), how)``, remembered on the view:
        the outlier mask and the pooled dispersion read the same histories (``events`` is the
        panel's event mask with ``tail`` hours, on the view's columns)."""
        key = ("seasonal", period, count, tail, how)
        found = view._baselines.get(key)
        if found is None:
            stack = seasonal_history(view.values, view.offsets, period_hours=period, count=count, exclude=events)
            # A count view reads both summaries of its daily history (outliers: the median,
            # dispersion: the mean): both are taken while the stack is at hand.
            for other in ("median", "mean") if view.kind == "count" and period == 24 else (how,):
                view._baselines[key[:-1] + (other,)] = summarize(stack, other)
            found = view._baselines[key]
        return found

    def _outliers(self, view: SeriesView, events: np.ndarray, tail: int) -> np.ndarray:
        """Far from both the same hour of recent days and the same hour of recent weeks
        (a weekly routine such as a Tuesday livestream is not an outlier)."""
        outlier = np.ones(view.values.shape, dtype=bool)
        for period, count in ((24, 7), (168, 4)):
            base = self._seasonal(view, period, count, "median", events, tail)
            with np.errstate(divide="ignore", invalid="ignore"):
                change = np.abs(view.values - base.expected) / np.abs(base.expected)
            moved = np.nan_to_num(change, nan=0.0) >= OUTLIER_CHANGE
            if view.kind == "count":
                cv = with_dispersion(extra_variation(base.expected, base.spread), self.dispersion(view))
                surprise = count_surprise(view.values, base.expected, cv, "both", where=moved & outlier)
            else:
                surprise = robust_surprise(view.values, base.expected, base.spread, "both")
            far = (np.nan_to_num(surprise, nan=0.0) >= OUTLIER_SIGMAS) & (np.nan_to_num(change, nan=0.0) >= OUTLIER_CHANGE)
            # Without two weeks of history a point cannot be shown to break its weekly routine
            # (a weekly livestream evening): then it is not treated as an outlier at all.
            outlier &= far & (base.samples >= 2) if period == 168 else far | (base.samples < 2)
        return outlier
