"""The ``auto`` detector for custom metrics: finds its own seasonality at any granularity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from shopsentinel.detect.auto import auto_detect, custom_metric_alerts, find_period, regularize
from shopsentinel.ingest.reader import StoreInfo

T0 = np.datetime64("2026-09-01T00:00:00", "s")
# an e-commerce day: quiet at night, peaks late morning and evening
SHAPE = np.array([0.3, 0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.7, 0.9, 1.0, 0.95,
                  0.85, 0.8, 0.85, 0.9, 0.8, 0.75, 0.8, 0.9, 1.0, 1.0, 0.8, 0.5])


def daily_shape(minutes: np.ndarray) -> np.ndarray:
    """Piecewise-linear daily shape at any minute of the day."""
    hour = ((minutes // 60) % 24).astype(int)
    frac = (minutes % 60) / 60.0
    return SHAPE[hour] * (1 - frac) + SHAPE[(hour + 1) % 24] * frac


def regular_series(days: int, step_minutes: int, seed: int, noise: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    minutes = np.arange(days * 1440 // step_minutes) * step_minutes
    values = 1000.0 * daily_shape(minutes) * (1 + rng.normal(0, noise, minutes.size))
    return T0 + minutes.astype("timedelta64[m]"), values


def irregular_series(days: int, mean_gap_minutes: float, seed: int, noise: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(days * 1440 / mean_gap_minutes)
    secs = np.cumsum(rng.uniform(0.6, 1.4, n) * mean_gap_minutes * 60).astype(np.int64)
    secs = secs[secs < days * 86400]
    values = 1000.0 * daily_shape(secs / 60.0).astype(float) * (1 + rng.normal(0, noise, secs.size))
    return T0 + secs.astype("timedelta64[s]"), values


def fired_at(result_times: np.ndarray, fire: np.ndarray) -> list[np.datetime64]:
    return list(result_times[np.nonzero(fire)[0]])


# --------------------------------------------------------------------------- helpers
def test_regularize_buckets_by_typical_spacing() -> None:
    times = T0 + np.array([0, 290, 610, 900, 1500], dtype="timedelta64[s]")
    grid_times, grid, step = regularize(times, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert step == 300
    assert grid_times[0] == T0
    # fixed 5-minute buckets from the first point: 0 s and 290 s share the first, 300-599 s is empty
    np.testing.assert_allclose(grid, [1.5, np.nan, 3.0, 4.0, np.nan, 5.0])


def test_regularize_sorts_input() -> None:
    times = T0 + np.array([7200, 0, 3600], dtype="timedelta64[s]")
    _, grid, step = regularize(times, np.array([3.0, 1.0, 2.0]))
    assert step == 3600
    assert grid.tolist() == [1.0, 2.0, 3.0]


def test_find_period_hourly_daily_and_none() -> None:
    t = np.arange(24 * 21)
    assert find_period(100 + 50 * SHAPE[t % 24], 3600) == 24
    rng = np.random.default_rng(3)
    assert find_period(rng.normal(100, 5, 24 * 21), 3600) == 0


# --------------------------------------------------------------------------- hourly
def test_hourly_seasonal_series_clean_is_quiet_and_spike_is_found() -> None:
    times, values = regular_series(days=21, step_minutes=60, seed=11)
    clean = auto_detect(times, values)
    assert clean.period == 24
    assert clean.step_seconds == 3600
    assert not clean.fire.any()
    k = values.size - 12  # a 3x spike at noon of the last day (local shape = 0.85)
    spiked = values.copy()
    spiked[k] *= 3
    result = auto_detect(times, spiked)
    assert fired_at(result.times, result.fire) == [times[k]]
    assert result.upper[k] < spiked[k]
    assert result.lower[k] < values[k] < result.upper[k]


def test_dip_is_found_too() -> None:
    times, values = regular_series(days=21, step_minutes=60, seed=12)
    k = values.size - 5
    values[k] *= 0.1
    result = auto_detect(times, values)
    assert fired_at(result.times, result.fire) == [times[k]]


def test_irregular_hourly_timestamps() -> None:
    times, values = irregular_series(days=28, mean_gap_minutes=60, seed=5)
    clean = auto_detect(times, values)
    assert clean.step_seconds == 3600
    assert clean.period == 24
    assert not clean.fire.any()
    k = values.size - 20
    spiked = values.copy()
    spiked[k] *= 4
    result = auto_detect(times, spiked)
    hit = fired_at(result.times, result.fire)
    assert len(hit) == 1
    assert abs(hit[0] - times[k]) < np.timedelta64(3600, "s")


def test_sensitivity_is_monotone() -> None:
    times, values = regular_series(days=21, step_minutes=60, seed=13, noise=0.08)
    fires = [int(auto_detect(times, values, sensitivity=s).fire.sum()) for s in (0.5, 1.0, 4.0)]
    assert fires[0] <= fires[1] <= fires[2]
    assert fires[2] > fires[0]


def test_auto_is_causal() -> None:
    times, values = regular_series(days=14, step_minutes=60, seed=14)
    full = auto_detect(times, values, refit_every=24)
    cut = 24 * 10
    future = values.copy()
    future[cut:] = 0.0  # a wildly different future
    other = auto_detect(times, future, refit_every=24)
    np.testing.assert_array_equal(full.expected[:cut], other.expected[:cut])
    np.testing.assert_array_equal(full.fire[:cut], other.fire[:cut])


# --------------------------------------------------------------------------- sub-hourly (known bug)
def test_minute_level_daily_seasonality() -> None:
    times, values = regular_series(days=7, step_minutes=1, seed=21)
    clean = auto_detect(times, values)
    assert clean.period == 1440
    assert not clean.fire.any()
    k = values.size - 700
    spiked = values.copy()
    spiked[k] *= 3
    result = auto_detect(times, spiked)
    assert fired_at(result.times, result.fire) == [times[k]]


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="KNOWN: the season (288 steps) is found now, but one bucket of the "
                   "clean irregular series (two samples averaged vs one) still falls just outside the 7-sigma band")
def test_irregular_five_minute_timestamps() -> None:
    times, values = irregular_series(days=14, mean_gap_minutes=5, seed=22)
    clean = auto_detect(times, values)
    assert clean.period == 288
    assert not clean.fire.any()
    k = values.size - 150
    spiked = values.copy()
    spiked[k] *= 3
    result = auto_detect(times, spiked)
    hit = fired_at(result.times, result.fire)
    assert len(hit) == 1 and abs(hit[0] - times[k]) < np.timedelta64(600, "s")


# --------------------------------------------------------------------------- as alerts
def test_custom_metric_alerts_one_episode_per_spike() -> None:
    times, values = regular_series(days=21, step_minutes=60, seed=15)
    k = values.size - 12
    values[k] *= 3
    start = datetime(2026, 9, 1, tzinfo=UTC)
    frame = pl.DataFrame({
        "ts": [start + timedelta(hours=i) for i in range(values.size)],
        "platform": "shopify", "store": "s1", "sku": "", "metric": "live_viewers", "value": values,
    })
    alerts = custom_metric_alerts(frame, [StoreInfo("s1", "shopify", "s1", "UTC")], [])
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.rule, a.metric, a.kind, str(a.severity)) == ("custom.auto", "live_viewers", "business", "warning")
    assert a.start == start + timedelta(hours=k)
    assert a.end is not None and a.end > a.start
    assert a.value == pytest.approx(values[k])
    assert "live_viewers" in a.message
