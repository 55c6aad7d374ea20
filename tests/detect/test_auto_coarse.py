"""``auto`` on series coarser than daily (weekly, monthly, quarterly points): a grid at their own
cadence, and the year as their season (bench/auto_corpus.py, docs/BENCHMARKS.md)."""

from __future__ import annotations

import numpy as np

from shopsentinel.detect.auto import YEAR, auto_detect, find_period, regularize

DAY = 86400


def months(n: int, first_year: int = 1990) -> np.ndarray:
    """The first of each calendar month (uneven months, leap years) from January ``first_year``."""
    return np.array([np.datetime64(f"{first_year + i // 12}-{i % 12 + 1:02d}-01T00:00:00", "s") for i in range(n)])


def quarters(n: int, first_year: int = 1959) -> np.ndarray:
    return np.array([np.datetime64(f"{first_year + i // 4}-{3 * (i % 4) + 1:02d}-01T00:00:00", "s") for i in range(n)])


def seasonal_monthly(n: int, seed: int) -> np.ndarray:
    """A yearly swing of ±10 with noise of sd 0.5 (a monthly sea-temperature-like series)."""
    rng = np.random.default_rng(seed)
    return 25.0 + 10.0 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0.0, 0.5, n)


def test_calendar_months_and_quarters_get_one_bucket_each() -> None:
    for times, step in ((months(360), YEAR // 12), (quarters(200), YEAR // 4)):
        grid_times, grid, got = regularize(times, np.arange(times.size, dtype=float))
        assert got == step
        assert grid.size == times.size and not np.isnan(grid).any()
        np.testing.assert_array_equal(grid, np.arange(times.size))
        # each bucket is reported just before its own point, never after it nor a step early
        lead = (times - grid_times).astype(np.int64)
        assert lead.min() > 0 and lead.max() < 6 * DAY


def test_weekly_and_three_day_spacing_keep_their_own_step() -> None:
    t0 = np.datetime64("1958-03-29T00:00:00", "s")
    for days in (7, 3):
        times = t0 + np.arange(300) * np.timedelta64(days * DAY, "s")
        _, grid, step = regularize(times, np.ones(300))
        assert step == days * DAY and grid.size == 300
    # still a day for business days (median gap one day) and a day and a bit
    times = t0 + np.cumsum(np.tile([1, 1, 1, 1, 3], 60)) * np.timedelta64(DAY, "s")
    assert regularize(times, np.ones(300))[2] == DAY


def test_the_year_is_the_season_of_monthly_and_weekly_points() -> None:
    assert find_period(seasonal_monthly(240, 1), YEAR // 12) == 12
    rng = np.random.default_rng(2)
    weekly = 300 + 20 * np.sin(2 * np.pi * np.arange(520) / 52) + rng.normal(0, 1, 520)
    assert find_period(weekly, 7 * DAY) == 52
    assert find_period(rng.normal(0, 1, 240), YEAR // 12) == 0


def test_monthly_series_is_quiet_and_a_break_within_the_yearly_swing_fires() -> None:
    n = 480
    times, clean = months(n), seasonal_monthly(n, 7)
    assert not auto_detect(times, clean).fire.any()
    broken = clean.copy()
    broken[300] += 6.0  # 12 noise sigmas, but well inside the ±10 yearly swing
    broken[400:] -= 6.0  # a level shift of the same size
    result = auto_detect(times, broken)
    fired = np.nonzero(result.fire)[0]
    assert 300 in fired and 400 in fired
    assert result.period == 12
    # At most one echo: the spike moves the 7-month local level one rank along the steep swing.
    assert fired.size <= 3 and set(fired) <= set(range(300, 306)) | {400, 401, 402}
