"""promtool's compact series notation, and test files whose mistakes are named by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopsentinel.core.errors import RuleError
from shopsentinel.detect.ruletest import expand_values, load_test_file


@pytest.mark.parametrize(("text", "values"), [
    ("100+0x3 20x2", [100.0, 100.0, 100.0, 100.0, 20.0, 20.0, 20.0]),
    ("-2+4x3", [-2.0, 2.0, 6.0, 10.0]),
    ("1-2x4", [1.0, -1.0, -3.0, -5.0, -7.0]),
    ("1 _x3 5", [1.0, None, None, None, 5.0]),
    ("_ 0.5 1e2", [None, 0.5, 100.0]),
    ("1.5+0.5x2", [1.5, 2.0, 2.5]),
])
def test_expanding_notation(text: str, values: list[float | None]) -> None:
    assert expand_values(text) == values


@pytest.mark.parametrize("bad", ["1x", "abc", "1+x3", "_+1x2", "3x-1"])
def test_unreadable_terms_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="无法识别的取值|缺失值不能递增"):
        expand_values(bad)


CASE = """rule_files: [builtin]
tests:
  - name: t
    start: "2026-09-01T00:00"
    input_series:
      - {{platform: tmall, store: s1, metric: orders, values: {values}}}
    alert_rule_test:
      - {{eval_time: {eval_time}, rule: {rule}, exp_alerts: []}}
"""


def _write(tmp_path: Path, **fields: str) -> Path:
    path = tmp_path / "t.test.yaml"
    path.write_text(CASE.format(**{"values": '"20x10"', "eval_time": "5h", "rule": "orders.burst", **fields}), "utf-8")
    return path


def test_explicit_lists_and_a_good_file_load(tmp_path: Path) -> None:
    loaded = load_test_file(_write(tmp_path, values="[1, 2, _, null, 4]"))
    assert loaded.model.tests[0].input_series[0].values == [1.0, 2.0, None, None, 4.0]
    assert [r.id for r in loaded.pack.rules][:1] == ["traffic.uv_drop_vs_yesterday"]


@pytest.mark.parametrize(("fields", "line", "field", "words"), [
    ({"values": '"20x10 abc"'}, 6, "tests.0.input_series.0.values", "abc"),
    ({"rule": "no.such.rule"}, 8, "tests.0.alert_rule_test.0.rule", "no.such.rule"),
    ({"eval_time": "sometime"}, 8, "tests.0.alert_rule_test.0.eval_time", "sometime"),
])
def test_mistakes_name_file_line_and_field(tmp_path: Path, fields: dict[str, str], line: int, field: str, words: str) -> None:
    from shopsentinel.detect.ruletest_run import run_file
    from shopsentinel.runtime.evaluation import detect

    path = _write(tmp_path, **fields)
    with pytest.raises(RuleError) as caught:
        run_file(load_test_file(path), detect)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, field)
    assert words in str(caught.value)


def test_an_empty_list_and_a_missing_field_name_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.test.yaml"
    head = "rule_files: [builtin]\ntests:\n  - name: t\n    start: 2026-09-01T00:00\n"
    path.write_text(head + "    input_series: []\n", "utf-8")
    with pytest.raises(RuleError) as caught:
        load_test_file(path)
    assert (caught.value.line, caught.value.field) == (5, "tests.0.input_series")
    path.write_text(head + "    input_series: [{platform: tmall, store: s1, metric: uv, values: '1x3'}]\n", "utf-8")
    with pytest.raises(RuleError) as caught:
        load_test_file(path)  # no alert_rule_test: the line of the case that lacks it
    assert (caught.value.line, caught.value.field) == (3, "tests.0.alert_rule_test")
