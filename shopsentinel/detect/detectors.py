"""Detectors behind one protocol, each evaluated over every series of a view at once.

A detector turns a :class:`SeriesView` and a :class:`Condition` into a :class:`Decision`:
where the condition holds (``fire``), where it is clearly over (``clear``, a relaxed version
for hysteresis), where it could be judged at all (``known``), and the value, expectation and
band to show to people. Scoring and deciding stay separate inside each detector: baselines and
surprise come from :mod:`baselines` and :mod:`significance`; the decision applies the rule's
thresholds, the count-aware significance and the volume guard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from shopsentinel.detect.baselines import Baseline, seasonal_history, summarize, usual_low
from shopsentinel.detect.rules import Condition
from shopsentinel.detect.series import SeriesResolver, SeriesView
from shopsentinel.detect.significance import count_surprise, extra_variation, robust_surprise

HYSTERESIS = 0.6  # a firing condition clears only when back within 60% of its threshold


@dataclass
class Decision:
    fire: np.ndarray
    clear: np.ndarray
    known: np.ndarray
    value: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


class Detector(Protocol):
    def decide(self, view: SeriesView, cond: Condition, resolver: SeriesResolver, tail_hours: int) -> Decision: ...


def _nan_like(a: np.ndarray) -> np.ndarray:
    return np.full(a.shape, np.nan)


def _history_for(view: SeriesView, cond: Condition, values: np.ndarray, exclude: np.ndarray) -> tuple[Baseline, Baseline]:
    """(expected-level baseline as the rule asks, 7-day same-hour baseline for the spread).

    Cached on the view: several rules read the same baselines of the same metric."""
    key = (cond.baseline, cond.history, cond.agg, id(exclude), id(values))
    cached = view._baselines.get(key)
    if cached is None:
        cached = _compute_history(view, cond, values, exclude)
        view._baselines[key] = cached
    level, daily = cached
    return replace(level), replace(daily)


def _compute_history(view: SeriesView, cond: Condition, values: np.ndarray, exclude: np.ndarray) -> tuple[Baseline, Baseline]:

    def history(period: int, count: int, search: int | None = None) -> Baseline:
        stack = seasonal_history(values, view.offsets, period_hours=period, count=count, exclude=exclude, search=search)
        how = cond.agg if count > 1 else "median"
        base = summarize(stack, how)
        if view.kind == "ratio" and view.numerator is not None and view.denominator is not None:
            # Pooled rate (Σ numerator / Σ denominator): the median of hourly ratios of a
            # sparse series is 0 and would make every single refund look significant.
            num = seasonal_history(view.numerator, view.offsets, period_hours=period, count=count, exclude=exclude, search=search)
            den = seasonal_history(view.denominator, view.offsets, period_hours=period, count=count, exclude=exclude, search=search)
            both = ~np.isnan(num) & ~np.isnan(den)
            num_sum = np.sum(np.where(both, num, 0), axis=0)
            den_sum = np.sum(np.where(both, den, 0), axis=0)
            # Shrink towards the week's overall rate: seven quiet night hours with 20 payment
            # attempts each do not prove a failure rate of zero.
            prior_rate = _weekly_rate(view)
            prior = np.where(np.isnan(prior_rate), 0.0, RATE_PRIOR_WEIGHT)
            with np.errstate(invalid="ignore", divide="ignore"):
                pooled = (num_sum + prior * np.nan_to_num(prior_rate)) / (den_sum + prior)
            base.expected = np.where(np.isfinite(pooled), pooled, np.nan)
        elif view.kind == "count" and how == "median":
            # Sparse counts: the median of mostly-zero hours is 0; the mean is the better rate.
            with np.errstate(invalid="ignore"):
                mean = summarize(stack, "mean").expected
            base.expected = np.where(base.expected < 3, mean, base.expected)
        return base

    daily = history(24, 7)
    if cond.baseline == "previous_day":
        level = history(24, 1, search=7)
        level.spread = daily.spread
    elif cond.baseline == "hour_of_week":
        level = history(168, cond.history, search=cond.history * 2)
        level.spread = np.where(np.isnan(level.spread) | (level.samples < 3), daily.spread, level.spread)
    elif cond.baseline == "previous_period":
        window = max(1, view.window)
        shifted = np.full(values.shape, np.nan)
        shifted[window:] = np.where(exclude[:-window], np.nan, values[:-window])
        level = Baseline(shifted, daily.spread, np.where(np.isnan(shifted), 0, 1))
    elif cond.history != 7:
        level = history(24, cond.history)
    else:
        level = daily
    return level, daily


RATE_PRIOR_WEIGHT = 50.0


def _weekly_rate(view: SeriesView) -> np.ndarray:
    """Pooled rate over the previous 7 days, all hours (T × S, causal)."""
    assert view.numerator is not None and view.denominator is not None
    if "weekly_rate" not in view._cache:
        window = 168 // max(1, view.window) * max(1, view.window)
        step = max(1, view.window)
        # Non-overlapping windows ending at t - step, t - 2·step, …: sum every step-th value.
        num = np.zeros(view.values.shape)
        den = np.zeros(view.values.shape)
        for k in range(1, window // step + 1):
            lag = k * step
            num[lag:] += np.nan_to_num(view.numerator[:-lag])
            den[lag:] += np.nan_to_num(view.denominator[:-lag])
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(den > 0, num / den, np.nan)
        rate[: 24 * 2] = np.nan
        view._cache["weekly_rate"] = rate
    return view._cache["weekly_rate"]


def _surprise(view: SeriesView, cond: Condition, base: Baseline, daily: Baseline, direction: str, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(surprise in sigmas, volume) for the view's kind, computed where ``where`` is True."""
    if view.kind == "ratio" and view.numerator is not None and view.denominator is not None:
        floor = 1.0 / (np.maximum(base.samples, daily.samples) + 1.0)
        expected_num = np.maximum(view.denominator * base.expected, floor)
        # The rate's day-to-day spread, converted into extra variation of the numerator.
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(base.expected > 0, daily.spread / base.expected, np.nan)
        cv = extra_variation(expected_num, np.nan_to_num(cv, nan=0.0) * expected_num)
        return count_surprise(view.numerator, expected_num, cv, direction, where), view.denominator
    if view.kind == "count":
        cv = extra_variation(base.expected, daily.spread)
        # Seven quiet hours do not prove a rate of zero: floor it at 1/(n+1).
        floor = 1.0 / (np.maximum(base.samples, daily.samples) + 1.0)
        expected = np.where(np.isnan(base.expected), np.nan, np.maximum(base.expected, floor))
        return count_surprise(view.values, expected, cv, direction, where), base.expected
    return robust_surprise(view.values, base.expected, daily.spread, direction), np.abs(base.expected)


