"""Detectors as scorer + decider, each evaluated over every series of a view at once.

A **scorer** (:class:`Scorer`) turns a :class:`SeriesView` and a condition into a :class:`Score`:
per hour what it expected, its band (``lower``/``upper``), where the value is outside the band
(and outside the relaxed band that hysteresis keeps firing on), where it could be judged at all,
and evidence such as the count-aware surprise in sigmas and the volume behind the point. It
makes no decision.

A **decider** (:class:`Decider`) turns a score into a :class:`Decision` (``fire``, ``clear``,
``known``): it requires the rule's significance, the volume guard and the learning period
(``warmup``), and applies hysteresis. Persistence (``for``) and grouping into episodes happen
after it, in :mod:`episodes`. Any scorer can be paired with any decider; the pairs in use are
listed in :mod:`shopsentinel.detect.registry`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from shopsentinel.detect import onboarding
from shopsentinel.detect.baselines import (
    Baseline,
    few_sample_cv,
    usual_low,
)
from shopsentinel.detect.history import WEEKLY, HistorySpec, closed_expected, history_for, nan_like
from shopsentinel.detect.rules import (
    BeyondHistoryCondition,
    ChangeCondition,
    Condition,
    ForecastCoverCondition,
    SeasonalBandCondition,
    ThresholdCondition,
    ZScoreCondition,
)
from shopsentinel.detect.series import SeriesResolver, SeriesView, with_dispersion
from shopsentinel.detect.significance import count_surprise, extra_variation, robust_surprise

HYSTERESIS = 0.6  # a firing condition clears only when back within 60% of its threshold


@dataclass(frozen=True)
class EvidencePoint:
    """What one condition saw at one hour of one series: the figures an alert quotes.

    ``value``/``expected``/``lower``/``upper`` are those of the window the condition judged
    (``window`` hours: a 6-hour refund count, not the last hour's); ``volume`` is the count
    behind a ratio (its denominator: clicks behind a CPC, paid orders behind an AOV)."""

    metric: str
    type: str
    window: int
    value: float
    expected: float
    lower: float
    upper: float
    volume: float | None = None
    history_days: int | None = None  # beyond_history: the days its reference looks back on
    largest_unit: bool = False  # beyond_history: value and reference are implied largest units (one order)


Explain = Callable[[int, int], list[EvidencePoint]]


@dataclass
class Decision:
    fire: np.ndarray
    clear: np.ndarray
    known: np.ndarray
    value: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    # The evidence at (hour, column): for a compound, the figures of the conditions that made it
    # fire (every part of an ``all``, the firing alternative of an ``any``). Set by the evaluator.
    explain: Explain | None = None

    def evidence(self, at: int, col: int) -> list[EvidencePoint]:
        if self.explain is not None:
            return self.explain(at, col)
        return [EvidencePoint("", "", 1, float(self.value[at, col]), float(self.expected[at, col]),
                              float(self.lower[at, col]), float(self.upper[at, col]))]


@dataclass
class Score:
    """What a scorer saw at every point (T × S). No decision: see :class:`Decider`."""

    value: np.ndarray  # what is judged (the metric, or a model's anomaly score)
    expected: np.ndarray
    lower: np.ndarray  # the band shown to people (NaN = unbounded on that side)
    upper: np.ndarray
    known: np.ndarray  # where the point could be judged at all
    outside: np.ndarray  # beyond the band
    outside_relaxed: np.ndarray  # beyond the relaxed (hysteresis) band: still not back to normal
    surprise: np.ndarray | None = None  # evidence: count-aware surprise in sigmas (where outside)
    volume: np.ndarray | None = None  # evidence: expected count / denominator behind the point
    volume_floor: float = 0.0  # the smallest volume that can be judged at all
    learned: bool = False  # built from the series' own history: the rule's learning period applies

    @property
    def change_ratio(self) -> np.ndarray:
        """Evidence: value ÷ expected (NaN where nothing is expected)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.expected != 0, self.value / self.expected, np.nan)


C = TypeVar("C", bound=Condition, contravariant=True)


