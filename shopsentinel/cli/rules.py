"""``shopsentinel rules test|check|schema``: rules as code.

``test`` runs unit tests of rules (like ``promtool test rules``) through the service's own evaluation;
exit 0 when every case passes, 1 when one fails, 2 when a test or rule file is broken. ``check``
validates a rule file against the loader and the JSON Schema; ``schema`` prints that schema.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shopsentinel.core.console import console, err
from shopsentinel.core.errors import RuleError

BUILTIN_TESTS = "builtin"


def _say(line: str, *, error: bool = False) -> None:
    (err if error else console).print(line, markup=False, highlight=False, soft_wrap=True)


def _problem(exc: RuleError) -> None:
    _say(f"错误 / error: {exc}", error=True)


def builtin_tests_path() -> Path:
    from shopsentinel.detect.rules import default_rules_path

    return default_rules_path().parent / "rule_tests" / "default_pack.test.yaml"


def rules_test(
    files: Annotated[list[str], typer.Argument(help="Rule test files (YAML); 'builtin' = the default pack's own tests")],
) -> None:
    """单元测试规则 / Unit-test rules: feed the cases' series through the evaluator and compare the alerts."""
    from shopsentinel.detect.ruletest import load_test_file
    from shopsentinel.detect.ruletest_run import report, run_file
    from shopsentinel.runtime.evaluation import detect

    broken = failed = passed = 0
    for name in files:
        path = builtin_tests_path() if name == BUILTIN_TESTS else Path(name)
        try:
            results = run_file(load_test_file(path), detect)
        except RuleError as exc:
            _problem(exc)
            broken += 1
            continue
        for line in report(str(path), results):
            _say(line)
        passed += sum(r.passed for r in results)
        failed += sum(not r.passed for r in results)
    _say(f"用例：通过 {passed}，失败 {failed}，无法运行的文件 {broken} / cases: {passed} passed, {failed} failed, "
         f"{broken} broken file(s)")
    raise typer.Exit(2 if broken else 1 if failed else 0)


def rules_check(file: Annotated[Path, typer.Argument(help="Rule file (YAML)")]) -> None:
    """校验规则文件 / Check a rule file against the loader and the JSON Schema (file, line, field)."""
    from shopsentinel.detect.rulecheck import check_rule_file

    try:
        text = file.read_text(encoding="utf-8")
        pack, problems = check_rule_file(str(file), text)
    except OSError as exc:
        _problem(RuleError(f"无法读取规则文件 / cannot read rule file: {exc.strerror}", file=str(file)))
        raise typer.Exit(2) from None
    except RuleError as exc:
        _problem(exc)
        raise typer.Exit(2) from None
    for problem in problems:
        _problem(problem)
    if problems or pack is None:
        raise typer.Exit(2)
    _say(f"规则文件有效：{len(pack.rules)} 条规则 / rule file OK: {len(pack.rules)} rules")


def rules_schema() -> None:
    """打印规则文件的 JSON Schema / Print the JSON Schema of rule files (docs/rules.schema.json)."""
    from shopsentinel.detect.rulecheck import rule_schema_text

    sys.stdout.write(rule_schema_text())


def add_rule_commands(rules_app: typer.Typer) -> None:
    """Register ``test``, ``check`` and ``schema`` on the ``shopsentinel rules`` group."""
    rules_app.command("test")(rules_test)
    rules_app.command("check")(rules_check)
    rules_app.command("schema")(rules_schema)
