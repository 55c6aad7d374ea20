"""Model-based detectors: an ETS prediction interval (R3.4) and Isolation Forest (R3.5).

Both are causal. ETS is an additive Holt-Winters model with a daily season in local time,
updated one hour at a time for every series at once; observations outside the interval do not
update the state, so an outage or a burst is not learned as normal. Isolation Forest is refit
every week on the previous four weeks of a store's metric vector and scores the next week.
"""

from __future__ import annotations

import warnings

import numpy as np

from shopsentinel.core.extras import require_extra
from shopsentinel.detect.detectors import Score
from shopsentinel.detect.rules import EtsCondition, IsolationForestCondition
from shopsentinel.detect.series import SeriesResolver, SeriesView

WARMUP_HOURS = 24 * 7


def ets_forecast(
    values: np.ndarray,
    local_hour: np.ndarray,
    *,
    alpha: float = 0.1,
    gamma: float = 0.2,
    var_decay: float = 0.05,
    z: float = 4.0,
    exclude: np.ndarray | None = None,
    min_sigma: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """One-step-ahead forecasts and residual sigmas (T × S) of additive Holt-Winters.

    >>> t = np.arange(24 * 10)[:, None]
    >>> y = 10 + 5 * np.sin(2 * np.pi * t / 24)
    >>> f, s = ets_forecast(y, (t % 24).astype(int))
    >>> bool(abs(f[-1, 0] - y[-1, 0]) < 1.0)
    True
    """
    steps, width = values.shape
    cols = np.arange(width)
    level = np.full(width, np.nan)
    season = np.zeros((24, width))
    seen = np.zeros((24, width), dtype=bool)
    var = np.full(width, np.nan)
    forecast = np.full(values.shape, np.nan)
    sigma = np.full(values.shape, np.nan)
    for t in range(steps):
        if t == 24:
            # Classical initialisation once the first day is seen: level = its mean,
            # season = each hour's offset from it (forecasts start after the warm-up week anyway).
            first = values[:24]
            seen_first = ~np.isnan(first)
            mean = np.nanmean(np.where(seen_first, first, np.nan), axis=0) if seen_first.any() else level
            level = np.where(np.isnan(mean), level, mean)
            for i in range(24):
                hi = local_hour[i]
                season[hi, cols] = np.where(seen_first[i], first[i] - level, season[hi, cols])
                seen[hi, cols] |= seen_first[i]
        h = local_hour[t]
        y = values[t]
        s = np.where(seen[h, cols], season[h, cols], 0.0)
        f = level + s
        forecast[t], sigma[t] = f, np.sqrt(var)
        ok = ~np.isnan(y)
        if exclude is not None:
            ok &= ~exclude[t]
        resid = y - f
        # The variance is floored: two equal first values must not freeze the model forever.
        sigma_floor = np.maximum(min_sigma, 0.02 * np.abs(np.nan_to_num(level)))
        sigma_now = np.sqrt(np.maximum(np.nan_to_num(var, nan=np.inf), sigma_floor**2))
        # During the first week everything is learned: the season is not known yet.
        inside = ok & ((t < WARMUP_HOURS) | np.isnan(var) | (np.abs(resid) <= z * sigma_now))
        fresh = ok & np.isnan(level)
        level = np.where(fresh, y, level)
        upd = inside & ~fresh
        new_level = alpha * (y - s) + (1 - alpha) * level
        level = np.where(upd, new_level, level)
        season_new = np.where(seen[h, cols], gamma * (y - level) + (1 - gamma) * season[h, cols], y - level)
        season[h, cols] = np.where(upd | fresh, season_new, season[h, cols])
        seen[h, cols] |= ok
        sq = np.where(np.isnan(resid), np.nan, resid**2)
        var = np.where(upd & np.isnan(var), sq, var)
        var = np.where(upd & ~np.isnan(sq), (1 - var_decay) * var + var_decay * sq, var)
    forecast[:WARMUP_HOURS] = np.nan
    return forecast, sigma


class EtsScorer:
    """The ETS prediction interval; its expected level is the volume behind each point. Counts are
    modelled on a square-root scale, where their noise is roughly constant."""

    def score(self, view: SeriesView, cond: EtsCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        exclude = resolver.event_mask(tail_hours)[:, view.store_index]
        hours = view.values.shape[0]
        utc_hour = (np.arange(hours) + resolver.panel.start.hour)[:, None]
        local_hour = (np.floor(utc_hour + view.offsets).astype(int)) % 24
        transform = view.kind == "count"
        y = np.sqrt(np.maximum(view.values, 0)) if transform else view.values
        k = (cond.sigmas or 4.0) / cond.sensitivity
        level = float(np.nanmedian(np.abs(y))) if np.isfinite(y).any() else 1.0
        f, s = ets_forecast(y, local_hour, z=k + 1, exclude=exclude, min_sigma=0.5 if transform else max(1e-6, 0.01 * level))
        floor = 0.5 if transform else 0.02 * np.abs(np.nan_to_num(f))
        s = np.maximum(np.nan_to_num(s, nan=np.inf), floor)
        lo, hi = f - k * s, f + k * s
        if transform:
            lo, hi, expected = np.maximum(lo, 0) ** 2, hi**2, np.maximum(f, 0) ** 2
        else:
            expected = f
        x = view.values
        with np.errstate(invalid="ignore"):
            if cond.direction == "down":
                crossed, relaxed = x < lo, x < expected - (expected - lo) * 0.6
            elif cond.direction == "up":
                crossed, relaxed = x > hi, x > expected + (hi - expected) * 0.6
            else:
                crossed = (x < lo) | (x > hi)
                relaxed = (x < expected - (expected - lo) * 0.6) | (x > expected + (hi - expected) * 0.6)
        known = ~np.isnan(x) & ~np.isnan(f)
        return Score(x, expected, lo, hi, known, crossed, relaxed, volume=expected)


DEFAULT_FEATURES = ["conversion_rate", "aov", "payment_failure_rate", "bounce_rate", "ad_cpc", "ad_conversion_rate"]


class IsolationForestScorer:
    """Unusual combinations of a store's metrics that no single rule names (R3.5). The value is the
    forest's anomaly score, the expectation and lower bound the cut-off learned from the training
    weeks (lower scores are more unusual)."""

    def score(self, view: SeriesView, cond: IsolationForestCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        IsolationForest = require_extra("sklearn.ensemble", "ml", "Isolation Forest 检测器 / the Isolation Forest detector").IsolationForest

        features = cond.features or DEFAULT_FEATURES
        views = [v for v in (resolver.view(m, max(cond.window, 3)) for m in features) if v is not None]
        hours = view.values.shape[0]
        width = view.values.shape[1]
        score = np.full((hours, width), np.nan)
        limit = np.full((hours, width), np.nan)
        exclude = resolver.event_mask(tail_hours)
        week = 168
        for col in range(width):
            store = int(view.store_index[col])
            columns = []
            for v in views:
                hit = np.nonzero(v.store_index == store)[0]
                if hit.size:
                    columns.append(v.values[:, hit[0]])
            if len(columns) < 2:
                continue
            x = np.stack(columns, axis=1)
            usable = ~np.isnan(x).any(axis=1) & ~exclude[:, store]
            for begin in range(4 * week, hours, week):
                train = np.nonzero(usable[begin - 4 * week : begin])[0] + begin - 4 * week
                if train.size < week:
                    continue
                model = IsolationForest(n_estimators=50, max_samples=min(256, train.size), random_state=0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(x[train])
                    # Sensitivity 1.0 flags what is rarer than the rarest 0.2% of the training
                    # hours; higher sensitivity flags more.
                    quantile = min(0.05, 0.002 * cond.sensitivity)
                    cutoff = float(np.quantile(model.decision_function(x[train]), quantile))
                    rows = np.arange(begin, min(begin + week, hours))
                    rows = rows[~np.isnan(x[rows]).any(axis=1)]
                    if rows.size:
                        score[rows, col] = model.decision_function(x[rows])
                        limit[rows, col] = cutoff
        known = ~np.isnan(score)
        with np.errstate(invalid="ignore"):
            below = score < limit
            not_back = ~(score >= limit)
        return Score(score, limit, limit, np.full(score.shape, np.nan), known, below, not_back)