class ChangeDetector:
    """Relative change against a baseline (previous day, same hour of the last N days or weeks,
    previous period), e.g. "UV down more than 50% versus yesterday"."""

    def decide(self, view: SeriesView, cond: Condition, resolver: SeriesResolver, tail_hours: int) -> Decision:
        exclude = resolver.exclusion(view, tail_hours)
        base, daily = _history_for(view, cond, view.values, exclude)
        direction = cond.direction
        expected, x = base.expected, view.values
        if cond.ratio is not None:
            factor = cond.ratio
        else:
            assert cond.change is not None
            factor = 1 - cond.change if direction == "down" else 1 + cond.change
        if direction == "down":
            crossed = x <= factor * expected
            relaxed = x <= (1 - (1 - factor) * HYSTERESIS) * expected
            lower, upper = factor * expected, _nan_like(x)
        elif direction == "up":
            crossed = x >= factor * expected
            relaxed = x >= (1 + (factor - 1) * HYSTERESIS) * expected
            lower, upper = _nan_like(x), factor * expected
        else:
            change = cond.change or abs(factor - 1)
            crossed = np.abs(x - expected) >= change * np.abs(expected)
            relaxed = np.abs(x - expected) >= change * HYSTERESIS * np.abs(expected)
            lower, upper = (1 - change) * expected, (1 + change) * expected
        crossed &= _weekly_agrees(view, cond, exclude, lambda e: _crossed(x, e, direction, factor, cond.change))
        return _decide(view, cond, base, daily, crossed, relaxed, lower, upper, direction)


