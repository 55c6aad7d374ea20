"""The ``auto`` detector for custom metrics: finds its own seasonality at any granularity."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.auto import auto_detect, find_period, regularize
from shopsentinel.detect.custom import custom_metric_alerts

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


# --------------------------------------------------------------------------- sub-hourly
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


# --------------------------------------------------------------------------- real-world series
REALWORLD = Path(__file__).resolve().parents[2] / "bench" / "data" / "realworld"


def seattle_hourly_temperatures() -> tuple[np.ndarray, np.ndarray]:
    """Hourly Seattle temperatures of 2010 (°F; vega_datasets, NOAA), bundled for the benchmark."""
    times, values = [], []
    with (REALWORLD / "seattle-temps.csv").open() as f:
        for row in csv.DictReader(f):
            times.append(np.datetime64(datetime.strptime(row["date"], "%Y/%m/%d %H:%M"), "s"))
            values.append(float(row["temp"]))
    return np.array(times), np.array(values)


def test_real_hourly_temperatures_spike_is_the_only_alert() -> None:
    times, values = seattle_hourly_temperatures()
    times, values = times[4320:5760], values[4320:5760].copy()  # July and August 2010
    clean = auto_detect(times, values)
    assert clean.period == 24
    assert not clean.fire.any()
    k = 1200  # an afternoon, 10 days before the end: a reading 25 °F too warm
    values[k] += 25.0
    result = auto_detect(times, values)
    assert fired_at(result.times, result.fire) == [times[k]]


def test_real_hourly_temperatures_stuck_sensor_is_found() -> None:
    times, values = seattle_hourly_temperatures()
    times, values = times[4320:5760], values[4320:5760].copy()
    k = 1200
    values[k : k + 24] = values[k - 1]  # the sensor repeats its last reading for a day
    result = auto_detect(times, values)
    hit = np.nonzero(result.fire)[0]
    assert hit.size and k <= hit.min() <= k + 12
    assert hit.max() < k + 24


# --------------------------------------------------------------------------- weaknesses fixed
def test_level_shift_alerts_once_then_readapts() -> None:
    """A permanent level shift of a seasonal series used to fire again a day later, for a day and
    a half (the seasonal profile was shifted by the level one period ago, not by the recent level)."""
    times, values = regular_series(days=28, step_minutes=60, seed=31)
    k = 24 * 21 + 10
    values[k:] += 1500.0
    start = datetime(2026, 9, 1, tzinfo=UTC)
    frame = pl.DataFrame({
        "ts": [start + timedelta(hours=i) for i in range(values.size)],
        "platform": "shopify", "store": "s1", "sku": "", "metric": "queue_depth", "value": values,
    })
    alerts = custom_metric_alerts(frame, [StoreInfo("s1", "shopify", "s1", "UTC")], [])
    assert [a.start for a in alerts] == [start + timedelta(hours=k)]
    assert alerts[0].end is not None and alerts[0].end <= start + timedelta(hours=k + 12)


def test_spike_on_a_trending_daily_series_is_found() -> None:
    """Without a season the band was the median and MAD of the last weeks of raw values, so a
    trend widened it until a clear spike fitted inside; now it is the local level and its errors."""
    rng = np.random.default_rng(32)
    days = 400
    values = 100.0 + 0.5 * np.arange(days) + rng.normal(0, 3, days)
    times = T0 + (np.arange(days) * 86400).astype("timedelta64[s]")
    clean = auto_detect(times, values)
    assert not clean.fire.any()
    k = 300
    values[k] += 40.0
    assert fired_at(times, auto_detect(times, values).fire) == [times[k]]


def test_daily_season_is_found_under_a_slow_swing() -> None:
    """A yearly swing made every lag look alike, hiding the daily season of hourly temperatures."""
    rng = np.random.default_rng(33)
    t = np.arange(24 * 120)
    values = 50 + 20 * np.sin(2 * np.pi * t / (24 * 365)) + 0.02 * t + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, t.size)
    assert find_period(values, 3600) == 24


def test_weekend_gaps_do_not_make_a_weekly_season() -> None:
    """Gaps were filled with the overall median: a drifting business-day series looked weekly."""
    rng = np.random.default_rng(34)
    days = np.arange(700)
    values = 50 + np.cumsum(rng.normal(0, 1, days.size))
    values[(days % 7) >= 5] = np.nan  # no trading at weekends
    assert find_period(values, 86400) == 0


def test_sparse_counts_are_quiet_and_a_burst_is_found() -> None:
    """Mostly-zero counts have a MAD of zero: every single event used to fire."""
    rng = np.random.default_rng(35)
    n = 24 * 60
    values = rng.poisson(0.4, n).astype(float)
    times = T0 + (np.arange(n) * 3600).astype("timedelta64[s]")
    assert not auto_detect(times, values).fire.any()
    k = n - 100
    values[k] = 40.0
    assert fired_at(times, auto_detect(times, values).fire) == [times[k]]


def test_skewed_series_is_judged_by_factors() -> None:
    """Log-normal noise (latencies, volumes) used to fire on its own heavy upper tail, and a
    drop to almost nothing stayed inside a band that went below zero."""
    rng = np.random.default_rng(36)
    n = 24 * 40
    values = 200.0 * np.exp(rng.normal(0, 0.6, n))
    times = T0 + (np.arange(n) * 3600).astype("timedelta64[s]")
    clean = auto_detect(times, values)
    assert not clean.fire.any()
    k = n - 50
    values[k : k + 6] = 0.5
    hit = np.nonzero(auto_detect(times, values).fire)[0]
    assert hit.size and hit.min() == k


def test_stuck_value_across_gaps_is_found() -> None:
    """A sensor repeating one value is normal-looking to a band; a run of repeats far longer than
    any before is not (and a weekend gap in the data does not break the run)."""
    rng = np.random.default_rng(37)
    days = np.arange(500)
    values = 50 + np.cumsum(rng.normal(0, 1, days.size)).round(2)
    times = T0 + (days * 86400).astype("timedelta64[s]")
    weekday = (days % 7) < 5
    k = 400
    values[k : k + 20] = values[k - 1]
    result = auto_detect(times[weekday], values[weekday])
    hit = np.nonzero(result.fire)[0]
    assert hit.size and k + 5 <= hit.min() <= k + 12
    assert not result.fire[: k].any()


def test_log_scale_and_stuck_runs_are_causal() -> None:
    """The log-like scale is chosen from the first points only and a stuck run's limit from the
    runs before it: a wildly different future changes nothing before it."""
    rng = np.random.default_rng(38)
    n = 24 * 30
    values = 200.0 * np.exp(rng.normal(0, 0.6, n))
    values[300:320] = values[299]  # a stuck stretch before the cut
    times = T0 + (np.arange(n) * 3600).astype("timedelta64[s]")
    full = auto_detect(times, values)
    cut = 24 * 20
    future = values.copy()
    future[cut:] = np.where(np.arange(n - cut) % 2, 0.0, 1e6)  # zeros and huge values after the cut
    other = auto_detect(times, future)
    np.testing.assert_array_equal(full.expected[:cut], other.expected[:cut])
    np.testing.assert_array_equal(full.upper[:cut], other.upper[:cut])
    np.testing.assert_array_equal(full.fire[:cut], other.fire[:cut])
    assert full.fire[300:320].any()


def test_weekly_season_wins_over_daily_when_weekends_differ() -> None:
    """A daily cycle whose weekends run higher: the lags of a day and of a week correlate alike
    (after removing the slow level), but only the week predicts Saturdays."""
    rng = np.random.default_rng(39)
    t = np.arange(24 * 7 * 6)
    weekend = ((t // 24) % 7) >= 5
    values = 100 + 50 * np.sin(2 * np.pi * t / 24) + 20 * weekend + rng.normal(0, 3, t.size)
    assert find_period(values, 3600) == 168
    assert find_period(100 + 50 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 3, t.size), 3600) == 24
