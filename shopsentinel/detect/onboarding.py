"""A new store's first days: what can be claimed before its own history exists.

* :func:`provisional_dispersion` — a count series' lumpiness from its first days, until the calibrated
  one (:func:`shopsentinel.detect.significance.pooled_dispersion`) has enough hours;
* :func:`possible_day_off` — a store that shuts every night may shut one day a week, which its first
  week cannot show yet;
* :func:`fresh_surprise` — a fixed threshold on a rate, judged from the first point against a normal
  rate well inside the alert line rather than on the threshold alone.
"""

from __future__ import annotations

import warnings

import numpy as np

from shopsentinel.detect.baselines import seasonal_history
from shopsentinel.detect.rules import ThresholdCondition
from shopsentinel.detect.series import SeriesView
from shopsentinel.detect.significance import DISPERSION_DAYS, MAX_SIGMA, count_surprise

PROVISIONAL_MIN_HOURS = 12  # comparable hours a provisional lumpiness needs (half a day of a shop's hours)
PROVISIONAL_PROOF = 2.0  # standard errors of Poisson noise the excess variation must exceed
MAX_PROVISIONAL_CV = 2.0  # the calibrated dispersion's largest value too


def provisional_dispersion(view: SeriesView) -> np.ndarray:
    """A count series' lumpiness while too few hours exist for the calibrated one (a new store's first
    week; T × S, causal, up to yesterday): the moment estimate of the extra variation over Poisson,
    each hour against the mean of the same hour on the days before it, corrected for that mean's own
    noise, less :data:`PROVISIONAL_PROOF` standard errors of what Poisson noise alone would show (a few
    single refunds of a sparse series prove no lumpiness). A wholesaler's first days (hours of 13, 0,
    4, 0, 26 orders) show it lumpy at once, so its fourth day's 27 orders are no burst; a calm shop's
    estimate stays near zero. NaN with fewer than :data:`PROVISIONAL_MIN_HOURS` comparable hours, and
    after the series' first :data:`DISPERSION_DAYS` days: a series that still has no calibrated
    lumpiness then (a daily-cadence shop, one point a day) keeps its own day-to-day spread as before."""
    values = view.values
    stack = seasonal_history(values, view.offsets, period_hours=24, count=7)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", category=RuntimeWarning)
        n = np.sum(~np.isnan(stack), axis=0)
        lam = np.nanmean(stack, axis=0)
        usable = ~np.isnan(values) & (n >= 1) & (lam > 0)
        if view.window > 1:
            usable &= (np.arange(values.shape[0]) % view.window == 0)[:, None]
        excess = np.where(usable, (values - lam) ** 2 / (1.0 + 1.0 / np.maximum(n, 1)) - lam, 0.0)
        square = np.where(usable, lam**2, 0.0)
        noise = np.where(usable, 2 * lam**2 + lam, 0.0)  # variance of an hour's excess under Poisson
    hours, width = values.shape
    t = np.arange(hours)
    hi = np.clip(t - 24 + 1, 0, None)
    lo = np.minimum(np.clip(t - 24 * 28 + 1, 0, None), hi)

    def trailing(series: np.ndarray) -> np.ndarray:
        csum = np.vstack([np.zeros((1, width)), np.cumsum(series, axis=0)])
        return csum[hi] - csum[lo]

    count, num, den = trailing(usable.astype(float)), trailing(excess), trailing(square)
    proven = num - PROVISIONAL_PROOF * np.sqrt(trailing(noise))  # only lumpiness beyond Poisson's own noise
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = np.sqrt(np.clip(proven / den, 0.0, MAX_PROVISIONAL_CV**2))
    present = ~np.isnan(values)
    first = np.where(present.any(axis=0), np.argmax(present, axis=0), hours)
    young = t[:, None] < first[None, :] + 24 * DISPERSION_DAYS  # past that, the calibrated one or none
    return np.where(young & (count >= PROVISIONAL_MIN_HOURS) & (den > 0), cv, np.nan)


CLOSED_LEVEL_SHARE = 0.05  # a day's quietest hour under this share of its mean hour: the store closes


def possible_day_off(activity: np.ndarray, week_samples: np.ndarray) -> np.ndarray:
    """Where a fall may be the store's weekly day off, not yet learnt (T × S): no week of this hour is
    known yet, the store closes every day (its quietest hour of the last 24 is under
    :data:`CLOSED_LEVEL_SHARE` of its mean hour) and the value is down at that closed level. The
    first Sunday of a wholesaler that shuts at night cannot be told from a crash to zero; from the
    second week on the weekly history judges it."""
    hours = activity.shape[0]
    quietest = np.full(activity.shape, np.nan)
    mean = np.full(activity.shape, np.nan)
    if hours > 24:
        windows = np.lib.stride_tricks.sliding_window_view(activity, 24, axis=0)  # (T − 23) × S × 24
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", category=RuntimeWarning)
            quietest[24:] = np.nanmin(windows, axis=2)[:-1]  # the 24 hours before t
            mean[24:] = np.nanmean(windows, axis=2)[:-1]
    with np.errstate(invalid="ignore"):
        closes = quietest <= CLOSED_LEVEL_SHARE * mean
        return (week_samples < 1) & closes & (activity <= quietest)


FRESH_NORMAL_FACTOR = 2.0  # a new store's normal rate is taken as this far inside the alert line


def fresh_surprise(view: SeriesView, cond: ThresholdCondition, fresh: np.ndarray) -> np.ndarray | float:
    """The surprise of a point with no history of its own (a store's first hours). A rate with its
    counts is tested against a normal rate :data:`FRESH_NORMAL_FACTOR` times inside the alert line
    (7.5% for "failure rate above 15%"): 2 failed payments in 12 attempts prove nothing, 24 in 60
    or 9 in 12 do. Other series pass (the threshold alone decides)."""
    if view.kind != "ratio" or view.numerator is None or view.denominator is None:
        return MAX_SIGMA
    if cond.above is not None and cond.above > 0:
        normal, direction = cond.above / FRESH_NORMAL_FACTOR, "up"
    elif cond.below is not None and cond.below > 0:
        normal, direction = cond.below * FRESH_NORMAL_FACTOR, "down"
    else:
        return MAX_SIGMA
    expected = view.denominator * normal
    return np.nan_to_num(count_surprise(view.numerator, expected, np.zeros(expected.shape), direction, where=fresh), nan=0.0)
