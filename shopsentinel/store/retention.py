"""Retention of the metric store's points (``SHOPSENTINEL_POINTS_RETENTION_DAYS``, default 400 days).

Points older than the retention are removed:

- on PostgreSQL with month partitions (revision 0012, :mod:`shopsentinel.store.partitions`), every
  month partition ``points_pYYYYMM`` that lies *entirely* before the cutoff is dropped whole
  (``DROP TABLE``: no row-by-row delete, no bloat, no vacuum); the partition holding the cutoff keeps
  its older rows until its whole month is past the cutoff. The default partition is never dropped:
  its rows older than the cutoff are deleted in batches;
- on SQLite (and a PostgreSQL ``points`` that is not partitioned) old rows are deleted in batches of
  ``batch`` rows, one short transaction each, so a live write waits at most one batch.

The retention may not be shorter than what detection reads: the evaluation window
(``SHOPSENTINEL_EVAL_WINDOW_DAYS``) and the longest history a rule of the active pack declares
(``history`` days, or weeks for hour-of-week baselines and seasonal bands; ``demand_days``; the
6-week usual low of stock rules). :func:`check_retention` refuses a shorter one with a
Chinese-first error that names the setting and the rule.

The prune runs once a day: in the scheduler role's leader (``shopsentinel scheduler``; sent as a
``prune`` task to a worker) or, in the embedded single-process ``serve``, in its in-process
scheduler (the leader's periodic entry); and on demand with ``shopsentinel store prune [--dry-run]``.
Dropping is idempotent: a second run finds nothing to drop.

>>> cutoff_of(datetime(2026, 12, 7, 5, tzinfo=UTC), 400)
datetime.datetime(2025, 11, 2, 5, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from shopsentinel.core.errors import ShopSentinelError
from shopsentinel.store.partitions import DEFAULT_PARTITION, existing_months, is_partitioned, next_month

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 400  # a year and a month: a year-ago comparison keeps its reference
USUAL_LOW_DAYS = 42  # stock rules' "usual low": the lowest daily minimum over 6 weeks
WEEKLY = ("hour_of_week", "seasonal_band")
# a DROP waits for the partition's readers and writers; past this it gives up and the next day tries again
LOCK_TIMEOUT = "5s"


class RetentionError(ShopSentinelError):
    """A retention shorter than the history detection reads."""


@dataclass
class PruneReport:
    cutoff: datetime
    dry_run: bool
    dropped: dict[str, int] = field(default_factory=dict)  # partition → rows it held
    deleted: int = 0  # rows deleted one batch at a time (default partition, SQLite, unpartitioned)

    @property
    def rows(self) -> int:
        return self.deleted + sum(self.dropped.values())


def cutoff_of(now: datetime, retention_days: int) -> datetime:
    return now.astimezone(UTC) - timedelta(days=retention_days)


def _days_of(condition: dict[str, Any]) -> int:
    days = 0
    history = condition.get("history")
    if isinstance(history, int):
        weekly = condition.get("type") in WEEKLY or condition.get("baseline") in WEEKLY
        days = history * (7 if weekly else 1)
    demand = condition.get("demand_days")
    if isinstance(demand, int):
        days = max(days, demand)
    if condition.get("below_usual_low") is not None:
        days = max(days, USUAL_LOW_DAYS)
    return days


def rule_lookback(pack: Any) -> tuple[int, str | None]:
    """The longest history (days) a rule of ``pack`` (a :class:`~shopsentinel.detect.rules.RulePack`
    or its JSON) declares, and that rule's id."""
    body = pack.model_dump(mode="json") if hasattr(pack, "model_dump") else pack
    best: tuple[int, str | None] = (0, None)

    def walk(node: Any, rule: str | None) -> None:
        nonlocal best
        if isinstance(node, dict):
            name = str(node["id"]) if "when" in node and "id" in node else rule
            days = _days_of(node)
            if days > best[0]:
                best = (days, name)
            for value in node.values():
                walk(value, name)
        elif isinstance(node, list):
            for value in node:
                walk(value, rule)

    walk(body, None)
    return best


def required_days(eval_window_days: int, pack: Any | None = None) -> tuple[int, str]:
    """The shortest retention detection allows, and why (the window or the rule)."""
    days, rule = rule_lookback(pack) if pack is not None else (0, None)
    if rule is not None and days > eval_window_days:
        return days, f"规则 {rule} 的历史 / the history of rule {rule}"
    return eval_window_days, "评估窗口 SHOPSENTINEL_EVAL_WINDOW_DAYS / the evaluation window SHOPSENTINEL_EVAL_WINDOW_DAYS"


def check_retention(retention_days: int, eval_window_days: int, pack: Any | None = None) -> None:
    """Raise :class:`RetentionError` when ``retention_days`` is shorter than what detection reads."""
    needed, why = required_days(eval_window_days, pack)
    if retention_days < needed:
        raise RetentionError(
            f"数据保留期 SHOPSENTINEL_POINTS_RETENTION_DAYS={retention_days} 天短于{why.split(' / ')[0]}（{needed} 天），"
            f"会删掉检测还要用的数据；请设为至少 {needed} 天，未删除任何数据 / the points retention "
            f"SHOPSENTINEL_POINTS_RETENTION_DAYS={retention_days} days is shorter than {why.split(' / ')[1]} "
            f"({needed} days) and would delete history detection still reads; set at least {needed} days. "
            f"Nothing was deleted")


