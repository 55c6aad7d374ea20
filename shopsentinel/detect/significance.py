"""Count-aware surprise: how unlikely an observation is, in sigma units, given its baseline.

Counts (orders, visitors, refunds) are noisy in proportion to their size: 0 orders in an hour
that usually has 2 is nothing, 0 in an hour that usually has 200 is an outage. We use a
negative binomial (Poisson plus the series' own extra day-to-day variation) for counts, and a
robust z-score for amounts and gauges. Ratios are tested through their numerator given the
denominator (binomial-style), so a conversion drop on 30 visitors does not page anyone.
"""

from __future__ import annotations

import warnings
from functools import cache
from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike

from shopsentinel.detect.baselines import Baseline, seasonal_history, summarize

MIN_EXTRA_CV = 0.05
MAX_SIGMA = 12.0


def extra_variation(expected: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Relative day-to-day variation beyond Poisson noise, from the history spread."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cv2 = (spread**2 - np.maximum(expected, 0)) / np.maximum(expected, 1e-9) ** 2
    cv = np.sqrt(np.clip(np.nan_to_num(cv2, nan=0.0), 0.0, 1.0))
    return np.maximum(cv, MIN_EXTRA_CV)


def count_surprise(observed: np.ndarray, expected: np.ndarray, cv: np.ndarray, direction: str, where: np.ndarray | None = None) -> np.ndarray:
    """Sigma-equivalent surprise of ``observed`` counts against negative-binomial expectations.

    Positive when the observation lies in the tail named by ``direction`` ("up", "down" or
    "both"), NaN where the baseline is unknown. With ``where``, only those cells are computed
    (the rest are 0): the tail probabilities are the expensive part.
    """
    if where is not None:
        out = np.zeros(np.shape(observed))
        cells = np.nonzero(where)
        if cells[0].size:
            cv_full = np.broadcast_to(cv, np.shape(observed))
            out[cells] = count_surprise(observed[cells], expected[cells], cv_full[cells], direction)
        return np.where(np.isnan(expected) | np.isnan(observed), np.nan, out)
    lam = np.maximum(np.nan_to_num(expected, nan=0.0), 1e-6)
    r = 1.0 / np.maximum(cv, MIN_EXTRA_CV) ** 2
    p = r / (r + lam)
    x = np.nan_to_num(observed, nan=0.0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", category=RuntimeWarning)
        lower_tail = nbinom_cdf(np.floor(x), r, p)
        upper_tail = nbinom_sf(np.ceil(x) - 1, r, p)
    down = _tail_to_sigma(lower_tail)
    up = _tail_to_sigma(upper_tail)
    if direction == "down":
        out = np.where(x < lam, down, 0.0)
    elif direction == "up":
        out = np.where(x > lam, up, 0.0)
    else:
        out = np.where(x < lam, down, up)
    return np.where(np.isnan(expected) | np.isnan(observed), np.nan, out)


def robust_surprise(observed: np.ndarray, expected: np.ndarray, spread: np.ndarray, direction: str, floor_fraction: float = 0.05) -> np.ndarray:
    """Robust z-score with the spread floored at a fraction of the level (flat series)."""
    scale = np.maximum(np.nan_to_num(spread, nan=0.0), floor_fraction * np.abs(np.nan_to_num(expected, nan=0.0)))
    scale = np.where(scale > 0, scale, 1e-9)
    z = (observed - expected) / scale
    if direction == "down":
        z = -z
    elif direction == "both":
        z = np.abs(z)
    return np.clip(z, -MAX_SIGMA, MAX_SIGMA)


def _tail_to_sigma(tail: np.ndarray) -> np.ndarray:
    tail = np.clip(np.nan_to_num(tail, nan=1.0), 1e-300, 1.0)
    return np.clip(norm_isf(tail), 0.0, MAX_SIGMA)


# What ``scipy.stats.nbinom.cdf/sf``, ``poisson.cdf/sf`` and ``norm.isf`` return, without the generic
# ``rv_discrete``/``rv_continuous`` machinery: the same ufuncs on the same arguments, the same
# answers outside the support (below it: cdf 0, sf 1) and for invalid shapes (NaN).
# ``scipy.stats`` takes over a second to import and wraps each call in argument checks we do not
# need; ``tests/detect/test_baselines_significance.py`` holds these to it bit for bit.


@cache
def _special() -> ModuleType:
    """scipy's special-function ufuncs, imported at the first use: a process that never scores
    (the backtest's main process, the CLI) does not pay for scipy."""
    from scipy.special import _ufuncs

    return _ufuncs


def preload() -> None:
    """Import scipy now rather than at the first score (a backtest worker, while it waits for work)."""
    _special()


def nbinom_cdf(k: ArrayLike, n: ArrayLike, p: ArrayLike) -> np.ndarray:
    """``scipy.stats.nbinom.cdf(k, n, p)`` for finite or NaN ``k``."""
    k, n, p = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, n, p)))
    return _discrete(_special()._nbinom_cdf, k, (n, p), (n > 0) & (p > 0) & (p <= 1), below=0.0)


