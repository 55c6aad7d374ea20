"""The sync engine: read every stream of a store page by page, keep state, recompute hourly points.

Per store and stream the connector's cursor is persisted with each stored page (see
:mod:`.sync_state`); overlap windows and dedupe of late-changing records are the connectors'
job. After all streams are read, the hours the new entity versions touch (plus every hour since
the last successful sync, because ``logistics_stale_orders`` changes as time passes) are
recomputed by :func:`shopsentinel.sources.hourly.hourly_points` from the latest stored version
of each entity and swapped in, so re-running a sync never duplicates a point.

Silence of a successful sync means "nothing happened": every count of a covered hour is written,
0 included — the store-level counts of each present family by ``hourly_points``, and a SKU's
``units_sold`` from its first sale on by :func:`with_zero_units` — so a quiet hour is a 0, never a
gap that reads as a stopped feed. Snapshots (stock, price) are not repeated: they hold until the
next snapshot (the panel holds gauges, the stock-group check takes each member's value as of an hour).

``ThrottledError`` (and ``ConnectionDroppedError``: a read whose connection kept dropping) that
escapes a connector's own retries is backed off here (exponential,
through the injected ``sleep``) and the stream is re-read from its persisted cursor. Any other
error marks the store's health as failed; :func:`data_health_problems` turns health into
problems the alerting side reports as ``kind: data`` alerts, and :func:`stock_sync_findings`
compares the stock of declared shared-stock groups (库存同步失败, R1.8): only what is meant to be
equal is compared, with a tolerance and a sync lag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import ThrottledError
from shopsentinel.ingest.sync_state import Health, StockGroup, StoreRecord, SyncDB
from shopsentinel.sources.base import Source
from shopsentinel.sources.hourly import (
    FAMILY_COUNTS,
    HOUR,
    families_of_streams,
    family_of,
    hour_start,
    hourly_points,
    hours_between,
    points_frame,
)
from shopsentinel.sources.kit.http import TrafficPoint
from shopsentinel.sources.kit.resend import ConnectionDroppedError
from shopsentinel.sources.registry import STREAM_FAMILIES, StateOverrides, apply_state_overrides
from shopsentinel.store.metricstore import Written

Sleep = Callable[[float], Awaitable[None]]
ENTITY_METRICS = sorted({m for metrics in FAMILY_COUNTS.values() for m in metrics} | {"units_sold", "stock", "price"})
# The points each entity family yields: what a sync of that family's stream may replace.
FAMILY_METRICS: dict[str, tuple[str, ...]] = {
    **FAMILY_COUNTS, "orders": (*FAMILY_COUNTS["orders"], "units_sold"), "stock": ("stock", "price"),
}


@dataclass
class StreamReport:
    stream: str
    pages: int = 0
    entities: int = 0
    traffic_points: int = 0
    throttle_wait_seconds: float = 0.0  # waited inside the connector
    backoff_seconds: float = 0.0  # waited here after the connector gave up
    cursor: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class SyncReport:
    platform: str
    store: str
    until: datetime
    ok: bool = False
    error: str | None = None
    streams: dict[str, StreamReport] = field(default_factory=dict)
    recomputed_from: datetime | None = None
    points_written: int = 0
    # what the sync changed in the metric store (the service re-evaluates from there)
    changed_from: datetime | None = None  # the earliest hour whose stored points moved
    latest_point: datetime | None = None  # the latest hour written
    registered: bool = False  # the sync brought the store's first points

    def note(self, written: Written) -> None:
        """Add one metric-store write of this store to the report."""
        key = (self.platform, self.store)
        if key in written.changed:
            moment = written.changed[key]
            self.changed_from = moment if self.changed_from is None else min(self.changed_from, moment)
        if key in written.spans:
            last = written.spans[key][1]
            self.latest_point = last if self.latest_point is None else max(self.latest_point, last)
        self.registered = self.registered or key in written.created


class SyncEngine:
    """``await SyncEngine(db, clock=…, sleep=…).sync_store(record, source)``; nothing sleeps for real in tests."""

    def __init__(
        self, db: SyncDB, *, clock: Clock, sleep: Sleep = asyncio.sleep, max_backoffs: int = 4,
        backoff_base_seconds: float = 5.0, overrides: StateOverrides | None = None,
    ) -> None:
        self.db, self.clock, self.sleep = db, clock, sleep
        self.max_backoffs, self.backoff_base = max_backoffs, backoff_base_seconds
        self.overrides = overrides or {}

    async def sync_store(self, record: StoreRecord, source: Source, *, until: datetime | None = None) -> SyncReport:
        """Read all streams up to ``until`` (default now), then recompute hourly points."""
        until = (until or self.clock.now()).astimezone(UTC).replace(microsecond=0)
        report = SyncReport(record.platform, record.store, until)
        errors: list[str] = []
        streams = tuple(source.streams())
        for stream in streams:  # one failing stream (e.g. no permission for reviews) does not block the others
            report.streams[stream] = StreamReport(stream)
            try:
                await self._sync_stream(record, source, stream, until, report.streams[stream], report)
            except Exception as exc:  # noqa: BLE001 - recorded as this store's health
                report.streams[stream].error = f"{type(exc).__name__}: {exc}"
                errors.append(f"{stream}: {report.streams[stream].error}")
        # Only the streams read to ``until`` say what happened up to then: a failed stream's hours stay
        # missing (not zero orders, not zero refunds) until a later sync reads them.
        read = tuple(stream for stream in streams if report.streams[stream].error is None)
        try:
            report.recomputed_from, report.points_written = self.recompute(record, read, until, report)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"recompute: {type(exc).__name__}: {exc}")
        if errors:
            report.error = "; ".join(errors)
            self.db.record_failure(record.platform, record.store, self.clock.now(), report.error)
            return report
        self.db.record_success(record.platform, record.store, self.clock.now(), until)
        report.ok = True
        return report

    async def _sync_stream(
        self, record: StoreRecord, source: Source, stream: str, until: datetime, result: StreamReport,
        report: SyncReport | None = None,
    ) -> None:
        backoffs = 0
        while True:
            try:
                await self._read_pages(record, source, stream, until, result, report)
                return
            except (ThrottledError, ConnectionDroppedError) as exc:
                if backoffs >= self.max_backoffs:
                    raise
                retry_after = exc.retry_after if isinstance(exc, ThrottledError) else 0.0
                wait = max(retry_after, self.backoff_base * 2**backoffs)
                backoffs += 1
                await self.sleep(wait)
                result.backoff_seconds += wait

    async def _read_pages(
        self, record: StoreRecord, source: Source, stream: str, until: datetime, result: StreamReport,
        report: SyncReport | None = None,
    ) -> None:
        cursor = self.db.cursor(record.platform, record.store, stream)
        async with aclosing(source.pages(stream, cursor, until)) as pages:
            async for page in pages:
                entities = apply_state_overrides(page.entities, record.platform, self.overrides)
                traffic = [p for p in getattr(page, "points", []) if isinstance(p, TrafficPoint)]
                written = self.db.store_page(record.platform, record.store, stream, entities, traffic, page.cursor,
                                             self.clock.now())
                if report is not None:
                    report.note(written)
                result.pages += 1
                result.entities += len(entities)
                result.traffic_points += len(traffic)
                result.throttle_wait_seconds += page.throttle_wait_seconds
                result.cursor = page.cursor

    def recompute(self, record: StoreRecord, streams: Iterable[str], until: datetime,
                  report: SyncReport | None = None) -> tuple[datetime, int]:
        """Recompute the entity-derived points from the dirty window (or the last sync) to ``until``
        and swap them into the metric store."""
        health = self.db.health(record.platform, record.store)
        candidates = [hour_start(health.synced_until or record.start, record.timezone)]
        if health.dirty_from is not None:
            candidates.append(hour_start(health.dirty_from, record.timezone))
        start = max(min(candidates), hour_start(record.start, record.timezone))
        families = families_of_streams(streams, STREAM_FAMILIES)
        if not families:  # no entity stream was read: nothing to recompute, nothing to replace
            return start, 0
        entities = [e for e in self.db.entities_touching(record.platform, record.store, start) if family_of(e) in families]
        end = hour_start(until, record.timezone) + HOUR  # through the (partial) hour holding ``until``
        frame = hourly_points(entities, platform=record.platform, store=record.store, tz=record.timezone,
                              start=start, end=end, families=families)
        if "orders" in families:
            frame = with_zero_units(frame, hours_between(start, end, record.timezone),
                                    self.db.first_point_at(record.platform, record.store, "units_sold"))
        metrics = sorted({m for family in families for m in FAMILY_METRICS.get(family, ())})
        written = self.db.replace_points(record.platform, record.store, frame, start, end, metrics,
                                         now=self.clock.now())
        if report is not None:
            report.note(written)
        return start, frame.height


def with_zero_units(
    frame: pl.DataFrame, hours: list[datetime], first_sale: Mapping[str, datetime] | None = None
) -> pl.DataFrame:
    """``units_sold`` is a count: 0 in every hour of ``hours`` from the SKU's first sale on (known
    from ``first_sale`` or from ``frame``), not a gap — a SKU that sold nothing this hour did not stop."""
    units = frame.filter(pl.col("metric") == "units_sold", pl.col("sku") != "")
    firsts: dict[str, datetime] = dict(first_sale or {})
    for sku, ts in units.group_by("sku").agg(pl.col("ts").min()).iter_rows():
        firsts[sku] = min(firsts.get(sku, ts), ts)
    if not firsts or frame.is_empty():
        return frame
    have = set(units.select("ts", "sku").iter_rows())
    rows = [(h, sku, "units_sold", 0.0) for sku, first in firsts.items() for h in hours
            if h >= first and (h, sku) not in have]
    if not rows:
        return frame
    platform, store = frame["platform"][0], frame["store"][0]
    return pl.concat([frame, points_frame(rows, platform=platform, store=store)]).sort("metric", "sku", "ts")


# ---------------------------------------------------------------- data health


@dataclass(frozen=True)
class DataProblem:
    """One data-health problem; the alerting side reports it as a ``kind: data`` alert."""

    platform: str
    store: str
    problem: str  # sync_failed | sync_lagging | never_synced
    severity: str  # critical | warning
    message: str
    since: datetime | None = None
    lag_hours: float | None = None

    def alert_fields(self, now: datetime, *, max_lag_hours: float | None = None) -> dict[str, Any]:
        """The problem in the alert contract's shape (``contracts/alert.schema.json``), ``kind: data``."""
        return {
            "ts": now.astimezone(UTC).isoformat().replace("+00:00", "Z"), "state": "firing",
            "platform": self.platform, "store": self.store, "sku": "", "metric": "sync_lag_hours",
            "rule": f"data.{self.problem}", "severity": self.severity, "kind": "data", "value": self.lag_hours,
            "expected": None, "lower": None, "upper": max_lag_hours if self.problem == "sync_lagging" else None,
            "message": self.message,
        }


