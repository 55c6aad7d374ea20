"""The ``auto`` detector for custom metrics: any granularity, seasonality found by itself.

A custom metric arrives at its own cadence (every minute to once a quarter or a year, regular
or not). We put it on a regular grid at its median spacing and find its seasonal period among
the natural ones (hour, day, week; the year for weekly, monthly and quarterly points) by
autocorrelation of the data seen so far, after removing its slow level. The expected value is the local level (median of the last few known points) plus, with a
season, the median deviation from the local level at the same phase in recent periods; so a
trend or a level shift is followed within a few points instead of alerting for days. The band
is the spread of the point's phase (or of the recent prediction errors without a season),
widened for series whose own past has heavy tails, and never narrower than the bulk of the
recent errors (a quantised gauge that visits a second level a fifth of the time is not an alert
storm). On a sub-hourly grid, a peak or trough the series reaches at this time of most days (a
nightly backup a few minutes early or late) does not fire unless it goes beyond the recent
days' highest peak (lowest trough) by a band. Skewed non-negative series (counts, volumes,
latencies) are judged on a log-like scale, and a run of exactly repeated values far longer than
any before (a stuck sensor) fires too. Everything at time t uses data before t only.
Sensitivity 1.0 is the default: higher finds more, lower finds less.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from shopsentinel.detect.detectors import Score
from shopsentinel.detect.rules import AutoCondition
from shopsentinel.detect.series import SeriesResolver, SeriesView

MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533
BASE_SIGMAS = 7.0
PERIODS_BACK = 8
SHORT = 7  # points in the local level / recent shift
TAIL_Q = 0.95
TAIL_MARGIN = 3.0
STUCK_MIN_RUN = 6
SKEW_RATIO = 2.0
DECIDE_POINTS = 100  # points seen before choosing the log-like scale
BULK_Q = 0.9  # the deviations' quantile that bounds sigma from below (mixtures, quantised gauges)
RECUR_DAYS = 3  # days looked back for a recurring daily peak or trough
BULK_Q_MAX_SIGMAS = 3.3  # ... lying at most this many sigmas out: 1.64 for normal noise, 2.1-2.3 for t3 or Laplace


@dataclass
class _Judged:
    """Expected value, band and decisions on the regular grid."""

    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    fire: np.ndarray
    clear: np.ndarray
    known: np.ndarray
    period: int


@dataclass
class AutoResult(_Judged):
    times: np.ndarray  # datetime64[s]
    values: np.ndarray
    step_seconds: int


DAY = 86400
YEAR = 31556952  # the mean Gregorian year, in seconds
# Grids coarser than a day: a week, a mean month, a mean quarter, a mean year. Calendar months and
# quarters are 1-3 days off these mean steps, never half a step, so each lands in a bucket of its own.
COARSE_STEPS = (7 * DAY, YEAR // 12, YEAR // 4, YEAR)


def _nice_step(seconds: float) -> int:
    for step in (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, DAY):
        if seconds <= step * 1.25:
            return step
    if seconds < 5 * DAY:  # every 2, 3 or 4 days: whole days
        return int(round(seconds / DAY)) * DAY
    # weekly, monthly, quarterly, yearly: the nearest of these on a log scale
    return min(COARSE_STEPS, key=lambda step: abs(np.log(seconds / step)))


def regularize(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean of the points in each bucket of the series' own typical spacing; empty = NaN."""
    order = np.argsort(times)
    secs = times[order].astype("datetime64[s]").astype(np.int64)
    vals = values[order].astype(float)
    diffs = np.diff(secs)
    step = _nice_step(float(np.median(diffs[diffs > 0])) if (diffs > 0).any() else 3600.0)
    # Buckets start on multiples of the step; a coarse step (a mean month) starts a few days before the
    # first point instead, so the calendar's uneven months stay one to a bucket.
    start = secs[0] - secs[0] % step if step <= DAY else secs[0] - min(step // 2, 3 * DAY)
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
    by corr(p) − corr(p/2), not by corr(p) alone, after removing the series' slow level.
    """
    candidates = [p for p in (3600 // step, 86400 // step, 604800 // step) if p >= 4]
    if step >= 7 * DAY and round(YEAR / step) >= 4:  # weekly, monthly or quarterly points: the year (52, 12, 4 steps)
        candidates.append(int(round(YEAR / step)))
    if np.isnan(values).mean() < 0.5:
        # Fill gaps from their neighbours (not the overall median: weekend gaps in a drifting
        # daily series would look like a weekly season).
        have = np.nonzero(~np.isnan(values))[0]
        x = np.interp(np.arange(values.size), have, values[have]) if have.size else np.zeros(values.size)
    else:
        x = values[~np.isnan(values)]
    best, best_score = 0, 0.3
    for p in candidates:
        if len(x) < 3 * p:
            continue
        # Remove the slow level first (moving average over one candidate period), so a trend
        # or a yearly swing does not make every lag look alike.
        total = np.concatenate([[0.0], np.cumsum(x)])
        moving = (total[p:] - total[:-p]) / p  # mean of every window of p points
        y = x[p // 2 : p // 2 + moving.size] - moving
        y = y - np.median(y)
        at_period = _lag_correlation(y, p)
        score = at_period - _lag_correlation(y, p // 2)
        # A weekly lag also fits a purely daily season; a longer period must be clearly better.
        if at_period > 0.3 and score > best_score + (0.1 if best else 0.0):
            best, best_score = p, score
        elif best and at_period > 0.3 and _season_error(x, p) < 0.8 * _season_error(x, best):
            # A daily season with a different weekend: both lags correlate alike, but the
            # week predicts each point clearly better than the day before does.
            best, best_score = p, max(score, best_score)
    return best


def _season_error(x: np.ndarray, p: int) -> float:
    """Mean absolute change from one period earlier (a seasonal-naive forecast's error)."""
    return float(np.mean(np.abs(x[p:] - x[:-p])))


def _row_nanmedian(a: np.ndarray) -> np.ndarray:
    """Median of every row ignoring NaN (NaN for an empty row); a sort is far quicker than
    ``np.nanmedian`` on many short rows."""
    ordered = np.sort(a, axis=1)  # NaN last
    count = (~np.isnan(ordered)).sum(axis=1)
    rows = np.arange(a.shape[0])
    low = ordered[rows, np.clip((count - 1) // 2, 0, None)]
    high = ordered[rows, np.clip(count // 2, 0, a.shape[1] - 1)]
    return np.where(count > 0, (low + high) / 2.0, np.nan)


def _past_known_median(x: np.ndarray, m: int) -> np.ndarray:
    """``out[t]`` = median of the last ``m`` known values strictly before ``t`` (NaN with < 3)."""
    n = x.size
    out = np.full(n, np.nan)
    known_idx = np.nonzero(~np.isnan(x))[0]
    if known_idx.size < 3:
        return out
    kv = x[known_idx]
    padded = np.concatenate([np.full(m, np.nan), kv])
    windows = sliding_window_view(padded, m)  # windows[j] = kv[j-m:j], j = 0 .. kv.size
    count = (~np.isnan(windows)).sum(axis=1)
    med = _row_nanmedian(windows)
    med[count < 3] = np.nan
    before = np.searchsorted(known_idx, np.arange(n), side="left")  # known values before t
    return med[before]


def _seasonal_base(x: np.ndarray, ts: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and robust sigma of the same phase (± a few steps) in the last periods before each t."""
    # Pool neighbouring phases on fine grids (±7 minutes of a daily season in minute data).
    half = period // 200
    offsets = np.arange(-half, half + 1)
    lags = (period * np.arange(1, PERIODS_BACK + 1)[:, None] + offsets[None, :]).ravel()
    centre = np.full(ts.size, np.nan)
    spread = np.full(ts.size, np.nan)
    rows = max(1, 2_000_000 // lags.size)  # bounded memory on long minute-level series
    for lo in range(0, ts.size, rows):
        part = ts[lo : lo + rows]
        idx = part[:, None] - lags[None, :]
        samples = np.where(idx >= 0, x[np.clip(idx, 0, None)], np.nan)
        enough = (~np.isnan(samples)).sum(axis=1) >= 3 * offsets.size
        mid = _row_nanmedian(samples)
        dev = np.abs(samples - mid[:, None])
        mad = _row_nanmedian(dev)
        sigma = np.where(mad > 0, MAD_TO_SIGMA * mad, MEAN_AD_TO_SIGMA * np.nanmean(dev, axis=1))
        centre[lo : lo + rows] = np.where(enough, mid, np.nan)
        spread[lo : lo + rows] = np.where(enough, sigma, np.nan)
    return centre, spread


def _sigma(abs_dev: np.ndarray) -> float:
    """Robust sigma from absolute deviations; when most are exactly zero (sparse counts, a
    quantised gauge) the MAD says nothing, so the mean absolute deviation stands in.

    The MAD ignores whatever happens in less than half of the points, so a series that sits on
    one value most of the time and on another a fifth of the time (a quantised CPU gauge between
    two levels, a request count that drops every few minutes) would get a band as narrow as its
    quiet half and fire at every visit of the other value. The sigma is therefore at least the one
    that puts the 90th percentile of the deviations 3.3 sigmas out. Unimodal noise, even heavy
    tailed, has it nearer (1.64 sigmas for normal noise, about 2.2 for a Laplace or a Student t
    with 3 degrees of freedom), so the floor binds only for such mixtures: a regular visitor in the
    top tenth then stays inside the band, while rarer excursions still leave it."""
    if not (~np.isnan(abs_dev)).any():
        return float("nan")
    mad = float(np.nanmedian(abs_dev))
    base = MAD_TO_SIGMA * mad if mad > 0 else MEAN_AD_TO_SIGMA * float(np.nanmean(abs_dev))
    return max(base, float(np.nanquantile(abs_dev, BULK_Q)) / BULK_Q_MAX_SIGMAS)


def _log_unit(head: np.ndarray) -> float:
    """The unit of the log-like scale (``asinh(x / unit)``) for a skewed non-negative series, or 0.

    Skewed: the top decile sits more than twice as far above the median as the bottom decile
    below it, or at least a tenth of the points sit on the floor. Well above the unit the scale
    is logarithmic, below it linear: a series that is never zero gets a unit far below its
    smallest value (a drop to zero is then a huge fall); sparse counts get their typical non-zero
    value (zero, one and two are neighbours, not orders of magnitude apart)."""
    head = head[~np.isnan(head)]
    if head.size < 12 or head.min() < 0:
        return 0.0
    q10, q50, q90 = np.quantile(head, [0.1, 0.5, 0.9])
    if not (q90 - q50 > SKEW_RATIO * (q50 - q10) and q90 > q50):
        return 0.0
    positive = head[head > 0]
    if positive.size == head.size:
        return float(positive.min()) * 0.1
    return float(np.median(positive))


def _recurring_extremes(x: np.ndarray, step: int) -> tuple[np.ndarray, ...] | None:
    """The peak and the trough this time of day (± 1 hour) reaches day after day: each of the last
    RECUR_DAYS days gives its maximum (minimum) within an hour of t's time of day; returned are the
    median and the highest of the maxima, the median and the lowest of the minima (NaN where fewer
    than two days are known). None for steps above an hour.

    A nightly backup or cron job lifts a server metric at about the same time every night, a few
    minutes earlier or later, too briefly to make a daily season: without this every night fires."""
    day = 86400 // step
    if day < 24:
        return None
    half = max(1, 3600 // step)
    n = x.size
    padded = np.concatenate([np.full(half, np.nan), x, np.full(half, np.nan)])
    windows = sliding_window_view(padded, 2 * half + 1)  # windows[j] = x[j-half .. j+half]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        top, bottom = np.nanmax(windows, axis=1), np.nanmin(windows, axis=1)
        lagged_top = np.full((RECUR_DAYS, n), np.nan)
        lagged_bottom = np.full((RECUR_DAYS, n), np.nan)
        for d in range(1, RECUR_DAYS + 1):  # day d back: the window ends d days minus an hour ago
            lagged_top[d - 1, d * day :] = top[: n - d * day] if n > d * day else []
            lagged_bottom[d - 1, d * day :] = bottom[: n - d * day] if n > d * day else []
        enough = (~np.isnan(lagged_top)).sum(axis=0) >= 2
        hi = np.where(enough, np.nanmedian(lagged_top, axis=0), np.nan)
        highest = np.where(enough, np.nanmax(lagged_top, axis=0), np.nan)
        lo = np.where(enough, np.nanmedian(lagged_bottom, axis=0), np.nan)
        lowest = np.where(enough, np.nanmin(lagged_bottom, axis=0), np.nan)
    return hi, highest, lo, lowest


def _stuck(x: np.ndarray, warm: int, sensitivity: float) -> np.ndarray:
    """Runs of exactly repeated values much longer than any run the series showed before.

    Runs are counted over the known points, so a gap (a weekend of a business-day series, a
    missing bucket) neither ends nor extends one."""
    out = np.zeros(x.size, dtype=bool)
    where = np.nonzero(~np.isnan(x))[0]
    if where.size < 2:
        return out
    v = x[where]
    same = np.zeros(v.size, dtype=bool)
    same[1:] = v[1:] == v[:-1]
    idx = np.arange(v.size)
    last_break = np.maximum.accumulate(np.where(~same, idx, 0))
    run = idx - last_break + 1  # length of the run of equal values ending here
    longest_before = np.concatenate([[0], np.maximum.accumulate(run)[:-1]])
    # The limit is learned from the past only: frozen at the start of the run.
    limit = np.maximum(STUCK_MIN_RUN, np.ceil(2.0 * longest_before / sensitivity))[last_break]
    # A long run of zeros is an idle or sparse series (and a drop to zero is the band's job).
    stuck = (run >= limit) & (v != 0) & (longest_before[last_break] > 0) & (where >= warm)
    out[where] = stuck
    return out


def _judge(x: np.ndarray, step: int, warm: int, refit_every: int, sensitivity: float, logged: bool) -> _Judged:
    """Expected value, band and firing of every grid point of ``x`` (already on its scale)."""
    n = len(x)
    k = BASE_SIGMAS / sensitivity
    window = max(4 * warm, 300)
    period = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        # Without a season: the local level (median of the last few known points), so a trend
        # or a level shift is followed instead of compared with an old median.
        local = _past_known_median(x, SHORT)
        expected = local.copy()
        deviation = x - local
        phase_spread = np.full(n, np.nan)
        for begin in range(warm, n, refit_every):
            stop = min(begin + refit_every, n)
            period = find_period(x[:begin], step)
            if not period:
                continue
            ts = np.arange(begin, stop)
            # The same phase (± a few steps) in the last periods, each taken relative to the
            # local level of its own time: the profile is level-free, so a level shift is
            # followed as soon as the local level has moved (a few steps), with no overshoot
            # when the phases' medians catch up days later.
            base, spread = _seasonal_base(deviation, ts, period)
            ok = ~np.isnan(base) & ~np.isnan(local[ts])
            expected[ts[ok]] = local[ts[ok]] + base[ok]
            phase_spread[ts[ok]] = spread[ok]
        resid = np.abs(x - expected)
        scale = np.full(n, np.nan)
        chunk = max(12, min(refit_every, window // 4))
        for begin in range(warm, n, chunk):
            stop = min(begin + chunk, n)
            # On weekly or coarser grids the window spans decades: once a dozen points have been
            # judged, the warm-up's errors (made before the yearly season could be seen) leave it.
            first = warm if step >= 7 * DAY and begin - warm >= 12 else 0
            past = resid[max(first, begin - window) : begin]
            # The typical prediction error of the recent past. Without a season it is the scale,
            # floored by the point-to-point noise; with one, the spread of the point's own phase
            # is (nights are quieter than days), floored by the overall error (8 samples of a
            # phase can agree by chance).
            level_sigma = _sigma(past)
            noise = np.nanmedian(np.abs(np.diff(x[max(0, begin - window) : begin])))
            phase = phase_spread[begin:stop]
            base_scale = np.where(
                np.isnan(phase),
                np.maximum(np.nan_to_num(level_sigma), np.nan_to_num(noise)),
                np.maximum(phase, np.nan_to_num(level_sigma)),
            )
            relative = 0.01 if logged else 0.01 * np.abs(np.nan_to_num(expected[begin:stop]))
            scale[begin:stop] = np.maximum(base_scale, relative)
        raw_scale = np.where(scale > 0, scale, 1e-9)
        # Heavy tails: the band must be wide enough that the series' own past (judged points)
        # would rarely have crossed it: at least TAIL_MARGIN x its TAIL_Q quantile in sigmas
        # (a 95th percentile, so that a few past anomalies do not widen it).
        z = resid / raw_scale
        tail = np.ones(n)
        for begin in range(warm + window // 2, n, chunk):
            past_z = z[warm:begin]
            past_z = past_z[~np.isnan(past_z)][-20 * window :]
            if past_z.size >= 50:
                tail[begin : begin + chunk] = max(1.0, TAIL_MARGIN * float(np.quantile(past_z, TAIL_Q)) / BASE_SIGMAS)
    scale = np.where(np.isnan(scale), 1e-9, raw_scale * tail)
    lower, upper = expected - k * scale, expected + k * scale
    judged = np.arange(n) >= warm
    known = judged & ~np.isnan(x) & ~np.isnan(expected)
    stuck = _stuck(x, warm, sensitivity)
    with np.errstate(invalid="ignore"):
        outside = (x < lower) | (x > upper)
        extremes = _recurring_extremes(x, step)
        if extremes is not None:
            # An excursion the series makes at this time of most days (its usual peak or trough
            # this hour is itself outside the band) is no anomaly as long as it stays within the
            # recent days' highest peak (lowest trough) and a band; going beyond that still is.
            hi, highest, lo, lowest = extremes
            usual_up = (x > upper) & (hi > upper) & (x <= highest + k * scale)
            usual_down = (x < lower) & (lo < lower) & (x >= lowest - k * scale)
            outside &= ~(usual_up | usual_down)
        fire = (known & outside) | stuck
        clear = known & (np.abs(x - expected) <= 0.5 * k * scale) & ~stuck
    return _Judged(expected, lower, upper, fire, clear, known | stuck, period)


def auto_detect(times: np.ndarray, values: np.ndarray, *, sensitivity: float = 1.0, refit_every: int | None = None) -> AutoResult:
    """Judge every point of one series against a band built from its own past only."""
    grid_times, x, step = regularize(times, values)
    n = len(x)
    # Learn for three days (or half the series) before judging: a daily season must be seen
    # three times before it can be trusted. Weekly, monthly or quarterly points: three years, for
    # the same reason (judging earlier leaves the unseasoned errors in the band's past for years).
    seasons = round(YEAR / step) if step >= 7 * DAY else max(1, DAY // step)
    warm = max(12, min(3 * seasons, n // 2))
    refit_every = refit_every or max(12, n // 8)
    out = _judge(x, step, warm, refit_every, sensitivity, logged=False)
    # Skewed non-negative series (counts, volumes, latencies) vary by factors, not by amounts:
    # once enough of it has been seen, judge the rest on a log-like scale, asinh(x / unit).
    decide = max(warm, min(n // 2, DECIDE_POINTS))
    log_unit = _log_unit(x[:decide]) if decide < n else 0.0
    if log_unit:
        logged = _judge(np.arcsinh(x / log_unit), step, warm, refit_every, sensitivity, logged=True)
        later = np.arange(n) >= decide
        for name in ("expected", "lower", "upper"):
            back = log_unit * np.sinh(np.clip(getattr(logged, name), -700.0, 700.0))
            setattr(out, name, np.where(later, back, getattr(out, name)))
        for name in ("fire", "clear", "known"):
            setattr(out, name, np.where(later, getattr(logged, name), getattr(out, name)))
        out.period = logged.period
    return AutoResult(out.expected, out.lower, out.upper, out.fire, out.clear, out.known, out.period, times=grid_times,
                      values=x, step_seconds=step)


@dataclass
class AutoScore(Score):
    """A score of one series on its own grid (one column), with what ``auto`` found about it."""

    times: np.ndarray | None = None  # datetime64[s] of the grid
    period: int = 0  # the seasonal period found, in grid steps (0 = none)


class AutoScorer:
    """``auto`` as a scorer: the band and expectation of :func:`auto_detect`, with its firing
    points (outside the band, or stuck) as ``outside`` and the points not yet back within half
    the band as ``outside_relaxed``. Works on the hourly series of a view, or on one raw series
    at its own cadence (:meth:`score_series`, the custom-metric path)."""

    def score(self, view: SeriesView, cond: AutoCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        hours, width = view.values.shape
        first = resolver.panel.start
        start = np.datetime64((first.astimezone(UTC) if first.tzinfo else first).replace(tzinfo=None), "s")
        times = start + np.arange(hours) * np.timedelta64(3600, "s")
        # Refit the season daily (not every n/8 points): what is judged at hour t then does not
        # depend on how long the panel is, so a live window and a backtest agree.
        parts = [self.score_series(times, view.values[:, j], cond, refit_every=24) for j in range(width)]

        def stack(name: str, dtype: type = float) -> np.ndarray:
            if not parts:
                return np.zeros((hours, 0), dtype=dtype)
            return np.concatenate([getattr(p, name)[:hours] for p in parts], axis=1)

        return Score(view.values, stack("expected"), stack("lower"), stack("upper"), stack("known", bool),
                     stack("outside", bool), stack("outside_relaxed", bool))

    def score_series(self, times: np.ndarray, values: np.ndarray, cond: AutoCondition, *, refit_every: int | None = None) -> AutoScore:
        """Score one series (any cadence) on its regular grid: arrays are ``n × 1``."""
        result = auto_detect(times, values, sensitivity=cond.sensitivity, refit_every=refit_every)
        col = lambda a: a[:, None]  # noqa: E731
        return AutoScore(col(result.values), col(result.expected), col(result.lower), col(result.upper), col(result.known),
                         col(result.fire), col(~result.clear), times=result.times, period=result.period)
