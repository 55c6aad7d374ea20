"""Which history a rule's expectation reads, and that expectation (issue 12: the shop's own rhythm).

:class:`HistorySpec` names the history (the same hour of the last 7 days, the same local hour of the
last weeks, yesterday, the previous window); :func:`history_for` computes the expected level and the
7-day same-hour baseline its spread comes from, cached on the :class:`SeriesView` because several rules
read the same baselines. Daily histories compare like with like (an expected-open hour with the open
days' same hour, never a weekly closed day's zero: :func:`closed_expected`); ratios are pooled rates
shrunk towards the week's rate (:func:`weekly_rate`); sparse counts use the mean. The scorers of
:mod:`shopsentinel.detect.detectors` read these.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from shopsentinel.detect.baselines import Baseline, comparable, expected_closed, seasonal_history, summarize
from shopsentinel.detect.rules import ChangeCondition, ThresholdCondition, ZScoreCondition
from shopsentinel.detect.series import SeriesView


@dataclass(frozen=True)
class HistorySpec:
    """Which history a baseline reads: the kind, how many periods, and how they are summarised."""

    baseline: str = "same_hour"
    history: int = 7
    agg: str = "median"

    @classmethod
    def of(cls, cond: ThresholdCondition | ChangeCondition | ZScoreCondition) -> HistorySpec:
        return cls(cond.baseline, cond.history, cond.agg)


WEEKLY = HistorySpec("hour_of_week", 4, "median")  # the same local hour of the last four weeks


def nan_like(a: np.ndarray) -> np.ndarray:
    return np.full(a.shape, np.nan)


def history_for(view: SeriesView, cond: HistorySpec, values: np.ndarray, exclude: np.ndarray) -> tuple[Baseline, Baseline]:
    """(expected-level baseline as the rule asks, 7-day same-hour baseline for the spread).

    Cached on the view: several rules read the same baselines of the same metric."""
    key = (cond.baseline, cond.history, cond.agg, id(exclude), id(values))
    cached = view._baselines.get(key)
    if cached is None:
        cached = compute_history(view, cond, values, exclude)
        view._baselines[key] = cached
    level, daily = cached
    return replace(level), replace(daily)


def closed_expected(view: SeriesView, exclude: np.ndarray) -> np.ndarray:
    """Where the view's series is expected closed (T × S): a recurring closure learnt from its own
    weeks (:func:`expected_closed` on its activity: the denominator of a ratio, else the value) or
    a closed hour of the store's declared opening hours. Cached on the view."""
    found = view._cache.get("closed")
    if found is None:
        activity = view.denominator if view.kind == "ratio" and view.denominator is not None else view.values
        found = expected_closed(activity, view.offsets, exclude)
        if view.closed_hours is not None:
            found = found | view.closed_hours
        view._cache["closed"] = found
    return found


def compute_history(view: SeriesView, cond: HistorySpec, values: np.ndarray, exclude: np.ndarray) -> tuple[Baseline, Baseline]:
    closed = closed_expected(view, exclude)
    flags_of = np.where(np.isnan(values), np.nan, closed.astype(float)) if closed.any() else None

    def like_with_like(stack: np.ndarray, source: np.ndarray, period: int, count: int, search: int | None) -> np.ndarray:
        """Daily histories keep only comparable hours: an expected-open hour is compared with the
        open days' same hour, never with the weekly closed day's zero."""
        if flags_of is None or period >= 168:
            return stack
        flags = seasonal_history(np.where(np.isnan(source), np.nan, flags_of), view.offsets, period_hours=period,
                                 count=count, exclude=exclude, search=search)
        return comparable(stack, flags, closed)

    def history(period: int, count: int, search: int | None = None) -> Baseline:
        # Every baseline kind also reads the 7-day same-hour one: computed once per view, values
        # and exclusions (a copy comes back, the callers below set fields on theirs).
        key = ("history", period, count, search, cond.agg if count > 1 else "median", id(values), id(exclude))
        found = view._baselines.get(key)
        if found is None:
            found = view._baselines[key] = computed_history(period, count, search)
        return replace(found)

    def computed_history(period: int, count: int, search: int | None) -> Baseline:
        stack = seasonal_history(values, view.offsets, period_hours=period, count=count, exclude=exclude, search=search)
        stack = like_with_like(stack, values, period, count, search)
        how = cond.agg if count > 1 else "median"
        base = summarize(stack, how)
        if view.kind == "ratio" and view.numerator is not None and view.denominator is not None:
            # Pooled rate (Σ numerator / Σ denominator): the median of hourly ratios of a
            # sparse series is 0 and would make every single refund look significant.
            num = seasonal_history(view.numerator, view.offsets, period_hours=period, count=count, exclude=exclude, search=search)
            den = seasonal_history(view.denominator, view.offsets, period_hours=period, count=count, exclude=exclude, search=search)
            num = like_with_like(num, view.numerator, period, count, search)
            den = like_with_like(den, view.denominator, period, count, search)
            both = ~np.isnan(num) & ~np.isnan(den)
            num_sum = np.sum(np.where(both, num, 0), axis=0)
            den_sum = np.sum(np.where(both, den, 0), axis=0)
            # Shrink towards the week's overall rate: seven quiet night hours with 20 payment
            # attempts each do not prove a failure rate of zero.
            prior_rate = weekly_rate(view)
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


def weekly_rate(view: SeriesView) -> np.ndarray:
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


__all__ = ["RATE_PRIOR_WEIGHT", "WEEKLY", "HistorySpec", "closed_expected", "compute_history", "history_for", "nan_like",
           "weekly_rate"]
