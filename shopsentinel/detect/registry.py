"""The detector registry: every rule ``type`` that detects, with its scorer, its default decider
and an example condition. Built here, in one place; nothing registers itself on import.

To add a detector: write its condition model in :mod:`rules` (and add it to the
``_ConditionUnion`` there), write a :class:`~shopsentinel.detect.detectors.Scorer`, and add one
line to :data:`REGISTRY`. The conformance suite (``tests/detect/test_detector_conformance.py``)
runs over this dict, so the new detector is checked automatically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from shopsentinel.detect.auto import AutoScorer
from shopsentinel.detect.detectors import (
    BeyondHistoryScorer,
    ChangeScorer,
    Decider,
    Decision,
    ForecastCoverScorer,
    Scorer,
    SeasonalBandScorer,
    StandardDecider,
    ThresholdScorer,
    ZScoreScorer,
)
from shopsentinel.detect.models import EtsScorer, IsolationForestScorer
from shopsentinel.detect.rules import (
    CONDITION_MODELS,
    AutoCondition,
    BeyondHistoryCondition,
    ChangeCondition,
    Condition,
    EtsCondition,
    ForecastCoverCondition,
    IsolationForestCondition,
    SeasonalBandCondition,
    ThresholdCondition,
    ZScoreCondition,
)
from shopsentinel.detect.series import SeriesResolver, SeriesView

C = TypeVar("C", bound=Condition)


@dataclass(frozen=True)
class DetectorSpec(Generic[C]):
    """One registered detector: its condition model, scorer, default decider, and an example
    condition (the fields after ``metric`` and ``type``) for documentation and the conformance
    suite. ``example_metric`` is a metric the example makes sense on."""

    condition: type[C]
    scorer: Scorer[C]
    decider: Decider = StandardDecider()
    example: dict[str, Any] = field(default_factory=dict)
    example_metric: str = "orders"

    def example_condition(self, metric: str | None = None, **overrides: Any) -> C:
        type_ = CONDITION_MODELS_BY_CLASS[self.condition]
        return self.condition.model_validate({"metric": metric or self.example_metric, "type": type_, **self.example, **overrides})


CONDITION_MODELS_BY_CLASS: dict[type[Condition], str] = {model: name for name, model in CONDITION_MODELS.items()}

REGISTRY: dict[str, DetectorSpec[Any]] = {
    "threshold": DetectorSpec(ThresholdCondition, ThresholdScorer(), example={"above": 150}),
    "change": DetectorSpec(ChangeCondition, ChangeScorer(), example={"direction": "both", "change": 0.5, "significance": 4}),
    "zscore": DetectorSpec(ZScoreCondition, ZScoreScorer(), example={"sigmas": 4, "change": 0.3, "significance": 4}),
    "seasonal_band": DetectorSpec(SeasonalBandCondition, SeasonalBandScorer(), example={"sigmas": 4, "history": 3}),
    "forecast_cover": DetectorSpec(ForecastCoverCondition, ForecastCoverScorer(), example={"cover_days_below": 3, "min_expected": 1},
                                   example_metric="stock_cover_days"),
    "beyond_history": DetectorSpec(BeyondHistoryCondition, BeyondHistoryScorer(),
                                   example={"history": 28, "multiple": 3, "warmup": "7d", "min_expected": 1},
                                   example_metric="aov"),
    "ets": DetectorSpec(EtsCondition, EtsScorer(), StandardDecider(guard_clears=False), example={"sigmas": 4}),
    "isolation_forest": DetectorSpec(IsolationForestCondition, IsolationForestScorer(),
                                     example={"features": ["conversion_rate", "aov", "payment_failure_rate"]},
                                     example_metric="conversion_rate"),
    "auto": DetectorSpec(AutoCondition, AutoScorer(), example={"sensitivity": 1.0}),
}
"""Rule ``type`` → detector. Condition types not listed here (``event``) are parsed but never detect."""


def detect(view: SeriesView, cond: Condition, resolver: SeriesResolver, tail_hours: int) -> Decision:
    """Score ``view`` with the condition's detector and decide with its default decider."""
    spec = REGISTRY[cond.type]
    if not isinstance(cond, spec.condition):
        raise TypeError(f"a {cond.type!r} detector needs a {spec.condition.__name__}, not {type(cond).__name__}")
    return spec.decider.decide(spec.scorer.score(view, cond, resolver, tail_hours), cond)
