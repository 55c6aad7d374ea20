"""Count-aware surprise: how unlikely an observation is, in sigma units, given its baseline.

Counts (orders, visitors, refunds) are noisy in proportion to their size: 0 orders in an hour
that usually has 2 is nothing, 0 in an hour that usually has 200 is an outage. We use a
negative binomial (Poisson plus the series' own extra day-to-day variation) for counts, and a
robust z-score for amounts and gauges. Ratios are tested through their numerator given the
denominator (binomial-style), so a conversion drop on 30 visitors does not page anyone.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

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
        lower_tail = stats.nbinom.cdf(np.floor(x), r, p)
        upper_tail = stats.nbinom.sf(np.ceil(x) - 1, r, p)
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
    return np.clip(stats.norm.isf(tail), 0.0, MAX_SIGMA)