def nbinom_sf(k: ArrayLike, n: ArrayLike, p: ArrayLike) -> np.ndarray:
    """``scipy.stats.nbinom.sf(k, n, p)`` for finite or NaN ``k``."""
    k, n, p = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, n, p)))
    return _discrete(_special()._nbinom_sf, k, (n, p), (n > 0) & (p > 0) & (p <= 1), below=1.0)


def poisson_cdf(k: ArrayLike, mu: ArrayLike) -> np.ndarray:
    """``scipy.stats.poisson.cdf(k, mu)`` for finite or NaN ``k``."""
    k, mu = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, mu)))
    return _discrete(_special().pdtr, k, (mu,), mu >= 0, below=0.0)


def poisson_sf(k: ArrayLike, mu: ArrayLike) -> np.ndarray:
    """``scipy.stats.poisson.sf(k, mu)`` for finite or NaN ``k``."""
    k, mu = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, mu)))
    return _discrete(_special().pdtrc, k, (mu,), mu >= 0, below=1.0)


def norm_isf(q: ArrayLike) -> np.ndarray:
    """``scipy.stats.norm.isf(q)``."""
    q = np.asarray(q, dtype=float)
    out = np.full(q.shape, np.nan)
    out[q == 1] = -np.inf
    out[q == 0] = np.inf
    inside = (q > 0) & (q < 1)
    out[inside] = -_special().ndtri(q[inside]) * 1.0 + 0.0  # as norm.isf: × scale + loc
    return out


def _discrete(tail: np.ufunc, k: np.ndarray, shapes: tuple[np.ndarray, ...], valid: np.ndarray, *, below: float) -> np.ndarray:
    """``rv_discrete.cdf``/``sf`` on the support 0, 1, 2, …: ``below`` under it, NaN for invalid
    shapes or a NaN ``k``, else ``tail(floor(k), *shapes)`` clipped to [0, 1]."""
    out = np.zeros(k.shape)
    out[valid & (k < 0)] = below
    out[valid & np.isposinf(k)] = 1.0 - below
    out[~valid | np.isnan(k)] = np.nan
    good = valid & (k >= 0) & np.isfinite(k)
    if good.any():
        out[good] = np.clip(tail(np.floor(k[good]), *(a[good] for a in shapes)), 0, 1)
    return out


DISPERSION_DAYS = 28  # the window a count series' own lumpiness is measured over
DISPERSION_MIN_HOURS = 72  # fewer comparable hours than this: no opinion (NaN)
DISPERSION_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0)
DISPERSION_TAIL = 0.005  # each tail: a calibrated model leaves 1% of hours outside its central 99%
DISPERSION_ALLOWED = 0.02  # the share of hours allowed outside (incidents and the odd spike)


