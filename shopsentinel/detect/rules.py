"""The rule language: YAML files validated into :class:`Rule` objects.

A rule names a metric condition (or a compound of conditions across metrics), a severity,
persistence (``for``), hysteresis (``keep_firing_for``), volume guards, calendar behaviour and
who is notified. Errors name the file, the rule and the field::

    rules.yaml, rule 'orders.burst', field 'when.ratio': Input should be a valid number
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shopsentinel.core.errors import RuleError
from shopsentinel.core.types import Severity

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_HOURS = {"s": 1 / 3600, "m": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0}


def parse_hours(value: Any) -> float:
    """``"90m"`` → 1.5, ``"2h"`` → 2, ``"3d"`` → 72; bare numbers are hours."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration like 30m, 2h, 3d or 1w")
    return float(match.group(1)) * _UNIT_HOURS[match.group(2)]


Hours = Annotated[float, BeforeValidator(parse_hours)]
EventKind = Literal["promotion", "holiday", "maintenance"]


DEFAULT_WARMUP_HOURS = 3 * 24.0
"""Dynamic rules start after about 3 days, with honestly wider bands while history is short."""


class Localized(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: str
    en: str

    def text(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


class Condition(BaseModel):
    """What every condition has: the metric, its detector ``type`` and the window it is judged on.

    Each detector type has its own model below (``ChangeCondition``, ``ThresholdCondition``…),
    gathered in :data:`AnyCondition`, a union discriminated by ``type``: a field that does not
    belong to the type is rejected (``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid")
    metric: str
    type: str  # each type's model narrows it to its Literal
    window: Hours = 1.0
    also_windows: list[Hours] = Field(
        default_factory=list,
        description="extra windows judged the same way (any may fire): a small store's drop is "
        "only significant summed over several hours, a big store's within one",
    )
    demand_days: int = Field(default=14, ge=1, le=90, description="days of demand behind stock_cover_days")
    exposure: Hours | None = Field(
        default=None,
        description="ratios: the denominator summed over this many hours (at least the window) and scaled "
        "to the window — what the numerator comes from when it lags it: today's refunds are of the orders "
        "of the last days, so a quiet day after a busy one is no refund surge",
    )

    @property
    def required_surprise(self) -> float:
        """Count-aware surprise a decision requires, in sigmas (0 = none)."""
        significance: float | None = getattr(self, "significance", None)
        if significance is not None:
            return significance
        return 0.0 if self.type in ("threshold", "forecast_cover") else 4.0


Direction = Literal["up", "down", "both"]
BaselineKind = Literal["previous_day", "same_hour", "hour_of_week", "previous_period"]


class _Directional(Condition):
    direction: Direction = "both"


class _Guarded(Condition):
    min_expected: float = Field(default=0.0, ge=0, description="volume guard: expected count or denominator")
    warmup: Hours = Field(
        default=DEFAULT_WARMUP_HOURS,
        description="learning period: baseline rules stay silent until a series has this much history, "
        "then judge with the history they have and honestly wider bands that tighten as days and weeks accrue",
    )


class _Significant(_Guarded):
    significance: float | None = Field(default=None, ge=0, description="count-aware surprise required, in sigmas (default 4; 0 for thresholds)")


class _History(Condition):
    history: int = Field(default=7, ge=1, le=60, description="periods of history (days, or weeks for hour_of_week)")


class _Baseline(_History):
    baseline: BaselineKind = "same_hour"
    agg: Literal["mean", "median"] = "median"


class _WeeklyChecked(_Baseline):
    weekly_check: bool = Field(
        default=True,
        description="daily baselines: also require the move against the same hour of past weeks, "
        "so a weekly routine (Tuesday's livestream, the Sunday lull) is not an anomaly",
    )


class _UsualLow(Condition):
    below_usual_low: float | None = Field(
        default=None, gt=0, le=1,
        description="also require the value to be below this fraction of the series' usual low "
        "(the lowest of its daily minima over 6 weeks): a SKU whose stock routinely dips "
        "to 5 days of cover before each restock does not page at 7",
    )


class ThresholdCondition(_Significant, _Baseline, _UsualLow):
    """Static bounds, optionally significant against the series' own level."""

    type: Literal["threshold"]
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdCondition:
        if self.above is None and self.below is None:
            raise ValueError("a threshold needs 'above' or 'below'")
        return self


class ChangeCondition(_Directional, _Significant, _WeeklyChecked):
    """Relative change against a baseline."""

    type: Literal["change"]
    change: float | None = Field(default=None, gt=0, description="relative change, 0.5 = 50%")
    ratio: float | None = Field(default=None, gt=0, description="value vs expected multiple, 2.0 = 200%")

    @model_validator(mode="after")
    def _amount(self) -> ChangeCondition:
        if self.change is None and self.ratio is None:
            raise ValueError("a change detector needs 'change' or 'ratio'")
        if self.direction == "both" and self.ratio is not None:
            raise ValueError("a ratio change needs direction 'up' or 'down'")
        return self


class ZScoreCondition(_Directional, _Significant, _WeeklyChecked):
    """Outside mean ± k·σ of the same hour over the last N days."""

    type: Literal["zscore"]
    sigmas: float | None = Field(default=None, gt=0)
    change: float | None = Field(default=None, gt=0, description="also require this relative change, 0.5 = 50%")

    @model_validator(mode="after")
    def _sigmas(self) -> ZScoreCondition:
        if self.sigmas is None:
            raise ValueError("a zscore detector needs 'sigmas'")
        return self


class SeasonalBandCondition(_Directional, _Significant, _History):
    """Robust hour-of-week band (``history`` weeks)."""

    type: Literal["seasonal_band"]
    sigmas: float | None = Field(default=None, gt=0, description="band width in robust sigmas (default 4)")
    change: float | None = Field(default=None, gt=0, description="also require this relative change")


class ForecastCoverCondition(_Guarded, _UsualLow):
    """Days of stock cover below a number of days."""

    type: Literal["forecast_cover"]
    cover_days_below: float | None = None

    @model_validator(mode="after")
    def _days(self) -> ForecastCoverCondition:
        if self.cover_days_below is None:
            raise ValueError("forecast_cover needs 'cover_days_below'")
        return self


class BeyondHistoryCondition(_Guarded):
    """Far beyond anything the series has shown: at least ``multiple`` times its highest value of
    the previous ``history`` days (a giant order: a price or quantity typo, or fraud)."""

    type: Literal["beyond_history"]
    history: int = Field(default=28, ge=1, le=90, description="days of history whose highest value is the reference")
    multiple: float = Field(default=3.0, gt=1, description="how many times the reference the value must reach")
    largest_unit: bool = Field(
        default=False,
        description="for a value per unit (per order: AOV), judge the implied largest unit of the window instead "
        "of the average: numerator − (denominator − 1) × the usual value per unit of the last 7 days. One giant "
        "order among 20 ordinary ones barely moves an hour's average, but it is the whole of this figure",
    )


class EtsCondition(_Directional):
    """Outside an ETS (Holt-Winters) prediction interval."""

    type: Literal["ets"]
    sigmas: float | None = Field(default=None, gt=0, description="interval width in sigmas (default 4)")
    sensitivity: float = Field(default=1.0, gt=0)
    min_expected: float = Field(default=0.0, ge=0, description="volume guard: expected level")


class IsolationForestCondition(Condition):
    """Unusual combinations of a store's metrics."""

    type: Literal["isolation_forest"]
    sensitivity: float = Field(default=1.0, gt=0)
    features: list[str] = Field(default_factory=list)


class AutoCondition(Condition):
    """Self-configuring detector (seasonality and band found by itself)."""

    type: Literal["auto"]
    sensitivity: float = Field(default=1.0, gt=0)


class EventCondition(Condition):
    """A marker for calendar events: parsed, never evaluated by a detector."""

    type: Literal["event"]


_ConditionUnion = (
    ThresholdCondition | ChangeCondition | ZScoreCondition | SeasonalBandCondition | ForecastCoverCondition
    | BeyondHistoryCondition | EtsCondition | IsolationForestCondition | AutoCondition | EventCondition
)
CONDITION_MODELS: dict[str, type[Condition]] = {
    get_args(model.model_fields["type"].annotation)[0]: model for model in get_args(_ConditionUnion)
}
"""The condition model of every ``type`` (derived from the union: add a new model there)."""

# Defaults of the former flat condition model. Packs dumped with every default spelled out
# (the web editor's YAML, stored API packs) carry them on every type; such a field is dropped
# when it has exactly this value and does not belong to the type; any other value is rejected.
_LEGACY_DEFAULTS: dict[str, Any] = {
    "direction": "both", "baseline": "same_hour", "history": 7, "agg": "median", "weekly_check": True,
    "warmup": 8 * 24.0, "min_expected": 0.0, "demand_days": 14, "sensitivity": 1.0, "features": [],
    "also_windows": [], "window": 1.0,
}


def _drop_legacy_defaults(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    model = CONDITION_MODELS.get(str(value.get("type")))
    if model is None:
        return value
    foreign = [k for k, v in value.items() if k not in model.model_fields and k in _LEGACY_DEFAULTS and v == _LEGACY_DEFAULTS[k]]
    return {k: v for k, v in value.items() if k not in foreign} if foreign else value


def _untagged(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate through the discriminated union, then drop the tag (``'change'``) that pydantic puts
    into each error's location, so errors keep naming the field (``when.ratio``) as they always
    did; a field of another type gets a message that says so."""
    try:
        return handler(_drop_legacy_defaults(value))
    except ValidationError as exc:
        kind = str(value.get("type")) if isinstance(value, dict) else ""
        errors: list[InitErrorDetails] = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            if loc and loc[0] in CONDITION_MODELS:
                loc = loc[1:]
            error_type: Any = e["type"]
            if e["type"] == "extra_forbidden" and kind in CONDITION_MODELS and len(loc) == 1:
                fields = ", ".join(f for f in CONDITION_MODELS[kind].model_fields if f != "type")
                error_type = PydanticCustomError(
                    "extra_forbidden", "'{field}' is not a field of a '{kind}' condition (its fields: {fields})",
                    {"field": str(loc[0]), "kind": kind, "fields": fields},
                )
            detail = InitErrorDetails(type=error_type, loc=loc, input=e["input"])
            if "ctx" in e and isinstance(error_type, str):
                detail["ctx"] = e["ctx"]
            errors.append(detail)
        raise ValidationError.from_exception_data(exc.title, errors) from None


AnyCondition = Annotated[_ConditionUnion, Field(discriminator="type"), WrapValidator(_untagged)]
"""A condition of any type, parsed by its ``type`` (a pydantic discriminated union)."""


class Compound(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    all: list[AnyCondition | Compound] | None = None
    any: list[AnyCondition | Compound] | None = None
    not_: AnyCondition | Compound | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_operator(self) -> Compound:
        given = [x for x in (self.all, self.any, self.not_) if x is not None]
        if len(given) != 1:
            raise ValueError("a compound condition needs exactly one of 'all', 'any' or 'not'")
        return self

    def conditions(self) -> list[AnyCondition]:
        out: list[AnyCondition] = []
        for part in (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else []):
            out += part.conditions() if isinstance(part, Compound) else [part]
        return out


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platforms: list[str] = Field(default_factory=list)
    stores: list[str] = Field(default_factory=list)
    skus: list[str] = Field(default_factory=list)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    name: Localized
    description: Localized | None = None
    severity: Severity
    category: str | None = None
    mode: Literal["alert", "task"] = "alert"
    kind: Literal["business", "data"] = "business"
    when: AnyCondition | Compound
    for_: Hours = Field(default=1.0, alias="for")
    keep_firing_for: Hours = 2.0
    scope: Scope = Field(default_factory=Scope)
    during_events: Literal["mute", "active", "expect"] = "mute"
    event_expectation: float = Field(
        default=1.0, gt=0,
        description="with during_events: expect — the metric is expected this many times its usual "
        "level during events (e.g. 3.0 for traffic in a promotion), instead of muting the rule",
    )
    # Every announced kind by default: a 春节 or Christmas lull is as expected as a 双11 peak.
    event_kinds: list[EventKind] = Field(default_factory=lambda: list[EventKind](["promotion", "holiday", "maintenance"]))
    event_tail: Hours = 0.0
    notify: list[str] = Field(default_factory=list)
    enabled: bool = True
    version: int = 1
    runbook: Localized | None = None

    @property
    def metric(self) -> str:
        return self.when.metric if isinstance(self.when, Condition) else self.when.conditions()[0].metric

    def conditions(self) -> list[AnyCondition]:
        return [self.when] if isinstance(self.when, Condition) else self.when.conditions()


class RulePack(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    rules: list[Rule]

    def enabled(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def get(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def _error_location(raw: dict[str, Any], loc: tuple[int | str, ...]) -> tuple[str | None, str]:
    rule_id = None
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = raw.get("rules") or []
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            rule_id = str(rules[loc[1]].get("id", f"#{loc[1] + 1}"))
        loc = loc[2:]
    parts = [
        str(p) for p in loc
        if not (isinstance(p, str) and (p in ("Condition", "Compound") or p.startswith("function-")))
    ]
    return rule_id, ".".join(parts) or "(rule)"


def _line_of(text: str, rule_id: str | None, occurrence: int = 1) -> int | None:
    if rule_id is None:
        return None
    seen = 0
    for i, line in enumerate(text.splitlines(), start=1):
        if re.search(rf"\bid:\s*['\"]?{re.escape(rule_id)}['\"]?\s*$", line):
            seen += 1
            if seen == occurrence:
                return i
    return None


def parse_rules(text: str, source: str = "<rules>") -> RulePack:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RuleError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=source, line=mark.line + 1 if mark else None) from None
    if not isinstance(raw, dict) or "rules" not in raw:
        raise RuleError("a rule file is a mapping with a 'rules' list", file=source, line=1)
    try:
        pack = RulePack.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        rule_id, field = _error_location(raw, tuple(first["loc"]))
        where = f"rule {rule_id!r}: " if rule_id else ""
        raise RuleError(f"{where}{first['msg']}", file=source, line=_line_of(text, rule_id), field=field) from None
    seen: set[str] = set()
    for rule in pack.rules:
        if rule.id in seen:
            raise RuleError(f"rule id {rule.id!r} is used twice", file=source, line=_line_of(text, rule.id, occurrence=2), field="id")
        seen.add(rule.id)
    return pack


def load_rules(path: Path | str) -> RulePack:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"cannot read rule file: {exc.strerror}", file=str(path)) from None
    return parse_rules(text, str(path))


def default_rules_path() -> Path:
    return Path(__file__).with_name("default_rules.yaml")


def default_rules() -> RulePack:
    return load_rules(default_rules_path())
