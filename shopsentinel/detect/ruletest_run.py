"""Runs the cases of a rule test file (:mod:`shopsentinel.detect.ruletest`) and reports them.

The evaluation is injected: ``shopsentinel rules test`` passes :func:`shopsentinel.runtime.evaluation.detect`,
the shard evaluation of the live service (clean → panel → rules → data alerts → incidents), which
is what ``backtest`` evaluates too. An alert is expected at ``eval_time`` T when, with every point up
to and including T's hour evaluated, it is firing at T (pending alerts — held for less than the
rule's ``for`` — are not firing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from shopsentinel.catalog import Catalog, default_catalog
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.rules import RulePack
from shopsentinel.detect.ruletest import CaseSpec, ExpectedAlert, RuleTestFile

HOUR = timedelta(hours=1)
Evaluate = Callable[[pl.DataFrame, list[StoreInfo], list[CalendarEvent], Catalog, RulePack, datetime, int], list[AlertEvent]]


@dataclass
class CheckResult:
    rule: str
    eval_time: datetime
    zone: str
    line: int | None
    expected: list[ExpectedAlert]
    got: list[AlertEvent]
    missing: list[ExpectedAlert] = field(default_factory=list)
    unexpected: list[AlertEvent] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected


@dataclass
class CaseResult:
    name: str
    line: int | None
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def labels(event: AlertEvent) -> dict[str, str]:
    return {"platform": event.platform, "store": event.store, "sku": event.sku, "metric": event.metric,
            "rule": event.rule, "severity": str(event.severity), "kind": event.kind, "category": event.category,
            "mode": event.mode}


def matches(expected: ExpectedAlert, event: AlertEvent) -> bool:
    have = labels(event)
    return ((expected.severity is None or str(expected.severity) == str(event.severity))
            and all(have.get(k) == v for k, v in expected.labels.items())
            and (expected.message is None or expected.message in event.message or expected.message in event.message_en))


def pair(expected: list[ExpectedAlert], got: list[AlertEvent]) -> tuple[list[ExpectedAlert], list[AlertEvent]]:
    """Pair every expectation with a distinct alert (a maximum bipartite matching); what is left over
    on either side is the diff."""
    owner: dict[int, int] = {}

    def take(i: int, seen: set[int]) -> bool:
        for j, event in enumerate(got):
            if j not in seen and matches(expected[i], event):
                seen.add(j)
                if j not in owner or take(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    paired = {i for i in range(len(expected)) if take(i, set())}
    return [e for i, e in enumerate(expected) if i not in paired], [g for j, g in enumerate(got) if j not in owner]


def _inputs(test: RuleTestFile, case: CaseSpec, i: int) -> tuple[pl.DataFrame, list[StoreInfo], list[CalendarEvent], datetime]:
    zone = test.case_zone(case)
    start = test.time(case.start, zone, None, "tests", i, "start")
    rows: list[tuple[datetime, str, str, str, str, float]] = []
    keys: dict[tuple[str, str], None] = {(s.platform, s.store): None for s in case.stores}
    for j, series in enumerate(case.input_series):
        keys[(series.platform, series.store)] = None
        first = test.time(series.start, zone, start, "tests", i, "input_series", j, "start") if series.start else start
        step = timedelta(hours=series.interval or case.interval)
        rows += [(first + k * step, series.platform, series.store, series.sku, series.metric, v)
                 for k, v in enumerate(series.values) if v is not None]
    stores = []
    for platform, store in keys:
        hours = next((s.opening_hours for s in case.stores if (s.platform, s.store) == (platform, store)), "")
        stores.append(StoreInfo(store, platform, store, test.zone(case, platform, store).key, hours))
    calendar = [CalendarEvent(test.time(c.start, zone, start, "tests", i, "calendar", k, "start"),
                              test.time(c.end, zone, start, "tests", i, "calendar", k, "end"), c.platform, c.store, c.name, c.kind)
                for k, c in enumerate(case.calendar)]
    frame = pl.DataFrame(rows, schema={"ts": pl.Datetime("us", "UTC"), "platform": pl.Utf8, "store": pl.Utf8, "sku": pl.Utf8,
                                       "metric": pl.Utf8, "value": pl.Float64}, orient="row")
    frame = frame.with_columns(pl.col("ts").dt.truncate("1h"))
    return frame, stores, calendar, min(start, min((r[0] for r in rows), default=start)).replace(minute=0, second=0, microsecond=0)


def run_case(test: RuleTestFile, i: int, evaluate: Evaluate, catalog: Catalog) -> CaseResult:
    case = test.model.tests[i]
    zone = test.case_zone(case)
    frame, stores, calendar, start = _inputs(test, case, i)
    case_start = test.time(case.start, zone, None, "tests", i, "start")
    times = [test.time(c.eval_time, zone, case_start, "tests", i, "alert_rule_test", j, "eval_time").replace(minute=0, second=0, microsecond=0)
             for j, c in enumerate(case.alert_rule_test)]
    for j, at in enumerate(times):
        if at < start:
            raise test.error("eval_time 早于序列开始 / eval_time is before the series start", "tests", i, "alert_rule_test", j, "eval_time")
    judged: dict[datetime, list[AlertEvent]] = {}
    for at in sorted(set(times)):  # one evaluation per time, of the rules checked then
        ids = list(dict.fromkeys(c.rule for c, t in zip(case.alert_rule_test, times, strict=True) if t == at))
        hours = int((at - start) // HOUR) + 1
        visible = frame.filter(pl.col("ts") < start + hours * HOUR)
        events = evaluate(visible, stores, calendar, catalog, RulePack(rules=[test.pack.get(r) for r in ids]), start, hours)
        judged[at] = [e for e in events if e.mode != "pending" and e.start <= at and (e.end is None or e.end > at)]
    checks = []
    for j, (check, at) in enumerate(zip(case.alert_rule_test, times, strict=True)):
        got = [e for e in judged[at] if e.rule == check.rule]
        missing, unexpected = pair(check.exp_alerts, got)
        checks.append(CheckResult(check.rule, at, zone.key, test.line("tests", i, "alert_rule_test", j), check.exp_alerts, got,
                                  missing, unexpected))
    return CaseResult(case.name or f"#{i + 1}", test.line("tests", i), checks)


def run_file(test: RuleTestFile, evaluate: Evaluate, catalog: Catalog | None = None) -> list[CaseResult]:
    catalog = catalog or default_catalog()
    return [run_case(test, i, evaluate, catalog) for i in range(len(test.model.tests))]


def _expected_text(e: ExpectedAlert) -> str:
    parts = [f"severity={e.severity}"] if e.severity else []
    parts += [f"{k}={v}" for k, v in e.labels.items()]
    parts += [f"message~{e.message!r}"] if e.message else []
    return " ".join(parts) or "(任意告警 / any alert)"


def _got_text(e: AlertEvent, zone: str) -> str:
    have = labels(e)
    since = e.start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    return " ".join(f"{k}={have[k]}" for k in ("severity", "platform", "store", "sku", "metric") if have[k]) + \
        f" since={since} message={e.message!r}"


def report(path: str, results: Iterable[CaseResult]) -> list[str]:
    """Per case: pass, or the diff of expected and got alerts at each failing evaluation time (Chinese first)."""
    lines = [f"测试文件 / test file: {path}"]
    for case in results:
        where = f" ({path}:{case.line})" if case.line else ""
        if case.passed:
            lines.append(f"  ✓ 通过 / pass  {case.name}")
            continue
        lines.append(f"  ✗ 失败 / FAIL  {case.name}{where}")
        for c in case.checks:
            if c.passed:
                continue
            local = c.eval_time.astimezone(ZoneInfo(c.zone)).strftime("%Y-%m-%d %H:%M")
            lines.append(f"      eval_time {local} {c.zone}, rule {c.rule} (line {c.line}): 期望 / expected "
                         f"{len(c.expected)}, 实际 / got {len(c.got)}")
            lines += [f"        - 缺少 / missing:    {_expected_text(e)}" for e in c.missing]
            lines += [f"        + 多出 / unexpected: {_got_text(e, c.zone)}" for e in c.unexpected]
    return lines