def data_health_problems(
    health: list[Health], now: datetime, *, max_lag_hours: float = 3.0, critical_failures: int = 3
) -> list[DataProblem]:
    """Failed syncs (critical after ``critical_failures`` in a row) and syncs behind ``max_lag_hours``."""
    problems: list[DataProblem] = []
    for h in health:
        lag = None if h.synced_until is None else (now - h.synced_until).total_seconds() / 3600
        if h.consecutive_failures:
            # one problem, one alert: the lag a failing sync causes is said in its alert, not raised again
            behind = lag if lag is not None and lag > max_lag_hours else None
            critical = h.consecutive_failures >= critical_failures or (behind is not None and behind > 4 * max_lag_hours)
            note = "" if behind is None else f"；数据已延迟 {behind:.1f} 小时 / data {behind:.1f} h behind"
            problems.append(DataProblem(
                h.platform, h.store, "sync_failed", "critical" if critical else "warning",
                f"同步失败 sync failed {h.consecutive_failures}× in a row: {h.last_error}{note}", h.last_attempt,
                None if behind is None else round(behind, 2),
            ))
            continue
        if h.synced_until is None:
            if not h.consecutive_failures:
                problems.append(DataProblem(h.platform, h.store, "never_synced", "warning", "never synced"))
            continue
        assert lag is not None
        if lag > max_lag_hours:
            problems.append(DataProblem(
                h.platform, h.store, "sync_lagging", "critical" if lag > 4 * max_lag_hours else "warning",
                f"数据延迟 data is {lag:.1f} h behind (limit {max_lag_hours:g} h)", h.synced_until, round(lag, 2),
            ))
    return problems


