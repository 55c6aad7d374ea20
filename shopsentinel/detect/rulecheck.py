"""Rule files as code: the JSON Schema of a rule file (generated from the pydantic models of
:mod:`shopsentinel.detect.rules`) and a check that names the file, the line and the field.

``shopsentinel rules schema`` prints :func:`rule_schema`; ``docs/rules.schema.json`` is its committed
copy (a test keeps them equal). Editors that speak the YAML language server complete and check a
rule file that starts with ``# yaml-language-server: $schema=<path or URL of rules.schema.json>``.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as ValidationError_
from pydantic import ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from shopsentinel.core.errors import RuleError
from shopsentinel.detect.rules import RulePack, parse_hours, parse_rules
from shopsentinel.detect.yamlpos import clean_loc, dotted, line_of, load_located

SCHEMA_ID = "https://shopsentinel.dev/schemas/rules.schema.json"
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$"


class _RuleSchema(GenerateJsonSchema):
    """Durations (``for``, ``window``, ``warmup``…) are read by :func:`parse_hours` before they become
    hours: the schema accepts what the loader accepts, a number of hours or a string like ``2h``."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        if getattr(schema["function"].get("function"), "__name__", "") == parse_hours.__name__:
            inner = self.generate_inner(schema["schema"])
            text = {"type": "string", "pattern": DURATION_PATTERN, "description": "duration: 30m, 2h, 3d, 1w"}
            return {"anyOf": [{k: v for k, v in inner.items() if k != "default"}, text]}
        return super().function_before_schema(schema)


def rule_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rule file."""
    schema = RulePack.model_json_schema(by_alias=True, mode="validation", schema_generator=_RuleSchema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "ShopSentinel rule pack / 规则包", **{k: v for k, v in schema.items() if k != "title"}}


def rule_schema_text() -> str:
    return json.dumps(rule_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _relevant(error: ValidationError_) -> ValidationError_:
    """For a union (a condition of any ``type``, or a compound) the error of the branch the document
    meant: the one whose ``type`` matches, deepest first."""
    while error.context:
        branches: dict[Any, list[ValidationError_]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        meant = [errs for errs in branches.values()
                 if not any(e.validator == "const" and list(e.relative_path)[-1:] == ["type"] for e in errs)]
        if not meant:
            return error
        error = max(meant[0], key=lambda e: len(e.absolute_path))
    return error


def schema_errors(data: Any, root: yaml.Node | None, source: str) -> list[RuleError]:
    """Every place the document breaks the schema, in document order."""
    validator = Draft202012Validator(rule_schema())
    out = []
    for error in validator.iter_errors(data):
        best = _relevant(error)
        loc = tuple(best.absolute_path)
        out.append(RuleError(f"不符合规则文件格式 / does not match the rule schema: {best.message}", file=source,
                             line=line_of(root, loc), field=dotted(loc)))
    return sorted(out, key=lambda e: e.line or 0)


def check_rule_text(text: str, source: str) -> RulePack:
    """The rule loader's verdict (:func:`parse_rules`) with the line of the offending field."""
    data, root = load_located(text, source)
    try:
        return parse_rules(text, source)
    except RuleError as exc:
        line, field = exc.line, exc.field
        try:
            RulePack.model_validate(data)
        except ValidationError as detail:
            loc = clean_loc(tuple(detail.errors()[0]["loc"]))
            line, field = line_of(root, loc) or line, dotted(loc)
        except (TypeError, AttributeError):
            pass
        if field is None and isinstance(data, dict) and exc.line is not None and "twice" in exc.reason:
            field = "id"
        raise RuleError(f"规则无效 / invalid rule: {exc.reason}", file=source, line=line, field=field) from None


def check_rule_file(path: str, text: str) -> tuple[RulePack | None, list[RuleError]]:
    """``shopsentinel rules check``: the loader's error (if any) and every schema violation, with lines."""
    data, root = load_located(text, path)
    problems: list[RuleError] = []
    pack = None
    try:
        pack = check_rule_text(text, path)
    except RuleError as exc:
        problems.append(exc)
    seen = {p.line for p in problems}  # the loader's error already names that line
    problems += [e for e in schema_errors(data, root, path) if e.line not in seen]
    return pack, problems


__all__ = ["check_rule_file", "check_rule_text", "rule_schema", "rule_schema_text", "schema_errors"]
