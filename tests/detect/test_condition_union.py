"""Conditions are one model per detector type (a union discriminated by ``type``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopsentinel.core.errors import RuleError
from shopsentinel.detect.rules import (
    ChangeCondition,
    ForecastCoverCondition,
    RulePack,
    ThresholdCondition,
    parse_rules,
)


def _pack(when: str) -> str:
    return f"rules:\n  - id: r.one\n    name: {{zh: 测试, en: Test}}\n    severity: warning\n    when: {when}\n"


def test_each_type_parses_into_its_own_model() -> None:
    pack = parse_rules(_pack("{all: [{metric: uv, type: change, direction: down, change: 0.5}, "
                             "{metric: stock_cover_days, type: forecast_cover, cover_days_below: 3}, "
                             "{metric: uv, type: threshold, below: 1}]}"))
    kinds = [type(c) for c in pack.rules[0].conditions()]
    assert kinds == [ChangeCondition, ForecastCoverCondition, ThresholdCondition]


def test_field_of_another_type_is_rejected_by_name() -> None:
    with pytest.raises(RuleError) as info:
        parse_rules(_pack("{metric: uv, type: change, direction: down, change: 0.5, cover_days_below: 3}"), "x.yaml")
    assert info.value.field == "when.cover_days_below"
    assert "'cover_days_below' is not a field of a 'change' condition" in str(info.value)


def test_nested_errors_name_the_field_without_the_tag() -> None:
    rule = {"id": "r", "name": {"zh": "a", "en": "b"}, "severity": "info",
            "when": {"any": [{"metric": "uv", "type": "change", "direction": "up", "ratio": "lots"}]}}
    with pytest.raises(ValidationError) as info:
        RulePack.model_validate({"rules": [rule]})
    paths = {".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p == "Compound"))) for e in info.value.errors()}
    assert "rules.0.when.any.0.ratio" in paths


def test_full_dumps_of_the_former_flat_model_still_load() -> None:
    """Packs saved with every default spelled out (web editor YAML, stored API packs) stay valid."""
    legacy = {"metric": "uv", "type": "threshold", "below": 1.0, "window": 1.0, "also_windows": [], "direction": "both",
              "baseline": "same_hour", "history": 7, "agg": "median", "weekly_check": True, "warmup": 192.0,
              "min_expected": 0.0, "demand_days": 14, "sensitivity": 1.0, "features": []}
    rule = {"id": "r", "name": {"zh": "a", "en": "b"}, "severity": "info", "when": legacy}
    cond = RulePack.model_validate({"rules": [rule]}).rules[0].when
    assert isinstance(cond, ThresholdCondition) and cond.below == 1.0
    with pytest.raises(ValueError, match="'direction' is not a field of a 'threshold' condition"):
        RulePack.model_validate({"rules": [{**rule, "when": {**legacy, "direction": "down"}}]})


def test_round_trip_through_a_dump() -> None:
    pack = parse_rules(_pack("{metric: orders, type: ets, direction: up, sigmas: 4}"))
    again = RulePack.model_validate(pack.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert again == pack