@dataclass(frozen=True)
class StockMismatch:
    """库存同步失败: a declared shared-stock group whose members' stock disagreed beyond its tolerance
    for longer than its sync lag."""

    group: str
    quantities: dict[str, float]  # "platform/store/sku" → stock now (the reference first, if any)
    spread: float  # now: the largest distance from the reference, or max − min without one
    at: datetime
    reference: str | None = None  # the key of the ERP figure, if the group has one


def _as_of(series: list[tuple[datetime, float]], moment: datetime) -> float | None:
    """The snapshot value holding at ``moment`` (the last one at or before it)."""
    value = None
    for ts, v in series:
        if ts > moment:
            break
        value = v
    return value


def _spread(values: dict[str, float], reference: str | None) -> float | None:
    if reference is not None:
        if reference not in values or len(values) < 2:
            return None
        return max(abs(v - values[reference]) for k, v in values.items() if k != reference)
    return float(max(values.values()) - min(values.values())) if len(values) >= 2 else None


def stock_sync_findings(points: pl.DataFrame, groups: Iterable[StockGroup], *, now: datetime) -> list[StockMismatch]:
    """Compare only what is meant to be equal: the members of each declared shared-stock group (no
    group, no comparison). A group is a finding when, at every moment of the last ``lag_hours``,
    its members' stock (each as of that moment: snapshots hold until they change) differed by more
    than ``tolerance`` — from the reference member (the ERP's figure) if it has one, else between
    the highest and the lowest. A difference younger than the lag is a sync still on its way."""
    stock = points.filter(pl.col("metric") == "stock", pl.col("sku") != "").sort("ts")
    series: dict[str, list[tuple[datetime, float]]] = {}
    for ts, platform, store, sku, value in stock.select("ts", "platform", "store", "sku", "value").iter_rows():
        series.setdefault(f"{platform}/{store}/{sku}", []).append((ts, float(value)))
    findings: list[StockMismatch] = []
    for group in groups:
        keys = [m.key for m in group.members]
        reference = next((m.key for m in group.members if m.reference), None)
        since = now - timedelta(hours=group.lag_hours)
        moments = sorted({since, now} | {ts for k in keys for ts, _ in series.get(k, []) if since < ts <= now})
        spreads = []
        for moment in moments:
            values = {k: v for k in keys if (v := _as_of(series.get(k, []), moment)) is not None}
            spreads.append(_spread(values, reference))
        if not spreads or any(s is None or s <= group.tolerance for s in spreads):
            continue
        current = {k: v for k in keys if (v := _as_of(series.get(k, []), now)) is not None}
        ordered = dict(sorted(current.items(), key=lambda kv: (kv[0] != reference, kv[0])))
        findings.append(StockMismatch(group.name, ordered, float(spreads[-1] or 0.0), now, reference))
    return sorted(findings, key=lambda f: f.group)
