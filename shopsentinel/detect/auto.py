"""The ``auto`` detector for custom metrics: any granularity, seasonality found by itself.

A custom metric arrives at its own cadence (every minute to once a day, regular or not). We
put it on a regular grid at its median spacing, find its seasonal period among the natural
ones (hour, day, week) by autocorrelation on the data seen so far, and flag points outside a
robust band: the median and MAD of the same phase in recent periods (or of the recent points
when there is no season). Period and band use only the past. Sensitivity 1.0 is the default:
higher finds more, lower finds less.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from shopsentinel.alerting.events import AlertEvent
from shopsentinel.alerting.lifecycle import episodes
from shopsentinel.core.types import Severity
from shopsentinel.ingest.reader import CalendarEvent, StoreInfo

MAD_TO_SIGMA = 1.4826
BASE_SIGMAS = 7.0
PERIODS_BACK = 8


@dataclass
class AutoResult:
    times: np.ndarray  # datetime64[s]
    values: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    fire: np.ndarray
    clear: np.ndarray
    known: np.ndarray
    period: int
    step_seconds: int


def _nice_step(seconds: float) -> int:
    for step in (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if seconds <= step * 1.25:
            return step
    return 86400


def regularize(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean of the points in each bucket of the series' own typical spacing; empty = NaN."""
    order = np.argsort(times)
    secs = times[order].astype("datetime64[s]").astype(np.int64)
    vals = values[order].astype(float)
    diffs = np.diff(secs)
    step = _nice_step(float(np.median(diffs[diffs > 0])) if (diffs > 0).any() else 3600.0)
    start = secs[0] - secs[0] % step
    idx = (secs - start) // step
    n = int(idx[-1]) + 1
    total = np.bincount(idx, weights=vals, minlength=n)
    count = np.bincount(idx, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(count > 0, total / count, np.nan)
    grid_times = (start + np.arange(n) * step).astype("datetime64[s]")
    return grid_times, grid, step


def _lag_correlation(y: np.ndarray, lag: int) -> float:
    a, b = y[lag:], y[:-lag]
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def find_period(values: np.ndarray, step: int) -> int:
    """The strongest natural seasonal period (in steps), or 0 when there is none.

    A real season of length p correlates strongly at lag p and poorly at p/2 (half a cycle
    apart), while a smooth series correlates well at every short lag; so candidates are ranked
    by corr(p) − corr(p/2), not by corr(p) alone.
    """
    candidates = [p for p in (3600 // step, 86400 // step, 604800 // step) if p >= 4]
    if np.isnan(values).mean() < 0.5:
        x = np.where(np.isnan(values), np.nanmedian(values), values)
    else:
        x = values[~np.isnan(values)]
    best, best_score = 0, 0.3
    for p in candidates:
        if len(x) < 3 * p:
            continue
        y = x - np.median(x)
        at_period = _lag_correlation(y, p)
        score = at_period - _lag_correlation(y, p // 2)
        # A weekly lag also fits a purely daily season; a longer period must be clearly better.
        if at_period > 0.3 and score > best_score + (0.1 if best else 0.0):
            best, best_score = p, score
    return best


def auto_detect(times: np.ndarray, values: np.ndarray, *, sensitivity: float = 1.0, refit_every: int | None = None) -> AutoResult:
    """Judge every point of one series against a band built from its own past only."""
    grid_times, x, step = regularize(times, values)
    n = len(x)
    k = BASE_SIGMAS / sensitivity
    expected = np.full(n, np.nan)
    spread = np.full(n, np.nan)
    floor = np.full(n, np.nan)
    # Learn for three days (or half the series) before judging: a daily season must be seen
    # three times before it can be trusted.
    warm = max(12, min(3 * max(1, 86400 // step), n // 2))
    refit_every = refit_every or max(12, n // 8)
    period = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        for begin in range(warm, n, refit_every):
            stop = min(begin + refit_every, n)
            past = x[:begin]
            period = find_period(past, step)
            # Pool neighbouring phases on fine grids (±7 minutes of a daily season in minute data).
            half = period // 200
            offsets = np.arange(-half, half + 1)
            # Typical point-to-point noise of the past: a floor for a band that is too tight.
            floor[begin:stop] = np.nanmedian(np.abs(np.diff(past))) if begin > 2 else 0.0
            for t in range(begin, stop):
                if period:
                    # Same phase (± a few steps) in the last periods, shifted by the recent level.
                    idx = (t - period * np.arange(1, PERIODS_BACK + 1)[:, None] + offsets[None, :]).ravel()
                    idx = idx[(idx >= 0) & (idx < t)]
                    samples = x[idx]
                    samples = samples[~np.isnan(samples)]
                    if samples.size >= 3 * offsets.size:
                        recent = np.arange(max(0, t - 6), t)
                        shift = np.nanmedian(x[recent] - x[np.clip(recent - period, 0, None)]) if recent.size else 0.0
                        centre = float(np.median(samples))
                        expected[t] = centre + (0.0 if np.isnan(shift) else shift)
                        spread[t] = MAD_TO_SIGMA * float(np.median(np.abs(samples - centre)))
                        continue
                recent_values = x[max(0, t - 4 * warm) : t]
                recent_values = recent_values[~np.isnan(recent_values)]
                if recent_values.size >= 5:
                    expected[t] = float(np.median(recent_values))
                    spread[t] = MAD_TO_SIGMA * float(np.median(np.abs(recent_values - expected[t])))
    scale = np.maximum(np.nan_to_num(spread, nan=0.0), np.maximum(np.nan_to_num(floor, nan=0.0), 0.01 * np.abs(np.nan_to_num(expected))))
    scale = np.where(scale > 0, scale, 1e-9)
    lower, upper = expected - k * scale, expected + k * scale
    known = ~np.isnan(x) & ~np.isnan(expected)
    with np.errstate(invalid="ignore"):
        fire = known & ((x < lower) | (x > upper))
        clear = known & (np.abs(x - expected) <= 0.5 * k * scale)
    return AutoResult(grid_times, x, expected, lower, upper, fire, clear, known, period, step)


def custom_metric_alerts(frame: pl.DataFrame, stores: list[StoreInfo], calendar: list[CalendarEvent], *, sensitivity: float = 1.0) -> list[AlertEvent]:
    """Run ``auto`` over every custom-metric series of a shard."""
    out: list[AlertEvent] = []
    for (platform, store, sku, metric), sub in frame.group_by(["platform", "store", "sku", "metric"]):
        if sub.height < 24:
            continue
        times = sub.get_column("ts").dt.replace_time_zone(None).to_numpy().astype("datetime64[s]")
        result = auto_detect(times, sub.get_column("value").to_numpy(), sensitivity=sensitivity)
        eps = episodes(result.fire[:, None], result.clear[:, None], result.known[:, None], for_steps=1, keep_steps=3)
        for ep in eps:
            at = ep.start
            start = datetime.fromtimestamp(int(result.times[at].astype(np.int64)), UTC)
            end = datetime.fromtimestamp(int(result.times[ep.end].astype(np.int64)), UTC) if ep.end is not None else None
            value, expected = float(result.values[at]), float(result.expected[at])
            direction_zh = "偏高" if value > expected else "偏低"
            out.append(
                AlertEvent(
                    rule="custom.auto",
                    severity=Severity.WARNING,
                    kind="business",
                    category="custom",
                    platform=str(platform),
                    store=str(store),
                    sku=str(sku),
                    metric=str(metric),
                    start=start,
                    end=end,
                    value=value,
                    expected=expected,
                    lower=float(result.lower[at]),
                    upper=float(result.upper[at]),
                    message=f"【警告】{platform} {store}：自定义指标 {metric} {direction_zh}（当前 {value:.4g}，预期 {expected:.4g}，自动识别周期 {result.period} 个点）",
                    message_en=f"[warning] {platform} {store}: custom metric {metric} is {'high' if value > expected else 'low'} ({value:.4g}, expected {expected:.4g}; detected season {result.period} points)",
                )
            )
    return out