def expired_partitions(conn: Connection, cutoff: datetime) -> list[str]:
    """Month partitions whose whole month lies before ``cutoff`` (never the default partition)."""
    out = []
    for name in sorted(existing_months(conn)):
        if name == DEFAULT_PARTITION or not name.startswith("points_p") or not name[8:].isdigit():
            continue
        start = datetime(int(name[8:12]), int(name[12:14]), 1, tzinfo=UTC)
        if next_month(start) <= cutoff:
            out.append(name)
    return out


def _count(conn: Connection, table: str, cutoff: int | None = None) -> int:
    where = "" if cutoff is None else " WHERE ts < :cutoff"
    return int(conn.execute(text(f'SELECT count(*) FROM "{table}"{where}'), {"cutoff": cutoff}).scalar() or 0)


def _delete_batches(engine: Engine, table: str, cutoff: int, batch: int) -> int:
    """Delete ``table``'s rows before ``cutoff`` (epoch seconds), ``batch`` rows per transaction."""
    key = "rowid" if engine.dialect.name == "sqlite" else "ctid"
    deleted = 0
    while True:
        with engine.begin() as conn:
            n = conn.execute(text(f'DELETE FROM "{table}" WHERE {key} IN '
                                  f'(SELECT {key} FROM "{table}" WHERE ts < :cutoff LIMIT :batch)'),
                             {"cutoff": cutoff, "batch": batch}).rowcount
        deleted += max(0, n or 0)
        if not n or n < batch:
            return deleted


def prune_points(engine: Engine, retention_days: int, now: datetime, *, dry_run: bool = False,
                 batch: int = 10_000) -> PruneReport:
    """Remove the points older than ``retention_days`` before ``now`` (see the module docstring);
    ``dry_run``: only report what would go. Call :func:`check_retention` first."""
    if retention_days < 1:
        raise RetentionError(f"数据保留期必须至少 1 天（当前 {retention_days}）/ the retention must be at least 1 day "
                             f"(got {retention_days})")
    cutoff = cutoff_of(now, retention_days)
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    epoch = int(cutoff.timestamp())
    with engine.connect() as conn:
        partitioned = is_partitioned(conn)
        expired = expired_partitions(conn, cutoff) if partitioned else []
        for name in expired:
            report.dropped[name] = _count(conn, name)
        loose = DEFAULT_PARTITION if partitioned else "points"
        loose_rows = _count(conn, loose, epoch)
    if dry_run:
        report.deleted = loose_rows
        return report
    for name in expired:
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
        logger.warning("数据保留：删除月分区 %s（%d 行，早于 %s）/ retention: dropped month partition %s (%d rows, before %s)",
                       name, report.dropped[name], f"{cutoff:%Y-%m-%d}", name, report.dropped[name], f"{cutoff:%Y-%m-%d}")
    if loose_rows:
        report.deleted = _delete_batches(engine, loose, epoch, batch)
        logger.warning("数据保留：删除 %s 中早于 %s 的 %d 行 / retention: deleted %d rows before %s from %s",
                       loose, f"{cutoff:%Y-%m-%d}", report.deleted, report.deleted, f"{cutoff:%Y-%m-%d}", loose)
    return report


def prune_checked(engine: Engine, retention_days: int, eval_window_days: int, pack: Any | None, now: datetime, *,
                  dry_run: bool = False) -> PruneReport | None:
    """:func:`check_retention`, then :func:`prune_points`; None when retention is off (0 days)."""
    if retention_days == 0:
        return None
    check_retention(retention_days, eval_window_days, pack)
    return prune_points(engine, retention_days, now, dry_run=dry_run)


def daily_prune(engine: Engine, retention_days: int, eval_window_days: int,
                pack: Callable[[], Any]) -> Callable[[datetime], PruneReport | None]:
    """The scheduler's daily entry: prune with the rule pack active at that moment. A refused retention
    is logged as an error (nothing deleted) and tried again the next day."""

    def run(now: datetime) -> PruneReport | None:
        try:
            report = prune_checked(engine, retention_days, eval_window_days, pack(), now)
        except RetentionError as exc:
            logger.error("%s", exc)
            return None
        if report is not None:
            logger.info("数据保留：截止 %s，删除 %d 个月分区、%d 行 / retention: cutoff %s, %d month partitions and "
                        "%d rows removed", f"{report.cutoff:%Y-%m-%d}", len(report.dropped), report.rows,
                        f"{report.cutoff:%Y-%m-%d}", len(report.dropped), report.rows)
        return report

    return run


def describe(report: PruneReport) -> Iterable[str]:
    """Lines for people: what was (or, dry run, would be) removed."""
    verb = "将删除 / would drop" if report.dry_run else "已删除 / dropped"
    yield f"保留截止 / cutoff: {report.cutoff:%Y-%m-%d %H:%M} UTC"
    for name, rows in report.dropped.items():
        yield f"{verb} 分区 / partition {name}: {rows:,} 行 / rows"
    yield f"{verb} 单行删除 / rows deleted one by one: {report.deleted:,}"
    if not report.rows:
        yield "没有超过保留期的数据 / nothing older than the retention"


__all__ = ["DEFAULT_RETENTION_DAYS", "PruneReport", "RetentionError", "check_retention", "cutoff_of", "daily_prune", "describe",
           "expired_partitions", "prune_checked", "prune_points", "required_days", "rule_lookback"]
