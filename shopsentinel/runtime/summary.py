"""Summaries of a backtest: alerts per rule and severity, per store and per week."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from shopsentinel.core.events import AlertEvent
from shopsentinel.runtime.backtest import BacktestResult

SEVERITIES = ("fatal", "critical", "warning", "info")


def rule_table(events: list[AlertEvent]) -> Table:
    table = Table(title="告警 / Alerts per rule and severity")
    table.add_column("rule")
    for s in SEVERITIES:
        table.add_column(s, justify="right")
    table.add_column("total", justify="right")
    counts = Counter((e.rule, str(e.severity)) for e in events)
    for rule in sorted({e.rule for e in events}):
        row = [counts[(rule, s)] for s in SEVERITIES]
        table.add_row(rule, *[str(x) if x else "" for x in row], str(sum(row)))
    return table


def store_table(events: list[AlertEvent]) -> Table:
    table = Table(title="按店铺 / Per store")
    for c in ("platform", "store", "business", "data", "incidents"):
        table.add_column(c, justify="right" if c in ("business", "data", "incidents") else "left")
    by_store: dict[tuple[str, str], list[AlertEvent]] = {}
    for e in events:
        by_store.setdefault((e.platform, e.store), []).append(e)
    for (platform, store), items in sorted(by_store.items()):
        table.add_row(
            platform, store,
            str(sum(e.kind == "business" for e in items)),
            str(sum(e.kind == "data" for e in items)),
            str(len({e.incident for e in items})),
        )
    return table


def week_table(events: list[AlertEvent]) -> Table:
    table = Table(title="按周 / Per week")
    for c in ("week", "business", "data", "incidents"):
        table.add_column(c, justify="right" if c != "week" else "left")
    by_week: dict[str, list[AlertEvent]] = {}
    for e in events:
        year, week, _ = e.start.isocalendar()
        by_week.setdefault(f"{year}-W{week:02d}", []).append(e)
    for week_label, items in sorted(by_week.items()):
        table.add_row(week_label, str(sum(e.kind == "business" for e in items)), str(sum(e.kind == "data" for e in items)), str(len({e.incident for e in items})))
    return table


def learning_table(result: BacktestResult) -> Table | None:
    """Rules still learning or judging with wide bands at the end of the data, per store (None when all
    are ready): a dynamic rule never waits in silence without saying so."""
    table = Table(title="学习期 / Rules still learning (at the end of the data)")
    for c in ("platform", "store", "history_days", "learning", "partial", "days_left", "note"):
        table.add_column(c, justify="right" if c in ("history_days", "learning", "partial", "days_left") else "left")
    rows = 0
    for (platform, store), states in sorted(result.learning.items()):
        learning = [s for s in states if s.state == "learning"]
        partial = [s for s in states if s.state == "partial"]
        if not learning and not partial:
            continue
        left = max(s.days_left for s in learning + partial)
        if learning:
            note = f"{len(learning)} 条规则学习期：还需 {max(s.days_left for s in learning)} 天数据"
        else:
            note = f"{len(partial)} 条规则历史较短、判断从宽：还需 {left} 天数据达到完整精度"
        table.add_row(platform, store, f"{states[0].history_days:.1f}", str(len(learning)), str(len(partial)), str(left), note)
        rows += 1
    return table if rows else None


def print_summary(result: BacktestResult, console: Console) -> None:
    console.print(rule_table(result.events))
    console.print(store_table(result.events))
    console.print(week_table(result.events))
    learning = learning_table(result)
    if learning is not None:
        console.print(learning)
    elif result.learning:
        console.print(f"学习期 / learning: all {sum(len(v) for v in result.learning.values())} rule × store pairs ready")
    c = result.clean
    console.print(
        f"数据清洗 / cleaning: {c.rows_in:,} rows read, {c.exact_duplicates:,} exact duplicates dropped, "
        f"{c.conflicts:,} conflicting duplicates resolved (latest kept), {c.quarantined:,} impossible values quarantined, "
        f"{c.missing_values:,} empty values skipped"
    )
    business = [e for e in result.events if e.kind == "business"]
    console.print(
        f"合计 / total: {len(business)} business alerts in {len({e.incident for e in business})} incidents, "
        f"{sum(e.kind == 'data' for e in result.events)} data alerts, {len(result.tasks)} CS/ops tasks"
    )