def _crossed(x: np.ndarray, expected: np.ndarray, direction: str, factor: float, change: float | None) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if direction == "down":
            return x <= factor * expected
        if direction == "up":
            return x >= factor * expected
        return np.abs(x - expected) >= (change or abs(factor - 1)) * np.abs(expected)


def _weekly_agrees(view: SeriesView, cond: Condition, exclude: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Where a daily baseline says "anomaly", check the same hour in the previous weeks agrees
    (where there are at least two such weeks to ask)."""
    if not cond.weekly_check or cond.baseline in ("hour_of_week", "previous_period"):
        return np.ones(view.values.shape, dtype=bool)
    weekly = cond.model_copy(update={"baseline": "hour_of_week", "history": 4, "agg": "median"})
    base, _ = _history_for(view, weekly, view.values, exclude)
    return (base.samples < 2) | np.isnan(base.expected) | test(base.expected)


class ZScoreDetector:
    """Outside mean ± k·σ of the same hour over the last N days (R3.2's "−2σ" rule)."""

    def decide(self, view: SeriesView, cond: Condition, resolver: SeriesResolver, tail_hours: int) -> Decision:
        exclude = resolver.exclusion(view, tail_hours)
        base, daily = _history_for(view, cond, view.values, exclude)
        assert cond.sigmas is not None
        k, x = cond.sigmas, view.values
        lower, upper = base.expected - k * base.spread, base.expected + k * base.spread
        if cond.direction == "down":
            crossed, relaxed = x < lower, x < base.expected - k * HYSTERESIS * base.spread
            upper = _nan_like(x)
        elif cond.direction == "up":
            crossed, relaxed = x > upper, x > base.expected + k * HYSTERESIS * base.spread
            lower = _nan_like(x)
        else:
            crossed = (x < lower) | (x > upper)
            relaxed = np.abs(x - base.expected) > k * HYSTERESIS * base.spread
        if cond.change is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.abs(x - base.expected) / np.abs(base.expected)
            crossed = crossed & (rel >= cond.change)
            factor = 1 - cond.change if cond.direction == "down" else 1 + cond.change
            crossed &= _weekly_agrees(view, cond, exclude, lambda e: _crossed(x, e, cond.direction, factor, cond.change))
        return _decide(view, cond, base, daily, crossed, relaxed, lower, upper, cond.direction)


class SeasonalBandDetector:
    """Robust hour-of-week band in local time: median ± k·MAD of the same hour in past weeks."""

    def decide(self, view: SeriesView, cond: Condition, resolver: SeriesResolver, tail_hours: int) -> Decision:
        exclude = resolver.exclusion(view, tail_hours)
        weekly = cond.model_copy(update={"baseline": "hour_of_week", "agg": "median"})
        base, daily = _history_for(view, weekly, view.values, exclude)
        k = cond.sigmas or 4.0
        x = view.values
        scale = np.maximum(np.nan_to_num(base.spread), 0.05 * np.abs(np.nan_to_num(base.expected)))
        lower, upper = base.expected - k * scale, base.expected + k * scale
        if cond.direction == "down":
            crossed, relaxed, upper = x < lower, x < base.expected - k * HYSTERESIS * scale, _nan_like(x)
        elif cond.direction == "up":
            crossed, relaxed, lower = x > upper, x > base.expected + k * HYSTERESIS * scale, _nan_like(x)
        else:
            crossed = (x < lower) | (x > upper)
            relaxed = np.abs(x - base.expected) > k * HYSTERESIS * scale
        if cond.change is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                crossed = crossed & (np.abs(x - base.expected) >= cond.change * np.abs(base.expected))
        return _decide(view, cond, base, daily, crossed, relaxed, lower, upper, cond.direction)


class ThresholdDetector:
    """Static bounds (R3.1), optionally requiring the move to be significant against the series'
    own normal level, so a 20% failure rate on 5 attempts is not a page."""

    def decide(self, view: SeriesView, cond: Condition, resolver: SeriesResolver, tail_hours: int) -> Decision:
        x = view.values
        crossed = np.zeros(x.shape, dtype=bool)
        relaxed = np.zeros(x.shape, dtype=bool)
        lower = np.full(x.shape, cond.below if cond.below is not None else np.nan)
        upper = np.full(x.shape, cond.above if cond.above is not None else np.nan)
        with np.errstate(invalid="ignore"):
            if cond.above is not None:
                crossed |= x > cond.above
                relaxed |= x > cond.above * (1 - 0.1 * HYSTERESIS) if cond.above > 0 else x > cond.above
            if cond.below is not None:
                crossed |= x < cond.below
                relaxed |= x < cond.below * (1 + 0.1 * HYSTERESIS) if cond.below > 0 else x < cond.below
        crossed = crossed & _below_usual_low(view, cond)
        if cond.required_surprise > 0 or cond.min_expected > 0:
            exclude = resolver.exclusion(view, tail_hours)
            base, daily = _history_for(view, cond, x, exclude)
            direction = "up" if cond.above is not None else "down"
            return _decide(view, cond, base, daily, crossed, relaxed, lower, upper, direction, expected_override=base.expected)
        known = ~np.isnan(x)
        return Decision(crossed & known, ~relaxed & known, known, x, _nan_like(x), lower, upper)


class ForecastCoverDetector:
    """Days of stock cover (stock ÷ forecast daily demand) below a number of days."""

    def decide(self, view: SeriesView, cond: Condition, resolver: SeriesResolver, tail_hours: int) -> Decision:
        assert cond.cover_days_below is not None
        cover = view.values
        demand = view.denominator if view.denominator is not None else _nan_like(cover)
        with np.errstate(invalid="ignore"):
            guard = demand >= max(cond.min_expected, 1e-9)
            crossed = (cover < cond.cover_days_below) & guard & _below_usual_low(view, cond) & _past_warmup(cover, cond.warmup)
            relaxed = (cover < cond.cover_days_below * 1.25) & guard
        known = ~np.isnan(cover)
        lower = np.full(cover.shape, cond.cover_days_below)
        return Decision(crossed & known, ~relaxed & known, known, cover, demand, lower, _nan_like(cover))


def _past_warmup(values: np.ndarray, warmup_hours: float) -> np.ndarray:
    """True once each series has been reporting for ``warmup_hours`` (a new store's learning period)."""
    present = ~np.isnan(values)
    first = np.where(present.any(axis=0), np.argmax(present, axis=0), values.shape[0])
    return np.arange(values.shape[0])[:, None] >= first[None, :] + int(warmup_hours)


def _below_usual_low(view: SeriesView, cond: Condition) -> np.ndarray:
    """True where the value is under the series' usual low point (or no history says otherwise)."""
    if cond.below_usual_low is None:
        return np.ones(view.values.shape, dtype=bool)
    key = -1  # cached per view: the usual low does not depend on the rule
    if key not in view._exclude:
        view._exclude[key] = usual_low(view.values)
    low = view._exclude[key]
    with np.errstate(invalid="ignore"):
        return np.isnan(low) | (view.values < cond.below_usual_low * low)


def _decide(
    view: SeriesView,
    cond: Condition,
    base: Baseline,
    daily: Baseline,
    crossed: np.ndarray,
    relaxed: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    direction: str,
    expected_override: np.ndarray | None = None,
) -> Decision:
    surprise, volume = _surprise(view, cond, base, daily, direction, where=crossed | relaxed)
    known = ~np.isnan(view.values) & ~np.isnan(base.expected)
    with np.errstate(invalid="ignore"):
        guard = np.nan_to_num(volume, nan=0.0) >= cond.min_expected
        significant = np.nan_to_num(surprise, nan=0.0) >= cond.required_surprise
        still = np.nan_to_num(surprise, nan=0.0) >= cond.required_surprise * HYSTERESIS
    fire = crossed & significant & guard & known & _past_warmup(view.values, cond.warmup)
    clear = known & ~(relaxed & still & guard)
    expected = expected_override if expected_override is not None else base.expected
    return Decision(fire, clear, known, view.values, expected, lower, upper)
