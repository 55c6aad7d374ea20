"""Causal baselines in local time (DST), gaps never read as zero, usual lows, count-aware surprise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.baselines import (
    lag_indices,
    rolling_mean_daily,
    rolling_sum,
    seasonal_history,
    summarize,
    usual_low,
)
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.significance import count_surprise, extra_variation, robust_surprise

LA = StoreInfo("la", "shopify", "la", "America/Los_Angeles")
SH = StoreInfo("sh", "tmall", "sh", "Asia/Shanghai")
EMPTY = pl.DataFrame()


def offsets_for(stores: list[StoreInfo], start: datetime, hours: int) -> np.ndarray:
    return build_panel(EMPTY, stores, [], default_catalog(), start=start, hours=hours).offsets


def index_of(start: datetime, when: datetime) -> int:
    return int((when - start) / timedelta(hours=1))


# --------------------------------------------------------------------------- lag_indices
def test_same_hour_yesterday_across_dst_end_is_25_utc_hours() -> None:
    start = datetime(2026, 10, 30, tzinfo=UTC)
    offsets = offsets_for([LA, SH], start, 24 * 5)
    # DST ends 2026-11-01 02:00 local. 11-01 10:00 PST (UTC-8) = 18:00 UTC;
    # the day before, 10-31 10:00 PDT (UTC-7) = 17:00 UTC: 25 UTC hours back
    t = index_of(start, datetime(2026, 11, 1, 18, tzinfo=UTC))
    idx = lag_indices(offsets, 24)
    assert idx[t, 0] == t - 25
    assert start + timedelta(hours=int(idx[t, 0])) == datetime(2026, 10, 31, 17, tzinfo=UTC)
    assert idx[t, 1] == t - 24  # Shanghai has no DST
    # a day later both days are PST: 24 hours
    t2 = index_of(start, datetime(2026, 11, 2, 18, tzinfo=UTC))
    assert idx[t2, 0] == t2 - 24


def test_same_hour_yesterday_across_dst_start_is_23_utc_hours() -> None:
    start = datetime(2026, 3, 6, tzinfo=UTC)
    offsets = offsets_for([LA], start, 24 * 5)
    # DST starts 2026-03-08 02:00 local. 03-08 10:00 PDT (UTC-7) = 17:00 UTC;
    # the day before, 03-07 10:00 PST (UTC-8) = 18:00 UTC: 23 UTC hours back
    t = index_of(start, datetime(2026, 3, 8, 17, tzinfo=UTC))
    idx = lag_indices(offsets, 24)
    assert idx[t, 0] == t - 23
    assert start + timedelta(hours=int(idx[t, 0])) == datetime(2026, 3, 7, 18, tzinfo=UTC)
    t2 = index_of(start, datetime(2026, 3, 9, 17, tzinfo=UTC))
    assert idx[t2, 0] == t2 - 24


def test_same_hour_last_week_across_dst_end() -> None:
    start = datetime(2026, 10, 25, tzinfo=UTC)
    offsets = offsets_for([LA], start, 24 * 10)
    t = index_of(start, datetime(2026, 11, 3, 18, tzinfo=UTC))  # Tue 10:00 PST
    idx = lag_indices(offsets, 168)
    assert start + timedelta(hours=int(idx[t, 0])) == datetime(2026, 10, 27, 17, tzinfo=UTC)  # Tue 10:00 PDT


def test_lag_before_the_start_is_minus_one_and_never_the_future() -> None:
    start = datetime(2026, 10, 30, tzinfo=UTC)
    offsets = offsets_for([LA], start, 72)
    idx = lag_indices(offsets, 24)
    assert (idx[:24, 0] == -1).all()
    t = np.arange(72)
    assert (idx[:, 0] < t).all()


def test_seasonal_history_skips_excluded_days() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    offsets = offsets_for([SH], start, 24 * 10)
    values = np.repeat(np.arange(10, dtype=float), 24)[:, None]  # day d has value d
    exclude = np.zeros_like(values, dtype=bool)
    exclude[24 * 8 : 24 * 9] = True  # day 8 excluded (a promotion)
    hist = seasonal_history(values, offsets, period_hours=24, count=2, exclude=exclude)
    t = 24 * 9 + 5
    assert sorted(v for v in hist[:, t, 0] if not np.isnan(v)) == [6.0, 7.0]
    base = summarize(hist, "median")
    assert base.expected[t, 0] == 6.5
    assert base.samples[t, 0] == 2


# --------------------------------------------------------------------------- rolling_sum
def test_rolling_sum_never_treats_gaps_as_zero() -> None:
    values = np.full((10, 1), 10.0)
    values[5, 0] = np.nan
    out = rolling_sum(values, 4)
    assert np.isnan(out[:3, 0]).all()  # incomplete first windows
    assert out[3, 0] == 40.0
    assert out[5, 0] == pytest.approx(40.0)  # scaled up for the missing hour, not 30
    assert out[8, 0] == pytest.approx(40.0)
    assert out[9, 0] == 40.0


def test_rolling_sum_too_many_missing_is_unknown() -> None:
    values = np.full((10, 1), 10.0)
    values[4:6, 0] = np.nan  # 2 of 4 missing
    out = rolling_sum(values, 4)
    assert np.isnan(out[5, 0]) and np.isnan(out[6, 0]) and np.isnan(out[7, 0])
    assert out[9, 0] == 40.0
    all_missing = rolling_sum(np.full((5, 1), np.nan), 2)
    assert np.isnan(all_missing).all()


def test_rolling_sum_window_one_is_identity() -> None:
    values = np.array([[1.0], [np.nan], [3.0]])
    np.testing.assert_array_equal(rolling_sum(values, 1), values)


def test_rolling_mean_daily_ignores_gaps() -> None:
    values = np.full((24 * 3, 1), 2.0)
    values[30:40] = np.nan
    out = rolling_mean_daily(values, 2)
    assert np.isnan(out[22, 0])
    assert out[23, 0] == pytest.approx(48.0)
    assert out[45, 0] == pytest.approx(48.0)  # the gap is not read as a day with less demand


# --------------------------------------------------------------------------- usual_low
def test_usual_low_is_lowest_daily_minimum_and_ignores_stock_outs() -> None:
    days = 12
    day = np.array([30.0] * 12 + [12.0] * 12)  # dips to 12 every day
    values = np.tile(day, days)[:, None]
    values[24 * 6 : 24 * 6 + 5, 0] = 0.0  # a stock-out day
    values[24 * 4 + 3, 0] = 8.0  # one lower (but real) low
    low = usual_low(values)
    assert np.isnan(low[24 * 4, 0])  # fewer than 5 days of history
    assert low[24 * 11 + 5, 0] == 8.0
    high_q = usual_low(values, quantile=50.0)
    assert high_q[24 * 11 + 5, 0] == 12.0


def test_usual_low_is_causal() -> None:
    values = np.tile(np.array([20.0] * 12 + [10.0] * 12), 10)[:, None]
    future = values.copy()
    future[24 * 9 :, 0] = 1.0
    np.testing.assert_array_equal(usual_low(values)[: 24 * 9], usual_low(future)[: 24 * 9])


# --------------------------------------------------------------------------- significance
def _nb(observed: float, expected: float, direction: str = "down") -> float:
    e = np.array([expected])
    cv = extra_variation(e, np.sqrt(e))
    return float(count_surprise(np.array([observed]), e, cv, direction)[0])


def test_zero_orders_when_two_expected_is_not_significant() -> None:
    assert _nb(0.0, 2.0) < 2.0


def test_zero_orders_when_two_hundred_expected_is() -> None:
    assert _nb(0.0, 200.0) > 8.0


def test_count_surprise_direction_and_unknown() -> None:
    assert _nb(400.0, 200.0, "down") == 0.0
    assert _nb(400.0, 200.0, "up") > 8.0
    assert _nb(0.0, 200.0, "up") == 0.0
    assert _nb(0.0, 200.0, "both") > 8.0
    assert 0.0 <= _nb(205.0, 200.0, "both") < 1.0
    out = count_surprise(np.array([1.0, np.nan]), np.array([np.nan, 5.0]), np.array([0.1, 0.1]), "both")
    assert np.isnan(out).all()


def test_more_extra_variation_means_less_surprise() -> None:
    e = np.array([200.0])
    tight = count_surprise(np.array([120.0]), e, np.array([0.05]), "down")[0]
    loose = count_surprise(np.array([120.0]), e, np.array([0.5]), "down")[0]
    assert tight > 3.0 > loose


def test_extra_variation_floor_and_excess() -> None:
    e = np.array([100.0, 100.0])
    cv = extra_variation(e, np.array([10.0, 30.0]))  # Poisson sd is 10: no extra; sd 30: cv² = 0.08
    assert cv[0] == pytest.approx(0.05)
    assert cv[1] == pytest.approx(np.sqrt(0.08))


def test_robust_surprise() -> None:
    obs, exp, spread = np.array([130.0, 70.0, 1000.0]), np.array([100.0, 100.0, 100.0]), np.array([10.0, 10.0, 10.0])
    np.testing.assert_allclose(robust_surprise(obs, exp, spread, "up"), [3.0, -3.0, 12.0])
    np.testing.assert_allclose(robust_surprise(obs, exp, spread, "down"), [-3.0, 3.0, -12.0])
    np.testing.assert_allclose(robust_surprise(obs, exp, spread, "both"), [3.0, 3.0, 12.0])
    # a flat history (spread 0) is floored at 5% of the level: 110 vs 100 is 2 sigma, not infinity
    assert robust_surprise(np.array([110.0]), np.array([100.0]), np.array([0.0]), "up")[0] == pytest.approx(2.0)


# --------------------------------------------------------------------------- the distributions without scipy.stats
def test_tail_functions_equal_scipy_stats_bit_for_bit() -> None:
    """significance.py calls scipy's ufuncs directly (scipy.stats is slow to import); every answer —
    inside and outside the support, invalid shapes, NaN — must be the one scipy.stats gives."""
    from scipy import stats

    from shopsentinel.detect.significance import nbinom_cdf, nbinom_sf, norm_isf, poisson_cdf, poisson_sf

    rng = np.random.default_rng(5)
    size = 20_000
    k = np.concatenate([rng.integers(-3, 400, size).astype(float), rng.uniform(-2, 50, 200), [np.nan, np.inf, -np.inf, 0.0, -0.0]])
    r = np.concatenate([1.0 / rng.uniform(0.0, 1.5, size) ** 2, rng.uniform(0.5, 9, 200), [np.nan, 0.0, -1.0, 4.0, 400.0]])
    lam = np.concatenate([rng.gamma(0.6, 60.0, size), rng.uniform(0, 3, 200), [1e-6, 3.0, 2.0, np.nan, 0.0]])
    p = r / (r + lam)
    p[:5] = [0.0, 1.0, 1.5, -0.1, np.nan]

    def same(ours: np.ndarray, theirs: np.ndarray) -> None:
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)  # NaN where NaN; every other value equal
        assert (np.signbit(ours) == np.signbit(theirs)).all()

    with np.errstate(all="ignore"):
        same(nbinom_cdf(k, r, p), stats.nbinom.cdf(k, r, p))
        same(nbinom_sf(k - 1, r, p), stats.nbinom.sf(k - 1, r, p))
        same(poisson_cdf(k, lam), stats.poisson.cdf(k, lam))
        same(poisson_sf(k - 1, lam), stats.poisson.sf(k - 1, lam))
        # broadcasting a scalar shape, as count_surprise may get one
        same(nbinom_cdf(k[:50], 4.0, p[:50]), stats.nbinom.cdf(k[:50], 4.0, p[:50]))
        q = np.concatenate([rng.uniform(0, 1, size), 10.0 ** -rng.uniform(0, 300, 500), [0.0, 1.0, 1e-300, 0.5, np.nan, 1.5, -0.2]])
        same(norm_isf(q), stats.norm.isf(q))
