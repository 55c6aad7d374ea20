"""Unit tests of rules (``shopsentinel rules test``), after Prometheus's ``promtool test rules``.

A test file names the rule files under test and has cases; each case gives input series in the
compact expanding notation, optional calendar events, and the alerts expected at evaluation times::

    rule_files: [builtin]                 # or paths relative to this file
    tests:
      - name: 爆单 / order burst
        start: "2026-09-01T00:00"         # naive = the stores' local time; or …Z / +08:00
        interval: 1h
        input_series:
          - {platform: tmall, store: s1, metric: orders, values: "20x239 60x3"}
        alert_rule_test:
          - eval_time: 10d1h              # after start, or a time
            rule: orders.burst
            exp_alerts:
              - {severity: warning, labels: {store: s1}, message: 爆单}
          - {eval_time: 5d, rule: orders.burst, exp_alerts: []}     # nothing fires

The runner (:mod:`shopsentinel.detect.ruletest_run`) feeds the series through the evaluator the
service uses.

>>> expand_values("1+2x3 _x2 5x1 7-1x2")
[1.0, 3.0, 5.0, 7.0, None, None, 5.0, 5.0, 7.0, 6.0, 5.0]
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shopsentinel.core.errors import RuleError
from shopsentinel.core.types import DEFAULT_TIMEZONES, Severity
from shopsentinel.detect.rulecheck import check_rule_text
from shopsentinel.detect.rules import EventKind, Hours, Rule, RulePack, default_rules_path, parse_hours
from shopsentinel.detect.yamlpos import line_of, load_located, validation_error

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TERM = re.compile(rf"^(?:(?P<missing>_)|(?P<a>{_NUMBER}))(?:(?:(?P<sign>[-+])(?P<b>{_NUMBER}))?x(?P<n>\d+))?$")
BUILTIN = "builtin"


def expand_values(text: str) -> list[float | None]:
    """promtool's notation: ``a+bxn`` is a, a+b, … a+n·b (n+1 values), ``a-bxn`` counts down,
    ``axn`` is a n+1 times, ``_`` a missing value and ``_xn`` n missing values."""
    out: list[float | None] = []
    for term in text.split():
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"无法识别的取值 {term!r}（例如 100+0x48、20x3、5-1x4、_x2）/ cannot read value {term!r} "
                             "(like 100+0x48, 20x3, 5-1x4, _x2)")
        n = match.group("n")
        if match.group("missing"):
            if match.group("sign"):
                raise ValueError(f"缺失值不能递增 / a missing value cannot step: {term!r} (use _x{match.group('n')})")
            out += [None] * (int(n) if n is not None else 1)
            continue
        a = float(match.group("a"))
        step = float(match.group("b") or 0) * (-1 if match.group("sign") == "-" else 1)
        out += [a + i * step for i in range(int(n) + 1)] if n is not None else [a]
    return out


def _values(value: Any) -> list[float | None]:
    if isinstance(value, str):
        return expand_values(value)
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, list):
        return [None if v is None or v == "_" else float(v) for v in value]
    raise ValueError("values 是紧凑写法字符串或数字列表 / values is a notation string or a list of numbers")


Values = Annotated[list[float | None], Field(description="'100+0x48 20x3', '_' missing, or a list")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeriesSpec(_Strict):
    platform: str
    store: str
    metric: str
    sku: str = ""
    interval: Hours | None = None
    start: str | datetime | None = None
    values: Values

    @field_validator("values", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> list[float | None]:
        return _values(value)


class StoreSpec(_Strict):
    platform: str
    store: str
    timezone: str | None = None
    opening_hours: str = ""

    @field_validator("timezone")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return _zone(value).key if value else value


class CalendarSpec(_Strict):
    start: str | datetime
    end: str | datetime
    name: str = ""
    kind: EventKind = "promotion"
    platform: str = ""
    store: str = ""


class ExpectedAlert(_Strict):
    severity: Severity | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="a subset of the alert's labels")
    message: str | None = Field(default=None, description="a substring of the zh or en message")


class AlertCheck(_Strict):
    eval_time: str | datetime | float
    rule: str
    exp_alerts: list[ExpectedAlert]


class CaseSpec(_Strict):
    name: str = ""
    start: str | datetime
    interval: Hours = 1.0
    timezone: str | None = Field(default=None, description="zone of naive times (default: the first series' store)")
    stores: list[StoreSpec] = Field(default_factory=list)
    input_series: list[SeriesSpec] = Field(min_length=1)
    calendar: list[CalendarSpec] = Field(default_factory=list)
    alert_rule_test: list[AlertCheck] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return _zone(value).key if value else value


class RuleTestSpec(_Strict):
    rule_files: list[str] = Field(min_length=1)
    tests: list[CaseSpec] = Field(min_length=1)


class RuleTestFile:
    """A loaded test file: its cases, the rules under test and where each case sits in the file."""

    def __init__(self, path: Path, model: RuleTestSpec, pack: RulePack, root: yaml.Node | None) -> None:
        self.path, self.model, self.pack, self.root = path, model, pack, root

    def line(self, *loc: int | str) -> int | None:
        return line_of(self.root, loc)

    def error(self, message: str, *loc: int | str) -> RuleError:
        return RuleError(message, file=str(self.path), line=self.line(*loc), field=".".join(map(str, loc)))

    def zone(self, case: CaseSpec, platform: str, store: str) -> ZoneInfo:
        declared = next((s.timezone for s in case.stores if (s.platform, s.store) == (platform, store)), None)
        return _zone(declared or DEFAULT_TIMEZONES.get(platform, "UTC"))

    def case_zone(self, case: CaseSpec) -> ZoneInfo:
        first = case.input_series[0]
        return _zone(case.timezone) if case.timezone else self.zone(case, first.platform, first.store)

    def time(self, value: str | datetime | float, zone: ZoneInfo, base: datetime | None, *loc: int | str) -> datetime:
        """A time: ISO text or a YAML timestamp (naive = ``zone``), or a duration after ``base`` (``10d2h``)."""
        try:
            if base is not None and not isinstance(value, datetime) and (
                    isinstance(value, int | float) or re.fullmatch(r"\s*(\d+(\.\d+)?[smhdw])+\s*", value)):
                return base + timedelta(hours=_duration(value))
            when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise self.error(f"无法识别的时间 {value!r}（例如 2026-09-01T00:00、…Z 或 10d2h）/ cannot read time "
                             f"{value!r} (like 2026-09-01T00:00, …Z or 10d2h)", *loc) from None
        return (when if when.tzinfo else when.replace(tzinfo=zone)).astimezone(UTC)


def _duration(value: str | float) -> float:
    if isinstance(value, int | float):
        return float(value)
    return sum(parse_hours(part) for part in re.findall(r"\d+(?:\.\d+)?[smhdw]", value))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"未知时区 / unknown time zone {name!r}") from None


def _rule_files(path: Path, names: list[str], root: yaml.Node | None) -> RulePack:
    rules: dict[str, Rule] = {}
    for i, name in enumerate(names):
        file = default_rules_path() if name == BUILTIN else (path.parent / name)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise RuleError(f"无法读取规则文件 / cannot read rule file {str(file)!r}: {exc.strerror}", file=str(path),
                            line=line_of(root, ("rule_files", i)), field=f"rule_files.{i}") from None
        for rule in check_rule_text(text, str(file)).rules:
            if rule.id in rules:
                raise RuleError(f"规则 id {rule.id!r} 在多个规则文件中 / rule id {rule.id!r} is in more than one rule file",
                                file=str(path), line=line_of(root, ("rule_files", i)), field=f"rule_files.{i}")
            rules[rule.id] = rule
    return RulePack(rules=list(rules.values()))


def load_test_file(path: Path | str) -> RuleTestFile:
    """Read and check a test file and its rule files; a :class:`RuleError` names file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"无法读取测试文件 / cannot read test file: {exc.strerror}", file=str(path)) from None
    data, root = load_located(text, str(path))
    if not isinstance(data, dict):
        raise RuleError("测试文件应为含 rule_files 与 tests 的映射 / a test file is a mapping with 'rule_files' and "
                        "'tests'", file=str(path), line=1)
    try:
        model = RuleTestSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, root, str(path)) from None
    loaded = RuleTestFile(path, model, _rule_files(path, model.rule_files, root), root)
    known = {r.id for r in loaded.pack.rules}
    for i, case in enumerate(model.tests):
        for j, check in enumerate(case.alert_rule_test):
            if check.rule not in known:
                raise loaded.error(f"规则 {check.rule!r} 不在被测规则文件中 / rule {check.rule!r} is not in the rule files "
                                   "under test", "tests", i, "alert_rule_test", j, "rule")
        for j, series in enumerate(case.input_series):
            step = series.interval or case.interval
            if step < 1 or step != int(step):
                raise loaded.error("间隔须为整小时 / the interval must be whole hours (the grid is hourly)",
                                   "tests", i, "input_series", j, "interval" if series.interval else "values")
    return loaded
