"""Causal baselines over a ``T × S`` matrix: what each point should have been, from its past.

All baselines look back in *local* time: "the same hour yesterday" of a store in Los Angeles is
23 or 25 UTC hours back across a DST change. Points inside promotions (plus a tail), and points
that were themselves anomalous, are excluded from the history so an incident never teaches the
baseline that it is normal.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826


@dataclass
class Baseline:
    expected: np.ndarray  # T × S
    spread: np.ndarray  # T × S, robust standard deviation of the history samples
    samples: np.ndarray  # T × S, how many history points were used


def lag_indices(offsets: np.ndarray, lag_hours: int) -> np.ndarray:
    """Row index of the point ``lag_hours`` earlier in local wall-clock time (T × S; −1 = none).

    ``offsets`` is the T × S matrix of UTC offsets (hours) of each column's store.
    """
    hours = offsets.shape[0]
    t = np.arange(hours)[:, None]
    prev = np.clip(t - lag_hours, 0, None)
    prev_offsets = np.take_along_axis(offsets, np.broadcast_to(prev, offsets.shape), axis=0)
    idx = t - lag_hours + np.rint(offsets - prev_offsets).astype(int)
    idx = np.where((idx >= 0) & (idx < t), idx, -1)
    return np.broadcast_to(idx, offsets.shape)


def gather(values: np.ndarray, idx: np.ndarray, exclude: np.ndarray | None = None, lag_hours: int | None = None) -> np.ndarray:
    """``values`` at the row indices ``idx`` (NaN where there is none, or it is excluded).

    With ``lag_hours`` given, the plain shift is taken by slicing and only the rows where a DST
    change moves the index (a few per year) are fancy-indexed: much faster on big panels.
    """
    rows = values.shape[0]
    if lag_hours is not None and 0 < lag_hours:
        out = np.full(values.shape, np.nan)
        bad = np.ones(values.shape, dtype=bool)
        if lag_hours < rows:
            out[lag_hours:] = values[:-lag_hours]
            bad[lag_hours:] = exclude[:-lag_hours] if exclude is not None else False
        expected_idx = np.arange(rows)[:, None] - lag_hours
        odd_rows = np.nonzero((idx != expected_idx).any(axis=1))[0]
        if odd_rows.size:
            sub_idx = idx[odd_rows]
            cols = np.broadcast_to(np.arange(values.shape[1])[None, :], sub_idx.shape)
            safe = np.clip(sub_idx, 0, None)
            out[odd_rows] = values[safe, cols]
            odd_bad = sub_idx < 0
            if exclude is not None:
                odd_bad = odd_bad | exclude[safe, cols]
            bad[odd_rows] = odd_bad
        return np.where(bad, np.nan, out)
    cols = np.broadcast_to(np.arange(values.shape[1])[None, :], idx.shape)
    safe = np.clip(idx, 0, None)
    out = values[safe, cols]
    bad = idx < 0
    if exclude is not None:
        bad = bad | exclude[safe, cols]
    return np.where(bad, np.nan, out)


def seasonal_history(
    values: np.ndarray,
    offsets: np.ndarray,
    *,
    period_hours: int,
    count: int,
    exclude: np.ndarray | None = None,
    search: int | None = None,
) -> np.ndarray:
    """The ``count`` most recent usable values at the same local phase (count × T × S).

    Up to ``search`` periods back are searched so excluded points (events, anomalies) are
    replaced by older ones instead of shrinking the sample.
    """
    # Daily histories look up to three weeks further back so a 10-day promotion plus its tail
    # does not leave the baseline empty right after it.
    search = max(search or (count + 21 if period_hours <= 24 else count * 2), count)
    rows, width = values.shape

    clocks, column_clock = _distinct_clocks(offsets)
    zone_key = (rows, len(clocks), b"".join(clock.tobytes() for clock in clocks))

    def clock_indices(k: int) -> np.ndarray:
        """T × clocks: the lag-k row of each distinct clock (columns share their clock's)."""
        lag = k * period_hours
        if not clocks:
            return np.zeros((rows, 0), dtype=int)
        return _clock_lags(clocks, zone_key, lag)

    stack = np.empty((count, rows, width))
    for k in range(1, count + 1):
        _gather_lagged(values, clock_indices(k), column_clock, exclude, k * period_hours, out=stack[k - 1])
    # Older periods fill the slots of excluded ones, most recent first. Only the points that still
    # miss a slot are looked at again: after an event that is a few rows, not the whole panel.
    missing = np.isnan(stack)
    t_idx, s_idx = np.nonzero(missing.any(axis=0))
    # A row more than the widest UTC offset change younger than a lag has no row that far back,
    # for this lag and every longer one: those points can never be filled, and are let go.
    reach = int(np.ceil(np.nanmax(offsets) - np.nanmin(offsets))) + 1 if offsets.size else 0
    for k in range(count + 1, search + 1):
        if t_idx.size == 0:
            break
        alive = t_idx + reach >= k * period_hours
        if not alive.all():
            t_idx, s_idx = t_idx[alive], s_idx[alive]
            if t_idx.size == 0:
                break
        src = clock_indices(k)[t_idx, column_clock[s_idx]]
        safe = np.clip(src, 0, None)
        bad = src < 0
        if exclude is not None:
            bad |= exclude[safe, s_idx]
        older = np.where(bad, np.nan, values[safe, s_idx])
        usable = ~np.isnan(older)
        if not usable.any():
            continue
        t_use, s_use = t_idx[usable], s_idx[usable]
        slot = np.argmax(missing[:, t_use, s_use], axis=0)
        stack[slot, t_use, s_use] = older[usable]
        missing[slot, t_use, s_use] = False
        still = missing[:, t_idx, s_idx].any(axis=0)
        t_idx, s_idx = t_idx[still], s_idx[still]
    return stack


def _gather_lagged(values: np.ndarray, clock_idx: np.ndarray, column_clock: np.ndarray, exclude: np.ndarray | None,
                   lag_hours: int, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`gather` with ``lag_hours`` for ``idx = clock_idx[:, column_clock]``, without building
    that T × S index: the rows where some clock's lag is not the plain shift are found on the
    few clocks, and only those rows are fancy-indexed. Written into ``out`` when given."""
    rows, width = values.shape
    if out is None:
        out = np.empty(values.shape)
    if 0 < lag_hours < rows:
        out[:lag_hours] = np.nan
        shifted = values[:-lag_hours]
        if exclude is not None:
            np.copyto(out[lag_hours:], shifted)
            out[lag_hours:][exclude[:-lag_hours]] = np.nan
        else:
            out[lag_hours:] = shifted
    else:
        out[:] = np.nan
    expected_idx = np.arange(rows)[:, None] - lag_hours
    odd_rows = np.nonzero((clock_idx != expected_idx).any(axis=1))[0] if clock_idx.shape[1] else np.zeros(0, dtype=int)
    if odd_rows.size:
        sub_idx = clock_idx[odd_rows][:, column_clock]
        cols = np.broadcast_to(np.arange(width)[None, :], sub_idx.shape)
        safe = np.clip(sub_idx, 0, None)
        odd_bad = sub_idx < 0
        if exclude is not None:
            odd_bad = odd_bad | exclude[safe, cols]
        out[odd_rows] = np.where(odd_bad, np.nan, values[safe, cols])
    return out


_LAG_CACHE: dict[tuple[bytes, int], np.ndarray] = {}
_ZONE_LAG_CACHE: dict[tuple[tuple[int, int, bytes], int], np.ndarray] = {}


def _clock_lags(clocks: list[np.ndarray], zone_key: tuple[int, int, bytes], lag: int) -> np.ndarray:
    """T × clocks: :func:`_clock_lag` of each clock side by side, remembered per set of clocks
    (``zone_key`` identifies them): every history of a panel asks for the same lags. Read-only."""
    key = (zone_key, lag)
    found = _ZONE_LAG_CACHE.get(key)
    if found is None:
        if len(_ZONE_LAG_CACHE) > 1024:
            _ZONE_LAG_CACHE.clear()
        found = np.stack([_clock_lag(clock, lag) for clock in clocks], axis=1)
        found.flags.writeable = False
        _ZONE_LAG_CACHE[key] = found
    return found


def _clock_lag(clock: np.ndarray, lag: int) -> np.ndarray:
    """:func:`lag_indices` of one clock (a store zone's offsets), remembered: every rule of a panel
    asks for the same few lags of the same few zones."""
    key = (clock.tobytes(), lag)
    found = _LAG_CACHE.get(key)
    if found is None:
        if len(_LAG_CACHE) > 4096:
            _LAG_CACHE.clear()
        found = _LAG_CACHE[key] = lag_indices(clock[:, None], lag)[:, 0]
    return found


def _distinct_clocks(offsets: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct per-hour UTC offset series among the columns, and each column's clock.

    Columns of one store (or of stores in one zone) share a clock, so lag indices are computed
    once per zone instead of once per series."""
    if offsets.shape[1] == 0:
        return [], np.zeros(0, dtype=int)
    weights = np.sin(np.arange(offsets.shape[0]) * 0.7311 + 0.1)
    fingerprint = np.round(weights @ offsets, 6)
    _, first, column_clock = np.unique(fingerprint, return_index=True, return_inverse=True)
    return [offsets[:, j] for j in first], np.asarray(column_clock).ravel()


def nanmedian0(stack: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN; much faster than ``np.nanmedian`` for small K."""
    ordered = np.sort(stack, axis=0)  # NaN sorts last
    count = np.sum(~np.isnan(stack), axis=0)
    lo = np.clip((count - 1) // 2, 0, None)
    hi = np.clip(count // 2, 0, None)
    a = np.take_along_axis(ordered, lo[None], axis=0)[0]
    b = np.take_along_axis(ordered, hi[None], axis=0)[0]
    return np.where(count > 0, (a + b) / 2.0, np.nan)


def summarize(history: np.ndarray, how: str = "median") -> Baseline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        samples = np.sum(~np.isnan(history), axis=0)
        if how == "mean":
            expected = np.nanmean(history, axis=0)
            spread = np.nanstd(history, axis=0, ddof=1)
        else:
            expected = nanmedian0(history)
            spread = MAD_TO_SIGMA * nanmedian0(np.abs(history - expected[None]))
    return Baseline(expected=expected, spread=spread, samples=samples)


def _trailing(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing sums and counts of present values over ``window`` rows ending at each row."""
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    csum = np.cumsum(np.vstack([np.zeros((1, values.shape[1])), filled]), axis=0)
    ccount = np.cumsum(np.vstack([np.zeros((1, values.shape[1])), present]), axis=0)
    t = np.arange(values.shape[0])
    lo = np.clip(t + 1 - window, 0, None)
    return csum[t + 1] - csum[lo], ccount[t + 1] - ccount[lo]


def rolling_sum(values: np.ndarray, window: int, min_fraction: float = 0.75) -> np.ndarray:
    """Trailing sum over ``window`` hours ending at each row; NaN if too much of it is missing."""
    if window <= 1:
        return values
    sums, counts = _trailing(values, window)
    enough = (counts >= np.ceil(min_fraction * window)) & (np.arange(values.shape[0]) + 1 >= window)[:, None]
    # Scale up for the few missing hours so a gap never reads as a drop.
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = sums * (window / np.where(counts > 0, counts, np.nan))
    return np.where(enough, scaled, np.nan)


def rolling_mean_daily(values: np.ndarray, days: int) -> np.ndarray:
    """Average daily total over the trailing ``days`` days (used as a demand forecast)."""
    sums, counts = _trailing(values, 24 * days)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_hour = sums / counts
    return np.where(counts >= 24, per_hour * 24.0, np.nan)


def usual_low(values: np.ndarray, *, days: int = 42, quantile: float = 0.0, ignore_below: float = 0.5) -> np.ndarray:
    """The series' usual low point: the lowest (or a low percentile) of its daily minima over the previous
    ``days`` days (T × S, causal). Days that bottom out below ``ignore_below`` (a stock-out,
    an outage) are left out so one incident does not lower the bar for weeks."""
    hours, width = values.shape
    padded = np.vstack([np.full((23, width), np.nan), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 24, axis=0)  # T × S × 24
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        daily_min = np.nanmin(windows, axis=2)
    daily_min = np.where(daily_min < ignore_below, np.nan, daily_min)
    lags = np.full((days, hours, width), np.nan)
    for k in range(1, days + 1):
        lags[k - 1, k * 24 :] = daily_min[: hours - k * 24] if hours > k * 24 else lags[k - 1, k * 24 :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        low = np.nanmin(lags, axis=0) if quantile == 0 else np.nanpercentile(lags, quantile, axis=0)
        enough = np.sum(~np.isnan(lags), axis=0) >= 5
    return np.where(enough, low, np.nan)


CLOSURE_WEEKS = 6  # weeks of the same local hour a regular closure is learnt from
CLOSURE_SHARE = 0.5  # closed in at least this share of them (and at least twice once two exist)


def expected_closed(activity: np.ndarray, offsets: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Where the series is *expected* to be closed (T × S, causal): the same local hour of the week
    was closed (zero activity) in at least half of the past :data:`CLOSURE_WEEKS` weeks, and at
    least twice once two weeks are known. A closure that recurs (a weekday off, nights, a lunch
    break) is the expectation; one on an open day is news. Weeks inside calendar events (a
    Christmas closure) and the view's outliers (an outage) never teach a closure."""
    closed = np.where(np.isnan(activity), np.nan, (activity <= 0).astype(float))
    stack = seasonal_history(closed, offsets, period_hours=168, count=CLOSURE_WEEKS, exclude=exclude)
    with np.errstate(invalid="ignore"):
        samples = np.sum(~np.isnan(stack), axis=0)
        hits = np.nansum(stack, axis=0)
    return (samples > 0) & (hits >= np.minimum(samples, 2)) & (hits >= CLOSURE_SHARE * samples)


def comparable(stack: np.ndarray, flags: np.ndarray, target_closed: np.ndarray) -> np.ndarray:
    """Keep only history samples of comparable hours: where the target hour is expected open, the
    samples that were themselves expected-closed hours (the weekly closed day, a night) are left out,
    so an open Monday is compared with open days. Where that leaves nothing, all samples stay."""
    drop = (flags > 0.5) & ~target_closed[None]
    kept = np.where(drop, np.nan, stack)
    has_any = np.any(~np.isnan(kept), axis=0)
    return np.where(has_any[None], kept, stack)


def few_sample_cv(cv: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Honestly wider bands while history is short (fewer than :data:`FULL_SAMPLES` days behind the
    same hour): the day-to-day variation measured on n samples is floored by a prior (25% ÷ √n) and
    widened by the expectation's own standard error (× √(1 + 1/n)). From a full week on, unchanged."""
    n = np.maximum(np.nan_to_num(samples, nan=0.0), 1.0)
    widened = np.maximum(cv, FEW_SAMPLE_PRIOR_CV / np.sqrt(n)) * np.sqrt(1.0 + 1.0 / n)
    return np.where(n < FULL_SAMPLES, widened, cv)


FEW_SAMPLE_PRIOR_CV = 0.25
FULL_SAMPLES = 7