class Scorer(Protocol[C]):
    def score(self, view: SeriesView, cond: C, resolver: SeriesResolver, tail_hours: int) -> Score: ...


class Decider(Protocol):
    def decide(self, score: Score, cond: Condition) -> Decision: ...


@dataclass(frozen=True)
class StandardDecider:
    """Fire where the score is outside its band, the surprise reaches the rule's ``significance``,
    the volume passes ``min_expected`` and (for learned scores) the series is past ``warmup``;
    clear once back inside the relaxed band (or, with ``guard_clears``, once the volume guard or
    the significance no longer holds). Evidence a score does not carry is not required."""

    guard_clears: bool = True

    def decide(self, score: Score, cond: Condition) -> Decision:
        known = score.known
        with np.errstate(invalid="ignore"):
            if score.volume is not None:
                min_expected = max(float(getattr(cond, "min_expected", 0.0)), score.volume_floor)
                guard = np.nan_to_num(score.volume, nan=0.0) >= min_expected
            else:
                guard = np.ones(known.shape, dtype=bool)
            if score.surprise is not None:
                required = cond.required_surprise
                significant = np.nan_to_num(score.surprise, nan=0.0) >= required
                still = np.nan_to_num(score.surprise, nan=0.0) >= required * HYSTERESIS
            else:
                significant = still = np.ones(known.shape, dtype=bool)
        fire = score.outside & significant & guard & known
        warmup: float | None = getattr(cond, "warmup", None)
        if score.learned and warmup is not None:
            fire = fire & _past_warmup(score.value, warmup)
        holding = score.outside_relaxed & still & guard if self.guard_clears else score.outside_relaxed & still
        clear = known & ~holding
        return Decision(fire, clear, known, score.value, score.expected, score.lower, score.upper)


def _lumpiness(view: SeriesView, direction: str) -> np.ndarray | None:
    """The count series' pooled lumpiness (see :meth:`SeriesResolver.dispersion`, measured when its
    exclusions were), for rises only: lumpiness is a few big buyers, it makes spikes, not holes. A
    fall is judged against the hour's own day-to-day spread as before, so a traffic crash on a store
    with bursty hours is not explained away."""
    if direction != "up":
        return None
    pooled = view._cache.get("dispersion")
    if pooled is None or not np.isnan(pooled).any():
        return pooled
    if "dispersion_or_provisional" not in view._cache:
        view._cache["dispersion_or_provisional"] = np.where(np.isnan(pooled), onboarding.provisional_dispersion(view), pooled)
    return view._cache["dispersion_or_provisional"]


