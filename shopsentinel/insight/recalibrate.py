"""Online recalibration of the stock-out forecast from its own track record.

The Monte Carlo model (:mod:`shopsentinel.insight.predict`) knows demand, not supply: without
in-transit data it cannot tell a late truck from a failed supplier, nor an operator who expedites an
order from one who does not. Whether its 90% means 90% therefore depends on the company. Every
forecast the service makes is kept; once its 72 hours have passed, its outcome is read off the
SKU's stock points, and the forecasts with outcomes teach a monotone map from the model's
probability to the probability that really came true.

The map is Platt's logistic recalibration, ``P = σ(a + b · logit(p))``, fitted by weighted maximum a
posteriori with a Gaussian prior centred on the identity (``a = 0``, ``b = 1``). With little track
record the prior wins and the forecast is passed through unchanged; evidence moves it. Two
parameters learn from a few dozen stock-outs, where a binned or isotonic map would need hundreds.
Forecasts of the same SKU made a few hours apart share most of their 72-hour window, so each counts
as ``step / horizon`` of an observation (one 72-hour window counts once). Forecasts below ``floor``
are not fitted (they are most of the data and say nothing about the top); below the floor the map
scales linearly to zero, so it stays monotone and continuous.

What the model assumed about supply matters most: a forecast made while the SKU's usual delivery is
overdue assumes nothing comes, and whether that is right (a failed supplier) or wrong (a late truck)
is a property of the company's suppliers. So :func:`fit_by_supply` fits one map per supply state
(``announced``, ``rhythm``, ``overdue``, ``unknown``), each with its prior centred on the map of all
states together (partial pooling): a thin record follows the pool, a long one speaks for itself.

>>> m = Recalibration(a=-1.0, b=0.5, evidence=12.0)
>>> round(m(0.99), 3), round(m(0.5), 3), m(0.0)
(0.785, 0.269, 0.0)
>>> IDENTITY(0.9)
0.9
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FLOOR = 0.05  # forecasts below this are neither fitted nor (beyond a linear scale) remapped
EPS = 1e-3  # Monte Carlo resolution: a forecast of 0 or 1 is read as 0.001 / 0.999
PRIOR_SD_A = 1.0  # prior spread of the intercept (logit units) …
PRIOR_SD_B = 0.5  # … and of the slope around 1


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-np.logaddexp(0, -z)))


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1 - EPS)
    return np.asarray(np.log(q / (1 - q)))


@dataclass(frozen=True)
class Recalibration:
    """``P = σ(a + b · logit(p))`` above ``floor``; ``evidence`` is the weight of track record behind it."""

    a: float = 0.0
    b: float = 1.0
    evidence: float = 0.0
    floor: float = FLOOR

    @property
    def is_identity(self) -> bool:
        return self.a == 0.0 and self.b == 1.0

    def __call__(self, p: float) -> float:
        return float(self.apply(np.array([p]))[0])

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        if self.is_identity:
            return p
        mapped = _sigmoid(self.a + self.b * _logit(p))
        at_floor = float(_sigmoid(self.a + self.b * _logit(np.array([self.floor])))[0])
        return np.where(p >= self.floor, mapped, p / self.floor * at_floor)


IDENTITY = Recalibration()


def fit_recalibration(p: np.ndarray, y: np.ndarray, weights: np.ndarray | float = 1.0, *, floor: float = FLOOR,
                      prior_sd_a: float = PRIOR_SD_A, prior_sd_b: float = PRIOR_SD_B,
                      prior: Recalibration | None = None) -> Recalibration:
    """MAP fit of the logistic map to forecasts ``p`` (the model's) and outcomes ``y`` (0/1), with the
    prior centred on ``prior`` (the identity by default).

    Damped Newton on the log posterior (concave: the prior keeps the Hessian definite and separable
    data finite), so the fit converges in a handful of steps.
    """
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.broadcast_to(np.asarray(weights, dtype=float), p.shape)
    keep = (p >= floor) & ~np.isnan(p) & ~np.isnan(y)
    x, y, w = _logit(p[keep]), y[keep], w[keep]
    evidence = float(w.sum())
    if evidence <= 0:
        return prior or Recalibration(floor=floor)
    design = np.column_stack([np.ones_like(x), x])
    prior_mean = np.array([0.0, 1.0] if prior is None else [prior.a, prior.b])
    precision = np.diag([1 / prior_sd_a**2, 1 / prior_sd_b**2])

    def log_posterior(theta: np.ndarray) -> float:
        z = design @ theta
        likelihood = w * (y * -np.logaddexp(0, -z) + (1 - y) * -np.logaddexp(0, z))
        offset = theta - prior_mean
        return float(likelihood.sum() - offset @ precision @ offset / 2)

    theta = prior_mean.copy()
    value = log_posterior(theta)
    for _ in range(100):
        prob = _sigmoid(design @ theta)
        gradient = design.T @ (w * (y - prob)) - precision @ (theta - prior_mean)
        hessian = -(design.T * (w * prob * (1 - prob))) @ design - precision
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6 and log_posterior(theta - scale * step) < value:  # damped: never downhill
            scale /= 2
        theta = theta - scale * step
        value = log_posterior(theta)
        if np.abs(scale * step).max() < 1e-9:
            break
    a, b = float(theta[0]), max(float(theta[1]), 0.05)  # the map must stay increasing
    return Recalibration(round(a, 6), round(b, 6), round(evidence, 3), floor)


@dataclass(frozen=True)
class SupplyRecalibration:
    """One map per supply state of the forecast (announced deliveries, a delivery rhythm, an overdue
    delivery, nothing known — :data:`shopsentinel.insight.supply.SUPPLY_STATES`), partially pooled:
    each state's map has its prior centred on the map of all states together, so a state with a thin
    track record follows the pooled map and one with a long record (say, overdue trucks that still
    came) gets its own."""

    pooled: Recalibration = Recalibration()
    states: tuple[tuple[str, Recalibration], ...] = ()

    @property
    def is_identity(self) -> bool:
        return self.pooled.is_identity and all(m.is_identity for _, m in self.states)

    @property
    def evidence(self) -> float:
        return self.pooled.evidence

    def for_state(self, supply: str) -> Recalibration:
        return dict(self.states).get(supply, self.pooled)

    def __call__(self, p: float, supply: str = "") -> float:
        return self.for_state(supply)(p)

    def apply(self, p: np.ndarray, supply: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        supply = np.asarray(supply)
        out = self.pooled.apply(p)
        for state, fitted in self.states:
            inside = supply == state
            if inside.any():
                out[inside] = fitted.apply(p[inside])
        return out

    def as_dict(self) -> dict[str, Any]:
        def one(m: Recalibration) -> dict[str, Any]:
            return {"a": m.a, "b": m.b, "evidence_windows": m.evidence}

        return {"identity": self.is_identity, **one(self.pooled), "by_supply": {s: one(m) for s, m in self.states}}


IDENTITY_BY_SUPPLY = SupplyRecalibration()


def fit_by_supply(p: np.ndarray, y: np.ndarray, supply: np.ndarray, weights: np.ndarray | float = 1.0, *,
                  floor: float = FLOOR) -> SupplyRecalibration:
    """The pooled map, then each supply state's map with its prior on the pooled one."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    supply = np.asarray(supply)
    w = np.broadcast_to(np.asarray(weights, dtype=float), p.shape)
    pooled = fit_recalibration(p, y, w, floor=floor)
    if pooled.evidence <= 0:
        return SupplyRecalibration(pooled)
    states = tuple((str(state), fit_recalibration(p[supply == state], y[supply == state], w[supply == state],
                                                  floor=floor, prior=pooled))
                   for state in sorted(set(supply.tolist())))
    return SupplyRecalibration(pooled, states)


def replay_online(hours: np.ndarray, p: np.ndarray, y: np.ndarray, supply: np.ndarray | None = None, *,
                  horizon: int = 72, weight: float = 1.0, floor: float = FLOOR) -> np.ndarray:
    """What the service would have said: each forecast remapped by the map fitted on the forecasts
    whose ``horizon`` had passed when it was made (``hours`` are the forecast times, one clock)."""
    hours = np.asarray(hours)
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    supply = np.full(p.shape, "") if supply is None else np.asarray(supply)
    out = p.copy()
    known = p >= floor
    for hour in np.unique(hours):
        now = hours == hour
        past = known & (hours <= hour - horizon)
        if past.any():
            out[now] = fit_by_supply(p[past], y[past], supply[past], weight, floor=floor).apply(p[now], supply[now])
    return out


__all__ = ["FLOOR", "IDENTITY", "IDENTITY_BY_SUPPLY", "Recalibration", "SupplyRecalibration", "fit_by_supply",
           "fit_recalibration", "replay_online"]
