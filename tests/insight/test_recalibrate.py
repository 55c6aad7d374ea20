"""The recalibration map of the stock-out forecast: identity without a track record, pulled towards
what came true by evidence (over- and under-confidence), monotone, and replayed online without
peeking at outcomes that were not known yet."""

from __future__ import annotations

import numpy as np
import pytest

from shopsentinel.insight.recalibrate import (
    FLOOR,
    IDENTITY,
    Recalibration,
    fit_by_supply,
    fit_recalibration,
    replay_online,
)


def _track(p: float, rate: float, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.full(n, p), (rng.random(n) < rate).astype(float)


def test_no_track_record_is_the_identity() -> None:
    fitted = fit_recalibration(np.array([]), np.array([]))
    assert fitted.is_identity and fitted(0.93) == 0.93
    below_floor = fit_recalibration(np.array([0.01, 0.02]), np.array([1.0, 1.0]))
    assert below_floor.is_identity  # forecasts under the floor teach nothing


def test_over_confidence_is_pulled_down_by_evidence_and_the_prior_holds_it_back_when_evidence_is_thin() -> None:
    p_hi, y_hi = _track(0.99, 0.8, 400, seed=1)
    p_lo, y_lo = _track(0.2, 0.2, 400, seed=2)
    p, y = np.concatenate([p_hi, p_lo]), np.concatenate([y_hi, y_lo])
    plenty = fit_recalibration(p, y)
    assert 0.72 <= plenty(0.99) <= 0.88  # what came true: 80%
    assert abs(plenty(0.2) - 0.2) < 0.08
    thin = fit_recalibration(p[::40], y[::40])  # twenty forecasts
    assert plenty(0.99) < thin(0.99) < 0.99
    weighted = fit_recalibration(p, y, 1 / 40)  # the same forecasts, each a fortieth of a window
    assert plenty(0.99) < weighted(0.99) < 0.99


def test_under_confidence_is_pulled_up() -> None:
    p = np.concatenate([np.full(300, 0.6), np.full(300, 0.1)])
    y = np.concatenate([_track(0.6, 0.95, 300, 3)[1], _track(0.1, 0.05, 300, 4)[1]])
    fitted = fit_recalibration(p, y)
    assert fitted(0.6) > 0.85
    assert fitted(0.1) < 0.1


def test_the_map_is_monotone_and_continuous_at_the_floor() -> None:
    fitted = Recalibration(a=-1.2, b=0.6, evidence=30)
    grid = np.linspace(0, 1, 2001)
    mapped = fitted.apply(grid)
    assert np.all(np.diff(mapped) >= -1e-12) and mapped[0] == 0.0
    assert fitted(FLOOR - 1e-9) == pytest.approx(fitted(FLOOR), abs=1e-6)
    separable = fit_recalibration(np.array([0.5, 0.6, 0.9, 0.99]), np.array([0.0, 0.0, 1.0, 1.0]))
    assert np.isfinite([separable.a, separable.b]).all() and separable.b > 0  # the prior keeps separable data finite
    assert IDENTITY.apply(grid) is not None and np.array_equal(IDENTITY.apply(grid), grid)


def test_online_replay_only_learns_from_windows_that_have_closed() -> None:
    hours = np.repeat(np.arange(0, 400, 6), 10)
    p = np.full(hours.size, 0.95)
    y = np.zeros(hours.size)  # the model is always wrong
    out = replay_online(hours, p, y, horizon=72, weight=1.0)
    early = hours < 72  # nothing had closed when these were made
    assert np.array_equal(out[early], p[early])
    assert out[hours == hours.max()].max() < 0.5  # later ones learned the lesson
    assert np.all(np.diff([out[hours == h][0] for h in np.unique(hours)]) <= 1e-12)  # ever more sceptical


def test_each_supply_state_learns_its_own_record_and_a_thin_one_follows_the_pool() -> None:
    # Overdue deliveries: the model says 99% but the truck was only late two times in five.
    p_over, y_over = _track(0.99, 0.6, 600, seed=5)
    # A known rhythm: the model's 99% came true.
    p_rhythm, y_rhythm = _track(0.99, 0.99, 600, seed=6)
    p_rare, y_rare = _track(0.99, 1.0, 3, seed=7)  # deliveries announced by the ERP: three forecasts, one window
    p = np.concatenate([p_over, p_rhythm, p_rare])
    y = np.concatenate([y_over, y_rhythm, y_rare])
    supply = np.array(["overdue"] * 600 + ["rhythm"] * 600 + ["announced"] * 3)
    fitted = fit_by_supply(p, y, supply, 1 / 12)  # forecasts six hours apart: twelve to a 72-hour window
    assert 0.5 <= fitted(0.99, "overdue") <= 0.7
    assert fitted(0.99, "rhythm") >= 0.95
    pooled = fitted.pooled(0.99)
    assert 0.75 <= pooled <= 0.85  # all together: 80%
    assert abs(fitted(0.99, "announced") - pooled) < 0.1  # three forecasts barely move it off the pool
    assert fitted(0.99, "never seen") == pooled
    said = fitted.apply(p, supply)
    assert said[0] == fitted(0.99, "overdue") and said[600] == fitted(0.99, "rhythm")
    assert set(fitted.as_dict()["by_supply"]) == {"announced", "overdue", "rhythm"}
