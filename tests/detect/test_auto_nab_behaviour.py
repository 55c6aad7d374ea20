"""``auto`` on server-like five-minute series (the weaknesses found on NAB, bench/auto_nab.py): a quantised
gauge that regularly visits a second level stays quiet, a nightly job at a jittered minute stays quiet
while a bigger or off-hour excursion still fires, and a level shift is one alert episode."""

from __future__ import annotations

import numpy as np

from shopsentinel.detect.auto import MAD_TO_SIGMA, _sigma, auto_detect
from shopsentinel.detect.episodes import episodes

STEP = 300
DAY = 86400 // STEP


def _times(n: int) -> np.ndarray:
    return np.datetime64("2024-03-01T00:00:00") + np.arange(n) * np.timedelta64(STEP, "s")


def _episode_starts(values: np.ndarray) -> list[int]:
    r = auto_detect(_times(values.size), values)
    # the same episode rule as custom_metric_alerts
    return [ep.start for ep in episodes(r.fire[:, None], r.clear[:, None], r.known[:, None], for_steps=1, keep_steps=3)]


def _two_level_gauge(n: int, seed: int) -> np.ndarray:
    """A CPU gauge quantised to a few values: mostly 0.134, a fifth of the time 0.066, now and then 0.2."""
    rng = np.random.default_rng(seed)
    return rng.choice([0.134, 0.132, 0.066, 0.2], size=n, p=[0.55, 0.2, 0.2, 0.05])


def test_quantised_two_level_gauge_stays_quiet() -> None:
    x = _two_level_gauge(10 * DAY, seed=1)
    assert _episode_starts(x) == []


def test_quantised_gauge_still_fires_on_a_real_excursion() -> None:
    x = _two_level_gauge(10 * DAY, seed=2)
    at = 8 * DAY + 100
    x[at] = 2.3
    starts = _episode_starts(x)
    assert starts == [at]


def _nightly_job(n: int, seed: int) -> np.ndarray:
    """A quiet series with a backup at about 03:00 every night (± 20 minutes) lifting one point to ~1.5."""
    rng = np.random.default_rng(seed)
    x = 0.5 + rng.normal(0.0, 0.01, n)
    for day in range(n // DAY):
        at = day * DAY + 36 + int(rng.integers(-4, 5))  # 03:00 ± 20 minutes
        x[at] = rng.uniform(1.4, 1.6)
    return x


def test_nightly_job_at_a_jittered_minute_stays_quiet() -> None:
    x = _nightly_job(10 * DAY, seed=3)
    assert _episode_starts(x) == []


def test_excursions_beyond_the_nightly_job_still_fire() -> None:
    x = _nightly_job(10 * DAY, seed=4)
    night = 8 * DAY + 36
    x[night - 4 : night + 5] = 0.5  # tonight's job replaced by a much bigger one
    x[night] = 3.0
    afternoon = 8 * DAY + 200  # 16:40: the job never runs then
    x[afternoon] = 1.0
    starts = _episode_starts(x)
    assert night in starts and afternoon in starts
    assert len(starts) == 2


def test_level_shift_on_a_noisy_five_minute_series_is_one_episode() -> None:
    rng = np.random.default_rng(5)
    x = 10.0 + rng.normal(0.0, 1.0, 10 * DAY)
    shift = 6 * DAY + 17
    x[shift:] += 12.0
    starts = _episode_starts(x)
    assert len(starts) == 1
    assert shift <= starts[0] <= shift + 3


def test_bulk_floor_leaves_unimodal_noise_alone() -> None:
    rng = np.random.default_rng(6)
    for sample in (rng.normal(0.0, 1.0, 5000), rng.laplace(0.0, 1.0, 5000), rng.standard_t(3, 5000)):
        dev = np.abs(sample - np.median(sample))
        assert _sigma(dev) == MAD_TO_SIGMA * float(np.median(dev))
