"""parse_rules(): valid packs, and errors that name the file, the rule, the field and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopsentinel.core.errors import InputError, RuleError
from shopsentinel.detect.rules import default_rules, load_rules, parse_hours, parse_rules


def rule(body: str, rid: str = "my.rule") -> str:
    return f"""rules:
  - id: ok.rule
    name: {{zh: 正常, en: Fine}}
    severity: info
    when: {{metric: uv, type: threshold, below: 1}}
  - id: {rid}
    name: {{zh: 测试, en: Test}}
{body}"""


def test_valid_rule_fields() -> None:
    pack = parse_rules(rule("""    severity: critical
    for: 90m
    keep_firing_for: 3h
    event_tail: 2d
    notify: [ops_lead]
    scope: {platforms: [tmall]}
    when:
      all:
        - {metric: ad_spend, type: change, window: 6h, direction: up, change: 0.5}
        - not: {metric: ad_conversion_rate, type: threshold, above: 0.1}
"""), "pack.yaml")
    r = pack.get("my.rule")
    assert (r.for_, r.keep_firing_for, r.event_tail) == (1.5, 3.0, 48.0)
    assert str(r.severity) == "critical"
    assert r.metric == "ad_spend"
    assert [c.metric for c in r.conditions()] == ["ad_spend", "ad_conversion_rate"]
    assert r.conditions()[0].window == 6.0
    assert r.scope.platforms == ["tmall"]
    assert r.during_events == "mute"
    assert [x.id for x in pack.enabled()] == ["ok.rule", "my.rule"]
    with pytest.raises(KeyError):
        pack.get("nope")


@pytest.mark.parametrize(("text", "hours"), [("30m", 0.5), ("2h", 2.0), ("3d", 72.0), ("1w", 168.0), (4, 4.0), ("1.5h", 1.5), ("45s", 45 / 3600)])
def test_parse_hours(text: str | int, hours: float) -> None:
    assert parse_hours(text) == pytest.approx(hours)


def test_missing_below_for_threshold_names_file_rule_and_when() -> None:
    text = rule("    severity: warning\n    when: {metric: uv, type: threshold}\n")
    with pytest.raises(RuleError) as info:
        parse_rules(text, "rules.yaml")
    err = info.value
    assert isinstance(err, InputError)
    assert err.file == "rules.yaml"
    assert err.line == 6  # the line of "- id: my.rule"
    assert err.field is not None and err.field.startswith("when")
    msg = str(err)
    assert "rules.yaml" in msg and "'my.rule'" in msg and "when" in msg
    assert "above" in msg and "below" in msg


def test_condition_error_field_is_clean() -> None:
    with pytest.raises(RuleError) as info:
        parse_rules(rule("    severity: warning\n    when: {metric: uv, type: threshold}\n"), "rules.yaml")
    assert info.value.field == "when"
    assert "function-after" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ("    severity: loud\n    when: {metric: uv, type: threshold, below: 1}\n", "severity", "fatal"),
        ("    severity: warning\n    for: soon\n    when: {metric: uv, type: threshold, below: 1}\n", "for", "soon"),
        ("    severity: warning\n    colour: red\n    when: {metric: uv, type: threshold, below: 1}\n", "colour", "colour"),
        ("    severity: warning\n", "when", "required"),
        ("    severity: warning\n    during_events: maybe\n    when: {metric: uv, type: threshold, below: 1}\n", "during_events", "mute"),
    ],
)
def test_rule_field_errors(body: str, field: str, needle: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rules(rule(body), "r.yaml")
    assert info.value.file == "r.yaml"
    assert info.value.field == field
    assert info.value.line == 6
    assert "'my.rule'" in str(info.value)
    assert needle in str(info.value).lower() or needle in str(info.value)


@pytest.mark.parametrize(
    ("when", "needle"),
    [
        ("{metric: uv, type: change, direction: down}", "change"),
        ("{metric: uv, type: zscore}", "sigmas"),
        ("{metric: stock_cover_days, type: forecast_cover}", "cover_days_below"),
        ("{metric: uv, type: change, ratio: 2}", "direction"),
        ("{metric: uv, type: magic, below: 1}", "type"),
        ("{metric: uv, type: change, direction: down, change: -0.5}", "greater than 0"),
    ],
)
def test_condition_errors(when: str, needle: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rules(rule(f"    severity: warning\n    when: {when}\n"), "c.yaml")
    assert info.value.field is not None and info.value.field.startswith("when")
    assert needle in str(info.value)
    assert "'my.rule'" in str(info.value)


def test_bad_rule_id_pattern() -> None:
    with pytest.raises(RuleError) as info:
        parse_rules(rule("    severity: warning\n    when: {metric: uv, type: threshold, below: 1}\n", rid="'bad id!'"), "i.yaml")
    assert info.value.field == "id"


def test_yaml_syntax_error_carries_line() -> None:
    text = "rules:\n  - id: a\n    name: {zh: a, en: b\n    severity: warning\n"
    with pytest.raises(RuleError) as info:
        parse_rules(text, "broken.yaml")
    assert info.value.file == "broken.yaml"
    assert info.value.line == 4
    assert "YAML" in str(info.value)


@pytest.mark.parametrize("text", ["", "- a\n", "version: 1\n", "rules: 5\n"])
def test_file_shape(text: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rules(text, "shape.yaml")
    assert info.value.file == "shape.yaml"


def test_duplicate_ids_rejected() -> None:
    text = rule("    severity: warning\n    when: {metric: uv, type: threshold, below: 1}\n", rid="ok.rule")
    with pytest.raises(RuleError) as info:
        parse_rules(text, "dup.yaml")
    assert info.value.field == "id"
    assert "ok.rule" in str(info.value) and "twice" in str(info.value)


def test_duplicate_id_points_at_the_duplicate() -> None:
    text = rule("    severity: warning\n    when: {metric: uv, type: threshold, below: 1}\n", rid="ok.rule")
    with pytest.raises(RuleError) as info:
        parse_rules(text, "dup.yaml")
    assert info.value.line == 6


def test_load_rules_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path / "none.yaml")
    assert info.value.file == str(tmp_path / "none.yaml")


def test_default_pack_is_valid_and_bilingual() -> None:
    pack = default_rules()
    ids = [r.id for r in pack.rules]
    assert len(ids) == len(set(ids)) >= 20
    for r in pack.rules:
        assert r.name.zh and r.name.en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.name.zh)
        assert str(r.severity) in ("fatal", "critical", "warning", "info")
    stock_tiers = {r.id: str(r.severity) for r in pack.rules if r.id.startswith("stock.cover_")}
    assert stock_tiers == {"stock.cover_red": "critical", "stock.cover_yellow": "warning", "stock.cover_blue": "info"}
    assert pack.get("reviews.negative_each").mode == "task"
    assert str(pack.get("reviews.negative_each").severity) == "info"