def _surprise(view: SeriesView, base: Baseline, daily: Baseline, direction: str, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(surprise in sigmas, volume) for the view's kind, computed where ``where`` is True."""
    if view.kind == "ratio" and view.numerator is not None and view.denominator is not None:
        floor = 1.0 / (np.maximum(base.samples, daily.samples) + 1.0)
        expected_num = np.maximum(view.denominator * base.expected, floor)
        # The rate's day-to-day spread, converted into extra variation of the numerator.
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(base.expected > 0, daily.spread / base.expected, np.nan)
        cv = few_sample_cv(extra_variation(expected_num, np.nan_to_num(cv, nan=0.0) * expected_num), daily.samples)
        return count_surprise(view.numerator, expected_num, cv, direction, where), view.denominator
    if view.kind == "count":
        cv = with_dispersion(few_sample_cv(extra_variation(base.expected, daily.spread), daily.samples),
                             _lumpiness(view, direction))
        # Seven quiet hours do not prove a rate of zero: floor it at 1/(n+1).
        floor = 1.0 / (np.maximum(base.samples, daily.samples) + 1.0)
        expected = np.where(np.isnan(base.expected), np.nan, np.maximum(base.expected, floor))
        return count_surprise(view.values, expected, cv, direction, where), base.expected
    # Amounts and gauges: the robust spread of few days is widened the same way (as a share of the level).
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(np.abs(base.expected) > 0, np.nan_to_num(daily.spread, nan=0.0) / np.abs(base.expected), 0.0)
    widened = np.where(daily.samples < 7, few_sample_cv(rel, daily.samples) * np.abs(base.expected), daily.spread)
    return robust_surprise(view.values, base.expected, widened, direction), np.abs(base.expected)


class ChangeScorer:
    """Relative change against a baseline (previous day, same hour of the last N days or weeks,
    previous period), e.g. "UV down more than 50% versus yesterday"."""

    def score(self, view: SeriesView, cond: ChangeCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        exclude = resolver.exclusion(view, tail_hours)
        base, daily = history_for(view, HistorySpec.of(cond), view.values, exclude)
        direction = cond.direction
        expected, x = base.expected, view.values
        if cond.ratio is not None:
            factor = cond.ratio
        else:
            assert cond.change is not None
            factor = 1 - cond.change if direction == "down" else 1 + cond.change
        if direction == "down":
            crossed = x <= factor * expected
            relaxed = x <= (1 - (1 - factor) * HYSTERESIS) * expected
            lower, upper = factor * expected, nan_like(x)
        elif direction == "up":
            crossed = x >= factor * expected
            relaxed = x >= (1 + (factor - 1) * HYSTERESIS) * expected
            lower, upper = nan_like(x), factor * expected
        else:
            change = cond.change or abs(factor - 1)
            crossed = np.abs(x - expected) >= change * np.abs(expected)
            relaxed = np.abs(x - expected) >= change * HYSTERESIS * np.abs(expected)
            lower, upper = (1 - change) * expected, (1 + change) * expected
        crossed &= _weekly_agrees(view, cond, exclude, lambda e: _crossed(x, e, direction, factor, cond.change))
        if cond.baseline == "previous_day":
            # Like with like: yesterday stands for the usual day only if the recent days agree. After a
            # livestream evening (or before the weekly history knows it) the same hour of the last
            # week's days must show the move too, so "down 60% on yesterday's 5× evening" is no crash.
            # Once two weeks know this hour, they stand for the usual day as well: a crash on a weekly
            # livestream evening is judged against past stream evenings, not the week's median evening.
            weeks = history_for(view, WEEKLY, view.values, exclude)[0]
            crossed &= (np.isnan(daily.expected) | _crossed(x, daily.expected, direction, factor, cond.change)
                        | ((weeks.samples >= 2) & _crossed(x, weeks.expected, direction, factor, cond.change)))
        crossed &= _moved(x, expected, direction)
        crossed &= _not_a_regular_closure(view, exclude, x, expected, direction)
        return _band_score(view, base, daily, crossed, relaxed, lower, upper, direction)


def _not_a_regular_closure(view: SeriesView, exclude: np.ndarray, x: np.ndarray, expected: np.ndarray, direction: str) -> np.ndarray:
    """A fall is no news in an hour the store is expected to be closed (its weekly closed day, its
    nights, its declared closing hours): there the expectation is zero. Rises are still judged."""
    if direction == "up":
        return np.ones(x.shape, dtype=bool)
    activity = view.denominator if view.kind == "ratio" and view.denominator is not None else view.values
    weeks = history_for(view, WEEKLY, view.values, exclude)[0]
    closed = closed_expected(view, exclude) | onboarding.possible_day_off(activity, weeks.samples)
    if direction == "down":
        return ~closed
    with np.errstate(invalid="ignore"):
        return ~(closed & (x < expected))


def _moved(x: np.ndarray, expected: np.ndarray, direction: str) -> np.ndarray:
    """A rise is above what was expected (and above zero), a fall below it: with nothing expected,
    0 is not "300% of expected", and 0 refunds are never a refund surge."""
    with np.errstate(invalid="ignore"):
        if direction == "up":
            return (x > expected) & (x > 0)
        if direction == "down":
            return x < expected
        return x != expected


def _crossed(x: np.ndarray, expected: np.ndarray, direction: str, factor: float, change: float | None) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if direction == "down":
            return x <= factor * expected
        if direction == "up":
            return x >= factor * expected
        return np.abs(x - expected) >= (change or abs(factor - 1)) * np.abs(expected)


def _weekly_agrees(view: SeriesView, cond: ChangeCondition | ZScoreCondition, exclude: np.ndarray,
                   test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Where a daily baseline says "anomaly", check the same hour in the previous weeks agrees (where
    there is at least one such week to ask): like with like when the week matters. Agreeing means a
    move against the weekly expectation too — with the rule's volume guard and significance for
    counts — so 0 visitors on the usual closed Sunday
    (2 expected) is not a traffic crash, and 0 orders there is not "at most 50% of 0"."""
    if not cond.weekly_check or cond.baseline in ("hour_of_week", "previous_period"):
        return np.ones(view.values.shape, dtype=bool)
    base, daily = history_for(view, WEEKLY, view.values, exclude)
    x = view.values
    agrees = test(base.expected) & _moved(x, base.expected, cond.direction)
    if view.kind == "count":
        expected = np.nan_to_num(base.expected, nan=0.0)
        agrees &= expected >= cond.min_expected
        if cond.required_surprise > 0:
            cv = with_dispersion(few_sample_cv(extra_variation(base.expected, daily.spread), daily.samples),
                                 _lumpiness(view, cond.direction))
            floor = 1.0 / (base.samples + 1.0)
            surprise = count_surprise(x, np.maximum(base.expected, floor), cv, cond.direction, where=agrees)
            agrees &= np.nan_to_num(surprise, nan=0.0) >= cond.required_surprise
    return (base.samples < 1) | np.isnan(base.expected) | agrees


class ZScoreScorer:
    """Outside mean ± k·σ of the same hour over the last N days (R3.2's "−2σ" rule)."""

    def score(self, view: SeriesView, cond: ZScoreCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        exclude = resolver.exclusion(view, tail_hours)
        base, daily = history_for(view, HistorySpec.of(cond), view.values, exclude)
        assert cond.sigmas is not None
        k, x = cond.sigmas, view.values
        lower, upper = base.expected - k * base.spread, base.expected + k * base.spread
        if cond.direction == "down":
            crossed, relaxed = x < lower, x < base.expected - k * HYSTERESIS * base.spread
            upper = nan_like(x)
        elif cond.direction == "up":
            crossed, relaxed = x > upper, x > base.expected + k * HYSTERESIS * base.spread
            lower = nan_like(x)
        else:
            crossed = (x < lower) | (x > upper)
            relaxed = np.abs(x - base.expected) > k * HYSTERESIS * base.spread
        if cond.change is not None:
            change = cond.change
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.abs(x - base.expected) / np.abs(base.expected)
            crossed = crossed & (rel >= change)
            factor = 1 - change if cond.direction == "down" else 1 + change
            crossed &= _weekly_agrees(view, cond, exclude, lambda e: _crossed(x, e, cond.direction, factor, change))
        crossed &= _not_a_regular_closure(view, exclude, x, base.expected, cond.direction)
        return _band_score(view, base, daily, crossed, relaxed, lower, upper, cond.direction)


class SeasonalBandScorer:
    """Robust hour-of-week band in local time: median ± k·MAD of the same hour in past weeks."""

    def score(self, view: SeriesView, cond: SeasonalBandCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        exclude = resolver.exclusion(view, tail_hours)
        base, daily = history_for(view, HistorySpec("hour_of_week", cond.history, "median"), view.values, exclude)
        k = cond.sigmas or 4.0
        x = view.values
        scale = np.maximum(np.nan_to_num(base.spread), 0.05 * np.abs(np.nan_to_num(base.expected)))
        lower, upper = base.expected - k * scale, base.expected + k * scale
        if cond.direction == "down":
            crossed, relaxed, upper = x < lower, x < base.expected - k * HYSTERESIS * scale, nan_like(x)
        elif cond.direction == "up":
            crossed, relaxed, lower = x > upper, x > base.expected + k * HYSTERESIS * scale, nan_like(x)
        else:
            crossed = (x < lower) | (x > upper)
            relaxed = np.abs(x - base.expected) > k * HYSTERESIS * scale
        if cond.change is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                crossed = crossed & (np.abs(x - base.expected) >= cond.change * np.abs(base.expected))
        crossed &= _not_a_regular_closure(view, exclude, x, base.expected, cond.direction)
        return _band_score(view, base, daily, crossed, relaxed, lower, upper, cond.direction)


class ThresholdScorer:
    """Static bounds (R3.1), optionally with the surprise against the series' own normal level
    as evidence, so a 20% failure rate on 5 attempts is not a page."""

    def score(self, view: SeriesView, cond: ThresholdCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        x = view.values
        crossed = np.zeros(x.shape, dtype=bool)
        relaxed = np.zeros(x.shape, dtype=bool)
        lower = np.full(x.shape, cond.below if cond.below is not None else np.nan)
        upper = np.full(x.shape, cond.above if cond.above is not None else np.nan)
        with np.errstate(invalid="ignore"):
            if cond.above is not None:
                crossed |= x > cond.above
                relaxed |= x > cond.above * (1 - 0.1 * HYSTERESIS) if cond.above > 0 else x > cond.above
            if cond.below is not None:
                crossed |= x < cond.below
                relaxed |= x < cond.below * (1 + 0.1 * HYSTERESIS) if cond.below > 0 else x < cond.below
        crossed = crossed & _below_usual_low(view, cond.below_usual_low)
        if cond.required_surprise > 0 or cond.min_expected > 0:
            exclude = resolver.exclusion(view, tail_hours)
            base, daily = history_for(view, HistorySpec.of(cond), x, exclude)
            direction = "up" if cond.above is not None else "down"
            score = _band_score(view, base, daily, crossed, relaxed, lower, upper, direction)
            # A fixed threshold fires from the first point: the store's own level, while there is
            # none yet, does not stand in the way (the volume guard still does).
            fresh = np.isnan(base.expected) & ~np.isnan(x)
            score.known = ~np.isnan(x)
            if score.surprise is not None:
                score.surprise = np.where(fresh, onboarding.fresh_surprise(view, cond, fresh), score.surprise)
            if score.volume is not None and view.kind != "ratio":
                score.volume = np.where(fresh, x, score.volume)
            score.learned = False
            return score
        known = ~np.isnan(x)
        return Score(x, nan_like(x), lower, upper, known, crossed, relaxed)


class ForecastCoverScorer:
    """Days of stock cover (stock ÷ forecast daily demand) below a number of days; the demand is
    the volume behind it."""

    def score(self, view: SeriesView, cond: ForecastCoverCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        assert cond.cover_days_below is not None
        cover = view.values
        demand = view.denominator if view.denominator is not None else nan_like(cover)
        with np.errstate(invalid="ignore"):
            crossed = (cover < cond.cover_days_below) & _below_usual_low(view, cond.below_usual_low)
            relaxed = cover < cond.cover_days_below * 1.25
        known = ~np.isnan(cover)
        lower = np.full(cover.shape, cond.cover_days_below)
        return Score(cover, demand, lower, nan_like(cover), known, crossed, relaxed,
                     volume=demand, volume_floor=1e-9, learned=True)


class BeyondHistoryScorer:
    """Far beyond anything the series has shown: the value is at least ``multiple`` times the
    highest value of the previous ``history`` days (e.g. an hour's average order value 5× the
    highest hourly AOV of the last 28 days: a price or quantity typo, or fraud).

    The reference is the maximum of the previous days' maxima (whole days before the hour's day,
    so it is causal); hours that were themselves beyond their reference are left out of it, so one
    giant order does not hide the next. No expectation of rhythm is needed: the store's own
    extreme is the bar, which makes the rule quiet on lumpy and seasonal stores alike."""

    def score(self, view: SeriesView, cond: BeyondHistoryCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        x = largest_unit(view) if cond.largest_unit else view.values
        hours, width = x.shape
        days = -(-hours // 24)
        padded = np.full((days * 24, width), np.nan)
        padded[:hours] = x
        by_day = padded.reshape(days, 24, width)
        kept_max = np.full((days, width), np.nan)
        reference = np.full((days, width), np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN slices
            for d in range(days):
                past = kept_max[max(0, d - cond.history):d]
                ref = np.nanmax(past, axis=0) if past.shape[0] else np.full(width, np.nan)
                ref = np.where(ref > 0, ref, np.nan)
                reference[d] = ref
                beyond = by_day[d] >= cond.multiple * ref
                kept_max[d] = np.nanmax(np.where(beyond, np.nan, by_day[d]), axis=0)
        expected = np.repeat(reference, 24, axis=0)[:hours]
        upper = cond.multiple * expected
        with np.errstate(invalid="ignore"):
            crossed = x >= upper
            relaxed = x >= (1 + (cond.multiple - 1) * HYSTERESIS) * expected
        known = ~np.isnan(x) & ~np.isnan(expected)
        volume = view.denominator if view.kind == "ratio" else None
        return Score(x, expected, nan_like(x), upper, known, crossed & known, relaxed & known,
                     volume=volume, learned=True)


UNIT_VALUE_DAYS = 7  # the usual value per unit is pooled over this many days before the hour


def largest_unit(view: SeriesView) -> np.ndarray:
    """The implied largest unit of each window of a per-unit ratio (T × S, causal): the numerator
    minus (denominator − 1) units at the usual value per unit (Σ numerator ÷ Σ denominator of the
    previous :data:`UNIT_VALUE_DAYS` days). Where one order is far beyond the rest it is that order's
    value, give or take the spread of the others; with a single unit it is exactly that unit. Other
    views (no numerator and denominator) are returned as they are."""
    if view.kind != "ratio" or view.numerator is None or view.denominator is None:
        return view.values
    cached = view._cache.get("largest_unit")
    if cached is not None:
        return cached
    num, den = view.numerator, view.denominator
    span = 24 * UNIT_VALUE_DAYS
    width = num.shape[1]
    known = ~np.isnan(num) & ~np.isnan(den)
    sums = []
    for series in (np.where(known, num, 0.0), np.where(known, den, 0.0)):
        csum = np.vstack([np.zeros((1, width)), np.cumsum(series, axis=0)])
        t = np.arange(num.shape[0])
        sums.append(csum[t] - csum[np.clip(t - span, 0, None)])  # the span of hours before t
    with np.errstate(invalid="ignore", divide="ignore"):
        usual = np.where(sums[1] > 0, sums[0] / sums[1], np.nan)
        implied = np.where(den > 0, num - (den - 1.0) * usual, np.nan)
    view._cache["largest_unit"] = implied
    return implied


def _past_warmup(values: np.ndarray, warmup_hours: float) -> np.ndarray:
    """True once each series has been reporting for ``warmup_hours`` (a new store's learning period)."""
    present = ~np.isnan(values)
    first = np.where(present.any(axis=0), np.argmax(present, axis=0), values.shape[0])
    return np.arange(values.shape[0])[:, None] >= first[None, :] + int(warmup_hours)


def _below_usual_low(view: SeriesView, below_usual_low: float | None) -> np.ndarray:
    """True where the value is under the series' usual low point. While the usual low is not yet
    known (fewer than 5 days of minima) the condition cannot be met: "lower than this SKU usually
    gets" is no claim a first decline after onboarding can support (a stock-out still raises the
    sold-out rule, which asks no history)."""
    if below_usual_low is None:
        return np.ones(view.values.shape, dtype=bool)
    key = -1  # cached per view: the usual low does not depend on the rule
    if key not in view._exclude:
        view._exclude[key] = usual_low(view.values)
    low = view._exclude[key]
    with np.errstate(invalid="ignore"):
        return ~np.isnan(low) & (view.values < below_usual_low * low)


def _band_score(
    view: SeriesView,
    base: Baseline,
    daily: Baseline,
    crossed: np.ndarray,
    relaxed: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    direction: str,
) -> Score:
    """A baseline score with its evidence: the surprise (where outside the relaxed band) and volume."""
    surprise, volume = _surprise(view, base, daily, direction, where=crossed | relaxed)
    known = ~np.isnan(view.values) & ~np.isnan(base.expected)
    return Score(view.values, base.expected, lower, upper, known, crossed, relaxed,
                 surprise=surprise, volume=volume, learned=True)