def pooled_dispersion(values: np.ndarray, offsets: np.ndarray, exclude: np.ndarray | None = None,
                      window: int = 1, *, daily: Baseline | None = None, weekly: Baseline | None = None) -> np.ndarray:
    """A count series' own extra variation beyond Poisson (a coefficient of variation, T × S, causal),
    learnt from every hour of its last :data:`DISPERSION_DAYS` days up to yesterday.

    Seven samples of one hour cannot show how lumpy a series is: a wholesaler whose hours read
    13, 0, 4, 0, 5, 0, 26 has calm and busy hours alike, and its last seven Tuesdays at 16:00 may all
    have been calm. Each hour is compared with the closer of its same-hour mean of the last week and
    its same-hour-of-week median of the last four weeks (a weekly routine is no lumpiness). The
    dispersion is the smallest negative-binomial variation under which at most
    :data:`DISPERSION_ALLOWED` of those hours fall outside the central 99%: a calibration by
    quantiles, so the few hours of a past incident do not make a calm series look lumpy, while a
    series that is lumpy everywhere is recognised as such. Calendar events are left out.

    For ``window``-hour sums only every ``window``-th one is counted: overlapping sums are not
    independent, and one incident hour would reach ``window`` of them (a 24-hour view has too few
    independent points in four weeks to tell, and gets no opinion).

    ``daily`` and ``weekly`` may be passed in when already computed (the same summaries of the same
    histories: the 7-day same-hour mean and the 4-week same-hour-of-week median, ``exclude`` left out)."""
    hours, width = values.shape
    if daily is None:
        daily = summarize(seasonal_history(values, offsets, period_hours=24, count=7, exclude=exclude), "mean")
    if weekly is None:
        weekly = summarize(seasonal_history(values, offsets, period_hours=168, count=4, exclude=exclude), "median")
    with np.errstate(invalid="ignore"):
        use_weekly = (weekly.samples >= 2) & (np.abs(values - weekly.expected) < np.abs(values - daily.expected))
        expected = np.where(use_weekly, weekly.expected, daily.expected)
        usable = ~np.isnan(values) & ~np.isnan(expected) & (expected > 0) & (daily.samples >= 3)
    if exclude is not None:
        usable &= ~exclude
    if window > 1:
        usable &= (np.arange(hours) % window == 0)[:, None]
    t = np.arange(hours)
    hi = np.clip(t - 24 + 1, 0, None)  # sums over [t − window, t − 24): up to yesterday
    lo = np.minimum(np.clip(t - 24 * DISPERSION_DAYS + 1, 0, None), hi)

    def trailing(series: np.ndarray) -> np.ndarray:
        csum = np.vstack([np.zeros((1, width)), np.cumsum(series, axis=0)])
        return csum[hi] - csum[lo]

    n = trailing(usable.astype(float))
    chosen = np.full(values.shape, np.nan)
    undecided = n >= DISPERSION_MIN_HOURS
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", category=RuntimeWarning)
        for cv in DISPERSION_GRID:
            if not undecided.any():
                break
            # Only the hours some undecided hour's trailing window reaches are scored: whether the
            # others fall outside never changes a choice still to be made.
            need = usable & _reached(undecided, lo, hi)
            lam, x = expected[need], values[need]
            if cv == 0:
                low, high = poisson_cdf(x, lam), poisson_sf(x - 1, lam)
            else:
                r = 1.0 / cv**2
                low, high = nbinom_cdf(x, r, r / (r + lam)), nbinom_sf(x - 1, r, r / (r + lam))
            outside = np.zeros(values.shape, dtype=bool)
            outside[need] = (low < DISPERSION_TAIL) | (high < DISPERSION_TAIL)
            share = trailing(outside.astype(float)) / np.maximum(n, 1.0)
            fits = undecided & (share <= DISPERSION_ALLOWED)
            chosen[fits] = cv
            undecided &= ~fits
    chosen[undecided] = DISPERSION_GRID[-1]
    return chosen


def _reached(undecided: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Rows ``[lo[t], hi[t])`` of every undecided ``t``, per column (``lo`` and ``hi`` never
    decrease with ``t``: from the first undecided row's ``lo`` to the last one's ``hi``); a superset
    where a column's undecided rows are far apart, which only scores a few more hours."""
    hours = undecided.shape[0]
    some = np.asarray(undecided.any(axis=0))
    first = np.argmax(undecided, axis=0)
    last = hours - 1 - np.argmax(undecided[::-1], axis=0)
    rows = np.arange(hours)[:, None]
    return some[None, :] & (rows >= lo[first][None, :]) & (rows < hi[last][None, :])
