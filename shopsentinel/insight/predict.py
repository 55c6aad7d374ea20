"""Predictive alerts: stock-out risk per SKU, a 7-day sales forecast per store, and what-if checks.

Demand model (per SKU, hourly): an hour-of-week profile from the last four weeks outside
promotions, scaled to the level of the last seven days, times a promotion uplift for future hours
inside calendar promotions (the SKU's own past promotion uplift when it has one, else
``default_uplift``). Uncertainty: each Monte Carlo path draws a level factor (log-normal, with the
spread of the series' own recent daily level errors), a promotion uplift (log-normal: how well the
past promotions pin it down, plus how much one promotion differs from the next) and Poisson hourly
sales. A path runs out
when cumulative demand reaches stock on hand plus what is in transit and has arrived.

>>> import numpy as np
>>> hist = np.full(28 * 24, 2.0)
>>> f = stockout_risk(hist, stock=30, in_transit=[], promo_future=np.zeros(72, bool), seed=1)
>>> f.probability > 0.99, 10 <= f.median_hours_to_stockout <= 20
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from shopsentinel.insight.supply import (
    DELIVERY_WEEKS,
    MIN_LEVEL_DELIVERIES,
    SUPPLY_STATES,
    ReorderPoint,
    ShelfRecord,
    SupplierRecord,
    read_deliveries,
    rhythm_arrivals,
    supply_state,
)

HORIZON_HOURS = 72
WEEK_HOURS = 168
LEVEL_DAYS = 7
PROFILE_WEEKS = 4
LEVEL_SIGMA_FLOOR = 0.08
DEFAULT_UPLIFT = 2.0
SIMULATIONS = 2000
MAX_FACTOR = 20.0  # bounds on the level and promotion factors (a few odd hours must not explode them)
UPLIFT_SIGMA_BETWEEN = 0.35  # log-scale spread of one promotion's uplift against the SKU's past ones
UPLIFT_SIGMA_UNSEEN = 0.6  # … and of the default uplift for a SKU that has never been on promotion


@dataclass(frozen=True)
class StockoutForecast:
    probability: float  # P(stock-out within the horizon)
    median_hours_to_stockout: float | None  # None when fewer than half the paths run out
    expected_demand: float
    stock: float
    in_transit: float
    safety_stock: float  # extra units to hold for the service level over the lead time
    service_level: float
    horizon_hours: int
    level_sigma: float
    uplift: float
    restock_chance: float = 0.0  # share of paths where the SKU's usual delivery rhythm brings stock in time
    raw_probability: float | None = None  # the model's own probability when ``probability`` is recalibrated
    supply: str = "unknown"  # what the forecast assumed would arrive: one of SUPPLY_STATES
    waited_hours: float | None = None  # since the SKU's last delivery (None: none seen)
    usual_interval_hours: float | None = None  # its typical interval between deliveries (the store's for a new SKU)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def clean_history(history: np.ndarray) -> np.ndarray:
    """Impossible values (negative, or ten times above the series' 95th percentile) become unknown:
    one corrupt point must not become the forecast."""
    values = np.asarray(history, dtype=float).copy()
    values[values < 0] = np.nan
    known = values[~np.isnan(values)]
    if known.size:
        ceiling = 10 * (float(np.quantile(known, 0.95)) + 1)
        values[values > ceiling] = np.nan
    return values


def hour_of_week_profile(history: np.ndarray, promo_past: np.ndarray | None, first_hour_of_week: int) -> np.ndarray:
    """Mean units per hour of week over the history (promotion hours left out), 168 values.

    Hours of week with no clean data fall back to the overall clean mean.
    """
    values = history.astype(float).copy()
    if promo_past is not None:
        values[promo_past] = np.nan
    weeks = np.arange(values.size) + first_hour_of_week
    profile = np.full(WEEK_HOURS, np.nan)
    slot = weeks % WEEK_HOURS
    for h in range(WEEK_HOURS):
        chosen = values[slot == h]
        chosen = chosen[~np.isnan(chosen)]
        if chosen.size:
            profile[h] = chosen.mean()
    overall = np.nanmean(values) if np.any(~np.isnan(values)) else 0.0
    return np.where(np.isnan(profile), overall, profile)


def _level_and_sigma(history: np.ndarray, fitted: np.ndarray, promo_past: np.ndarray | None) -> tuple[float, float]:
    """Recent level (last 7 days vs the profile) and the spread of daily level errors."""
    clean = ~np.isnan(history) if promo_past is None else (~np.isnan(history) & ~promo_past)
    days = history.size // 24
    ratios = []
    for d in range(max(days - 21, 0), days):
        part = slice(d * 24, (d + 1) * 24)
        mask = clean[part]
        expected = fitted[part][mask].sum()
        if mask.sum() >= 12 and expected > 1:
            ratios.append(history[part][mask].sum() / expected)
    recent = slice(max(history.size - LEVEL_DAYS * 24, 0), history.size)
    expected = fitted[recent][clean[recent]].sum()
    level = float(history[recent][clean[recent]].sum() / expected) if expected > 1 else 1.0
    logs = np.log(np.clip(np.array(ratios), 0.05, 20)) if ratios else np.array([0.0])
    # A 72-hour total averages three days of noise; the level itself is known to ~1/sqrt(7 days).
    sigma = float(max(np.std(logs) / math.sqrt(LEVEL_DAYS) * 1.5, LEVEL_SIGMA_FLOOR))
    return float(np.clip(level, 0.0, MAX_FACTOR)), sigma


def promotion_uplift(history: np.ndarray, fitted: np.ndarray, promo_past: np.ndarray | None,
                     default: float) -> tuple[float, float]:
    """The SKU's own promotion uplift over its profile, and how uncertain it is for the next promotion.

    The spread (log scale) has two parts: how well the past promotion days pin the uplift down
    (their day-to-day scatter over the square root of their number) and how much one promotion differs
    from the next (``UPLIFT_SIGMA_BETWEEN``: a 618 is not a 双11). With no past promotion the default
    uplift is used with the wide ``UPLIFT_SIGMA_UNSEEN``.
    """
    if promo_past is None:
        return default, UPLIFT_SIGMA_UNSEEN
    seen = promo_past & ~np.isnan(history)
    expected = fitted[seen].sum()
    if expected <= 1:
        return default, UPLIFT_SIGMA_UNSEEN
    uplift = float(np.clip(history[seen].sum() / expected, 1 / MAX_FACTOR, MAX_FACTOR))
    days = np.flatnonzero(seen) // 24
    logs = []
    for day in np.unique(days):
        hours = np.flatnonzero(seen)[days == day]
        want = fitted[hours].sum()
        if want > 0.5:
            logs.append(math.log(float(np.clip(history[hours].sum() / want, 1 / MAX_FACTOR, MAX_FACTOR))))
    within = float(np.std(logs)) / math.sqrt(len(logs)) if len(logs) > 1 else UPLIFT_SIGMA_UNSEEN
    return uplift, math.sqrt(within**2 + UPLIFT_SIGMA_BETWEEN**2)


def stockout_risk(history: np.ndarray, *, stock: float, in_transit: Sequence[tuple[int, float]] = (),
                  promo_past: np.ndarray | None = None, promo_future: np.ndarray | None = None,
                  first_hour_of_week: int = 0, horizon: int = HORIZON_HOURS, service_level: float = 0.95,
                  lead_hours: int = HORIZON_HOURS, default_uplift: float = DEFAULT_UPLIFT,
                  simulations: int = SIMULATIONS, seed: int = 0,
                  stock_history: np.ndarray | None = None, supplier: SupplierRecord | None = None,
                  reorder: ReorderPoint | None = None) -> StockoutForecast:
    """P(stock-out within ``horizon`` hours) for one SKU.

    ``history`` is hourly units sold, oldest first, ending just before now (NaN = unknown; hours
    when the SKU was out of stock should be NaN, not 0). ``in_transit`` lists ``(hours from now,
    units)`` deliveries. ``first_hour_of_week`` is the hour of week (local, Monday 0) of
    ``history[0]``; ``promo_future`` marks calendar promotion hours of the horizon.
    ``stock_history`` (end-of-hour stock ending where ``history`` ends; the last
    :data:`~shopsentinel.insight.supply.DELIVERY_WEEKS` weeks are read) lets the SKU's deliveries
    count when none are announced (:func:`~shopsentinel.insight.supply.rhythm_arrivals`), judged by
    ``supplier`` — how deliveries come at this store (its SKUs' record; the SKU's own without it): a
    shop that receives every day with two days on the shelf is not about to run out, and a truck a day
    late at a store whose trucks are often a day late may still come. A SKU restocked on a level
    (:class:`~shopsentinel.insight.supply.ReorderPoint`: its own covers at delivery, else ``reorder``,
    the store's) gets its delivery when a path's stock falls to its reorder cover instead.
    """
    full = np.asarray(history, dtype=float)
    history = clean_history(full[-PROFILE_WEEKS * WEEK_HOURS:])
    if promo_past is not None:
        promo_past = np.asarray(promo_past, dtype=bool)[-history.size:]
    start_how = (first_hour_of_week + full.size - history.size) % WEEK_HOURS  # hour of week of the kept part
    profile = hour_of_week_profile(history, promo_past, start_how)
    fitted = profile[(np.arange(history.size) + start_how) % WEEK_HOURS]
    level, sigma = _level_and_sigma(history, fitted, promo_past)
    uplift, uplift_sigma = promotion_uplift(history, fitted, promo_past, default_uplift)
    span = max(horizon, lead_hours)
    future_slots = (np.arange(span) + start_how + history.size) % WEEK_HOURS
    base = profile[future_slots] * level
    promo = np.zeros(span, dtype=bool)
    if promo_future is not None:
        promo[: min(span, len(promo_future))] = np.asarray(promo_future, dtype=bool)[:span]
    mean = np.where(promo, base * uplift, base)
    rng = np.random.default_rng(seed)
    factors = np.exp(rng.normal(-sigma**2 / 2, sigma, simulations))
    rates = np.outer(factors, base)
    if promo.any():  # each path draws its own uplift for the coming promotion hours
        uplifts = uplift * np.exp(rng.normal(-uplift_sigma**2 / 2, uplift_sigma, simulations))
        rates[:, promo] *= np.clip(uplifts, 1 / MAX_FACTOR, MAX_FACTOR)[:, None]
    demand = rng.poisson(rates)
    cumulative = np.cumsum(demand, axis=1)
    arrivals = np.zeros(span)
    for hours, units in in_transit:
        if 0 <= hours < span:
            arrivals[int(hours)] += units
    available = np.broadcast_to(stock + np.cumsum(arrivals)[:horizon], (simulations, horizon))
    restock_chance = 0.0
    own = None
    point = None
    rate = 0.0
    if stock_history is not None and not in_transit:
        level_history = np.asarray(stock_history, dtype=float)[-DELIVERY_WEEKS * WEEK_HOURS:]
        own = read_deliveries(level_history, full)
        supplier = supplier or SupplierRecord.pool([own])
        point = ReorderPoint.read(own) or (reorder if own.times.size < MIN_LEVEL_DELIVERIES else None)
        recent = history[-LEVEL_DAYS * 24:]
        rate = float(np.nanmean(recent)) if np.any(~np.isnan(recent)) else 0.0
        if point is not None and rate > 0:  # restocked on a level: the delivery lands at the path's reorder cover
            threshold = point.thresholds(stock / rate, simulations, rng) * rate
            hit = cumulative[:, :horizon] >= (stock - threshold)[:, None]
            lands = hit.any(axis=1) & np.isfinite(threshold)
            restock = np.zeros((simulations, horizon))
            # a SKU judged by the store's reorder point has no delivery size of its own: its delivery
            # is taken to cover the horizon (units of another SKU say nothing of it)
            sizes = rng.choice(own.sizes, int(lands.sum())) if own.sizes.size else np.inf
            restock[np.flatnonzero(lands), hit[lands].argmax(axis=1)] = sizes
            restock_chance = float(lands.mean())
            available = available + np.cumsum(restock, axis=1)
        else:
            point = None
            rhythm = rhythm_arrivals(own, supplier, horizon, simulations, rng)
            restock_chance = float((rhythm.sum(axis=1) > 0).mean())
            available = available + np.cumsum(rhythm, axis=1)
    supply = supply_state(own, announced=bool(in_transit), record=supplier)
    if point is not None:
        supply = "overdue" if point.overdue(stock / rate) else "rhythm"
    usual = supplier.typical_for(own) if own is not None and supplier is not None else None
    waited = own.waited if own is not None and own.times.size else None
    short = cumulative[:, :horizon] >= available if stock > 0 else np.ones((simulations, horizon), bool)
    ran_out = short.any(axis=1)
    if supply == "unknown" and stock > 0 and stock_history is not None:
        # no delivery seen yet (a new store: platforms give no stock history), but the sales of the
        # hours before its stock was known say whether the seller keeps this SKU in stock
        shelf = ShelfRecord.read(history, float(stock), horizon, expected=fitted * level,
                                 stock_history=np.asarray(stock_history, dtype=float))
        if shelf.windows:
            ran_out &= rng.random(simulations) >= shelf.in_time
            restock_chance = round(shelf.in_time, 3)
    first = np.where(ran_out, short.argmax(axis=1) + 1, horizon + 1)
    median = float(np.median(first)) if ran_out.mean() >= 0.5 else None
    lead_demand = cumulative[:, lead_hours - 1]
    safety = float(max(np.quantile(lead_demand, service_level) - lead_demand.mean(), 0.0))
    return StockoutForecast(round(float(ran_out.mean()), 4), median, round(float(mean[:horizon].sum()), 2), float(stock),
                            float(arrivals[:horizon].sum()), round(safety, 1), service_level, horizon, round(sigma, 4),
                            round(uplift, 3), round(restock_chance, 3), supply=supply, waited_hours=waited,
                            usual_interval_hours=None if usual is None else round(usual, 1))


@dataclass(frozen=True)
class DailyForecast:
    date: str
    forecast: float
    low: float
    high: float


def daily_forecast(history: np.ndarray, *, first_hour_of_week: int, start: datetime, days: int = 7,
                   promo_past: np.ndarray | None = None, promo_future: np.ndarray | None = None,
                   interval: float = 0.8, default_uplift: float = DEFAULT_UPLIFT, simulations: int = SIMULATIONS,
                   seed: int = 0) -> list[DailyForecast]:
    """Next ``days`` daily totals of an hourly series (e.g. GMV), with a central ``interval``.

    ``start`` is the first forecast hour (local midnight gives calendar days); the interval comes
    from the series' own daily level errors (log-normal per day) plus Poisson-like noise.
    """
    full = np.asarray(history, dtype=float)
    history = clean_history(full[-PROFILE_WEEKS * WEEK_HOURS:])
    if promo_past is not None:
        promo_past = np.asarray(promo_past, dtype=bool)[-history.size:]
    first_hour_of_week = (first_hour_of_week + full.size - history.size) % WEEK_HOURS
    profile = hour_of_week_profile(history, promo_past, first_hour_of_week)
    fitted = profile[(np.arange(history.size) + first_hour_of_week) % WEEK_HOURS]
    level, sigma = _level_and_sigma(history, fitted, promo_past)
    daily_sigma = sigma / 1.5 * math.sqrt(LEVEL_DAYS)  # undo the 72-hour averaging: one day's spread
    uplift, uplift_sigma = promotion_uplift(history, fitted, promo_past, default_uplift)
    hours = days * 24
    base = profile[(np.arange(hours) + first_hour_of_week + history.size) % WEEK_HOURS] * level
    promo = np.zeros(hours, dtype=bool)
    if promo_future is not None:
        promo[: min(hours, len(promo_future))] = np.asarray(promo_future, dtype=bool)[:hours]
    totals = np.where(promo, base * uplift, base).reshape(days, 24).sum(axis=1)
    rng = np.random.default_rng(seed)
    uplifts = uplift * np.exp(rng.normal(-uplift_sigma**2 / 2, uplift_sigma, (simulations, 1)))
    paths = (base[None, :] * np.where(promo[None, :], uplifts, 1.0)).reshape(simulations, days, 24).sum(axis=2)
    draws = paths * np.exp(rng.normal(-daily_sigma**2 / 2, daily_sigma, (simulations, days)))
    lo, hi = np.quantile(draws, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
    return [DailyForecast(f"{start + timedelta(days=d):%Y-%m-%d}", round(float(totals[d]), 2), round(float(lo[d]), 2),
                          round(float(hi[d]), 2)) for d in range(days)]


# --- what-if --------------------------------------------------------------------------------

@dataclass(frozen=True)
class WhatIfMetric:
    metric: str
    baseline: float
    predicted: float
    band_low: float
    band_high: float
    leaves_band: bool
    direction: str  # above | below | ""


@dataclass
class WhatIfResult:
    price_change_pct: float
    uplift_pct: float
    elasticity: float
    metrics: list[WhatIfMetric] = field(default_factory=list)

    @property
    def out_of_band(self) -> list[str]:
        return [m.metric for m in self.metrics if m.leaves_band]

    def as_dict(self) -> dict[str, Any]:
        return {"price_change_pct": self.price_change_pct, "uplift_pct": self.uplift_pct, "elasticity": self.elasticity,
                "metrics": [asdict(m) for m in self.metrics], "out_of_band": self.out_of_band}


def what_if(daily: dict[str, np.ndarray], *, price_change_pct: float = 0.0, uplift_pct: float = 0.0,
            elasticity: float = -1.5, band_quantiles: tuple[float, float] = (0.05, 0.95)) -> WhatIfResult:
    """Which daily metrics would leave their usual band after a price change or a campaign.

    ``daily`` maps metric → recent daily values (e.g. 28 days of uv, paid_orders, gmv). A price
    change of ``p``% moves units by ``(1 + p)^elasticity`` and AOV by ``(1 + p)``; a campaign uplift
    moves traffic (and with it orders and GMV). The band is the metric's own daily quantile range.
    """
    price = 1 + price_change_pct / 100
    if price <= 0:
        raise ValueError("a price change must leave a positive price")
    traffic = 1 + uplift_pct / 100
    units = price**elasticity
    factors = {"uv": traffic, "pv": traffic, "orders": traffic * units, "paid_orders": traffic * units,
               "units_sold": traffic * units, "gmv": traffic * units * price, "aov": price, "price": price,
               "pay_conversion_rate": units, "conversion_rate": units, "refunds": traffic * units,
               "ad_spend": traffic if uplift_pct else 1.0}
    result = WhatIfResult(price_change_pct, uplift_pct, elasticity)
    for metric, values in sorted(daily.items()):
        values = np.asarray(values, dtype=float)
        values = values[~np.isnan(values)]
        if values.size < 7 or metric not in factors:
            continue
        baseline = float(np.median(values[-7:]))
        low, high = (float(q) for q in np.quantile(values, band_quantiles))
        predicted = baseline * factors[metric]
        direction = "above" if predicted > high else "below" if predicted < low else ""
        result.metrics.append(WhatIfMetric(metric, round(baseline, 2), round(predicted, 2), round(low, 2), round(high, 2),
                                           bool(direction), direction))
    return result


__all__ = ["SUPPLY_STATES", "DailyForecast", "StockoutForecast", "WhatIfMetric", "WhatIfResult", "daily_forecast",
           "clean_history", "hour_of_week_profile", "promotion_uplift", "stockout_risk", "what_if"]
