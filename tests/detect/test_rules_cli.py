"""``shopsentinel rules test|check|schema``: rule unit tests through the service's evaluation, exit codes
0 (all pass) / 1 (a case fails, with the diff) / 2 (a broken file, named by file, line and field), and
the rule file's JSON Schema kept in sync with docs/rules.schema.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from shopsentinel.cli import app
from shopsentinel.cli.rules import builtin_tests_path
from shopsentinel.detect.rulecheck import rule_schema
from shopsentinel.detect.rules import default_rules, default_rules_path

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
SEED_RULES = {
    "traffic.uv_drop_vs_yesterday", "stock.below_safety", "service.dsr_below_4_6", "conversion.below_7d_mean_2sigma",
    "orders.burst", "orders.decline", "stock.cover_red", "stock.cover_yellow", "stock.cover_blue",
    "logistics.stale_48h", "reviews.negative_each", "ads.cost_up_conversion_down", "conversion.below_half_weekly",
    "refunds.rate_double_monthly", "payment.failure_rate_high", "price.below_floor", "ads.spend_up_conversion_collapse",
}


def test_the_default_pack_tests_cover_every_seed_rule_both_ways() -> None:
    assert SEED_RULES <= {r.id for r in default_rules().rules}
    cases = yaml.safe_load(builtin_tests_path().read_text("utf-8"))["tests"]
    fires = {c["rule"] for case in cases for c in case["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["rule"] for case in cases for c in case["alert_rule_test"] if not c["exp_alerts"]}
    assert SEED_RULES <= fires and SEED_RULES <= quiet


def test_default_pack_tests_pass() -> None:
    result = runner.invoke(app, ["rules", "test", str(builtin_tests_path())])
    assert result.exit_code == 0, result.output
    cases = len(yaml.safe_load(builtin_tests_path().read_text("utf-8"))["tests"])
    assert result.output.count("✓ 通过 / pass") == cases and "✗" not in result.output
    assert f"通过 {cases}，失败 0" in result.output


def test_default_pack_tests_pass_as_a_real_process() -> None:
    exe = Path(sys.executable).with_name("shopsentinel")
    done = subprocess.run([str(exe), "rules", "test", "builtin"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "失败 0" in done.stdout and "✗" not in done.stdout


WRONG = """rule_files: [builtin]
tests:
  - name: 错误的期望 / a wrong expectation
    start: "2026-09-01T00:00"
    input_series:
      - {platform: tmall, store: s1, metric: orders, values: "20x239 60x3"}
    alert_rule_test:
      - {eval_time: 10d1h, rule: orders.burst, exp_alerts: []}
      - eval_time: 10d1h
        rule: orders.burst
        exp_alerts: [{severity: critical, labels: {store: s2}}]
"""


def test_a_wrong_expectation_fails_with_the_diff(tmp_path: Path) -> None:
    path = tmp_path / "wrong.test.yaml"
    path.write_text(WRONG, "utf-8")
    result = runner.invoke(app, ["rules", "test", str(path)])
    assert result.exit_code == 1, result.output
    assert f"✗ 失败 / FAIL  错误的期望 / a wrong expectation ({path}:3)" in result.output
    assert "eval_time 2026-09-11 01:00 Asia/Shanghai, rule orders.burst (line 8): 期望 / expected 0, 实际 / got 1" in result.output
    assert "+ 多出 / unexpected: severity=warning platform=tmall store=s1 metric=orders since=2026-09-11 00:00" in result.output
    assert "- 缺少 / missing:    severity=critical store=s2" in result.output
    assert "失败 1" in result.output


def test_a_broken_rule_file_is_exit_2_naming_file_line_and_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: a\n    name: {zh: 甲, en: A}\n    severity: warning\n"
                     "    when: {metric: orders, type: change, direction: up, ratio: lots}\n", "utf-8")
    tests = tmp_path / "t.test.yaml"
    tests.write_text(WRONG.replace("[builtin]", "[rules.yaml]"), "utf-8")
    result = runner.invoke(app, ["rules", "test", str(tests)])
    assert result.exit_code == 2, result.output
    assert f"{rules}, line 5, column 'rules.0.when.ratio'" in result.output and "valid number" in result.output
    assert "错误 / error" in result.output

    missing = tmp_path / "m.test.yaml"
    missing.write_text(WRONG.replace("[builtin]", "[builtin, nowhere.yaml]"), "utf-8")
    result = runner.invoke(app, ["rules", "test", str(missing), str(tests)])
    assert result.exit_code == 2 and f"{missing}, line 1, column 'rule_files.1'" in result.output


def test_rules_check_names_line_and_field(tmp_path: Path) -> None:
    good = runner.invoke(app, ["rules", "check", str(default_rules_path())])
    assert good.exit_code == 0 and f"{len(default_rules().rules)} 条规则" in good.output
    text = default_rules_path().read_text("utf-8").replace("type: zscore, agg: mean, history: 7, sigmas: 2",
                                                           "type: zscore, agg: mean, history: 7, sigma: 2")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, "utf-8")
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "sigma: 2" in x)
    result = runner.invoke(app, ["rules", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}, line {line}, column 'rules.1.when.sigma'" in result.output and "zscore" in result.output


def test_schema_is_in_sync_with_the_committed_copy() -> None:
    result = runner.invoke(app, ["rules", "schema"])
    assert result.exit_code == 0
    committed = (ROOT / "docs" / "rules.schema.json").read_text("utf-8")
    assert json.loads(result.output) == json.loads(committed), "run: shopsentinel rules schema > docs/rules.schema.json"


def test_the_default_pack_matches_the_schema_and_a_wrong_field_does_not() -> None:
    validator = Draft202012Validator(rule_schema())
    pack = yaml.safe_load(default_rules_path().read_text("utf-8"))
    assert list(validator.iter_errors(pack)) == []
    pack["rules"][0]["for"] = "two hours"
    pack["rules"][1]["when"]["sigma"] = 2
    paths = sorted(tuple(e.absolute_path) for e in validator.iter_errors(pack))
    assert paths == [("rules", 0, "for"), ("rules", 1, "when")]
