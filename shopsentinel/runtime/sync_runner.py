"""Platform syncs inside the live service: due stores are synced on the service clock, their hourly
points are written once, straight into the service's metric store (the state database's
``points``, attached to the sync database), the stores whose data moved are queued for evaluation
like after ``POST /api/v1/points``, and sync health becomes ``kind: data`` alerts the alert manager
keeps — firing while a problem lasts, resolved when it ends.

Wiring: with ``SHOPSENTINEL_SYNC_DB`` set, :func:`build_service` attaches a :class:`SyncRunner`
over the service's own state database (the sync tables of revision 0015; an old DuckDB file at
that path was moved in at start), and every tick's notification step first calls :meth:`SyncRunner.run_due` (in the background
runner's worker thread), so fresh points are evaluated at the next tick and data alerts are
routed in the same step. The stores are the ones registered with ``shopsentinel stores add``
(secrets sealed with ``SHOPSENTINEL_SECRET_KEY``).

Data alerts (rule, metric): ``data.sync_failed`` / ``data.sync_lagging`` / ``data.never_synced``
on ``sync_lag_hours`` (from :func:`~shopsentinel.ingest.sync.data_health_problems`) and
``data.stock_sync_failed`` on ``stock``, one per declared shared-stock group whose members disagree
beyond its tolerance for longer than its sync lag (库存同步失败, R1.8; filed under the group's first
member; no group declared, no comparison: different stock per platform is normal). An open one
keeps its start while the problem lasts (same fingerprint, so nothing new is created), and is
resolved at the tick that finds the problem gone.

An optional :class:`SyncObserver` (the service's metrics) hears each store's sync report with the
end of its last successful window before it, and, at the first run, which streams the sync state
already knows and how far they were synced.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import polars as pl

from shopsentinel.alerting.manager import AlertManager, StateChange
from shopsentinel.alerting.repository import list_alerts
from shopsentinel.core.clock import Clock
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.secrets import SecretBox, load_keys
from shopsentinel.core.types import PLATFORM_NAMES_ZH, Severity
from shopsentinel.ingest.sync import (
    Sleep,
    StockMismatch,
    SyncReport,
    data_health_problems,
    stock_sync_findings,
)
from shopsentinel.ingest.sync_state import Health, StoreRecord, SyncDB
from shopsentinel.ingest.sync_stores import sync_registered
from shopsentinel.runtime.ingest import announce_written
from shopsentinel.runtime.parts import ServiceParts

logger = logging.getLogger(__name__)
T = TypeVar("T")
SYNC_USER = "sync"
PROBLEM_RULES = {"sync_failed": "data.sync_failed", "sync_lagging": "data.sync_lagging",
                 "never_synced": "data.never_synced"}
STOCK_RULE = "data.stock_sync_failed"
SYNC_RULES = frozenset({*PROBLEM_RULES.values(), STOCK_RULE})
EVERY_EPISODE = datetime(1970, 1, 1, tzinfo=UTC)  # create_from: a sync problem is new whenever it is found


class SyncObserver(Protocol):
    def seed(self, platform: str, store: str, streams: list[str], since: datetime) -> None: ...

    def synced(self, report: SyncReport, since: datetime) -> None: ...


@dataclass
class SyncTick:
    """What one :meth:`SyncRunner.run_due` did."""

    reports: list[SyncReport] = field(default_factory=list)
    points_forwarded: int = 0
    points_rejected: int = 0
    changes: list[StateChange] = field(default_factory=list)


@dataclass(frozen=True)
class _Problem:
    """One current data problem of one series (store, rule, sku)."""

    platform: str
    store: str
    rule: str
    sku: str
    metric: str
    severity: Severity
    message: str
    message_en: str
    value: float | None = None
    upper: float | None = None


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous code, even if this thread already has a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name="shopsentinel-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["value"]
    return result


class SyncRunner:
    """``SyncRunner(service, SyncDB(service.points.engine), box_factory, clock=…, sleep=…).run_due()``; not thread-safe
    (the background runner calls it from one thread at a time)."""

    def __init__(
        self,
        service: ServiceParts,
        db: SyncDB,
        box_factory: Callable[[], SecretBox],
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        interval: timedelta = timedelta(minutes=5),
        max_lag_hours: float = 3.0,
    ) -> None:
        self.service, self.db, self._box_factory = service, db, box_factory
        db.attach_points(service.points)  # the sync writes its points once, into the service's store
        self.clock, self.sleep, self.interval, self.max_lag_hours = clock, sleep, interval, max_lag_hours
        self._box: SecretBox | None = None
        self._manager = AlertManager()
        self._lock = threading.Lock()
        self.observer: SyncObserver | None = None  # the service's metrics (attached by Service.sync_runner)
        self._seeded = False

    @classmethod
    def from_settings(cls, service: ServiceParts) -> SyncRunner | None:
        """The runner the settings ask for (``sync_db``), or None."""
        settings = service.settings
        if settings.sync_db is None:
            return None
        return cls(service, SyncDB(service.points.engine), lambda: SecretBox(load_keys(create=False)), clock=service.clock,
                   interval=timedelta(seconds=settings.sync_interval_seconds), max_lag_hours=settings.sync_max_lag_hours)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def database(self, wait: float) -> Iterator[SyncDB | None]:
        """The sync database while no sync runs (others, e.g. the stores page, read and register
        stores through this); None if a sync still holds it after ``wait`` seconds."""
        if not self._lock.acquire(timeout=wait):
            yield None
            return
        try:
            yield self.db
        finally:
            self._lock.release()

    # ------------------------------------------------------------ one tick

    def due(self, now: datetime) -> list[StoreRecord]:
        """Registered stores never attempted, or last attempted ``interval`` ago or more."""
        out = []
        for record in self.db.stores():
            last = self.db.health(record.platform, record.store).last_attempt
            if last is None or now - last >= self.interval:
                out.append(record)
        return out

    def run_due(self) -> SyncTick:
        """Sync the due stores, forward their new points, reconcile the sync data alerts.

        Never raises: it runs inside the notification step, which must go on whatever a sync
        does (a failing store is recorded in its health and becomes a data alert instead)."""
        with self._lock:
            tick = SyncTick()
            try:
                self._sync_due(tick)
            except Exception:  # noqa: BLE001 - e.g. no secret key: logged, the service keeps running
                logger.exception("platform sync step failed")
            try:
                tick.changes = self.reconcile_health(self.clock.now())
            except Exception:  # noqa: BLE001
                logger.exception("sync data alerts could not be reconciled")
            return tick

    def _sync_due(self, tick: SyncTick) -> None:
        self._seed_observer()
        due = [(r.platform, r.store) for r in self.due(self.clock.now())]
        before = {(r.platform, r.store): self._synced_until(r) for r in self.db.stores() if (r.platform, r.store) in due}
        if due:
            if self._box is None:
                self._box = self._box_factory()
            tick.reports = _run(sync_registered(self.db, self._box, clock=self.clock, sleep=self.sleep, only=due))
        for report in tick.reports:
            self._observe(report, before.get((report.platform, report.store), report.until))
            if not report.ok:
                logger.warning("sync %s/%s failed: %s", report.platform, report.store, report.error)
            tick.points_forwarded += self._announce(report)

    def _synced_until(self, record: StoreRecord) -> datetime:
        """The end of the store's last successful sync window, or its start if it never had one."""
        return self.db.health(record.platform, record.store).synced_until or record.start

    def _seed_observer(self) -> None:
        """Once: tell the observer how far each stream the sync state knows was synced."""
        if self.observer is None or self._seeded:
            return
        self._seeded = True
        try:
            for record in self.db.stores():
                streams = list(self.db.cursors(record.platform, record.store))
                if streams:
                    self.observer.seed(record.platform, record.store, streams, self._synced_until(record))
        except Exception:  # noqa: BLE001 - metrics must not stop a sync
            logger.exception("sync metrics could not be seeded")

    def _observe(self, report: SyncReport, since: datetime) -> None:
        if self.observer is None:
            return
        try:
            self.observer.synced(report, since)
        except Exception:  # noqa: BLE001 - metrics must not stop a sync
            logger.exception("sync metrics observer failed")

    def _announce(self, report: SyncReport) -> int:
        """The sync wrote its points into the service's store: register, audit and queue the store
        whose data moved, as the write path of ``POST /points`` does. Returns the points written."""
        written = report.points_written + sum(s.traffic_points for s in report.streams.values())
        with self.service.sessions() as session:  # commits
            key = (report.platform, report.store)
            announce_written(self.service, session, {key: report.changed_from} if report.changed_from else {},
                             {key: report.latest_point} if report.latest_point else {},
                             [key] if report.registered else [], user=SYNC_USER, now=self.clock.now())
        return written

    # ------------------------------------------------------------ data alerts

    def problems(self, now: datetime) -> list[_Problem]:
        """Current sync-health problems and cross-platform stock mismatches of the registered stores."""
        registered = {(r.platform, r.store) for r in self.db.stores()}
        health: list[Health] = [h for h in self.db.all_health() if (h.platform, h.store) in registered]
        out: list[_Problem] = []
        for p in data_health_problems(health, now, max_lag_hours=self.max_lag_hours):
            en = p.message.split(" ", 1)[1] if p.problem != "never_synced" else "never synced"
            zh = {"sync_failed": "同步失败", "sync_lagging": "数据延迟", "never_synced": "从未同步"}[p.problem]
            out.append(_Problem(p.platform, p.store, PROBLEM_RULES[p.problem], "", "sync_lag_hours", Severity(p.severity),
                                f"【数据】{p.platform} {p.store}：{zh} — {p.message}", f"[data] {p.platform} {p.store}: {en}",
                                p.lag_hours, self.max_lag_hours if p.problem == "sync_lagging" else None))
        groups = {g.name: g for g in self.db.stock_groups() if g.members}
        if groups:
            members = {(m.platform, m.store) for g in groups.values() for m in g.members}
            since = now - timedelta(hours=max(g.lag_hours for g in groups.values()))  # the longest lag compared
            stock = pl.concat([self.db.points_as_of(p, st, "stock", since) for p, st in sorted(members)])
            for finding in stock_sync_findings(stock, groups.values(), now=now):
                out.append(_stock_problem(finding, groups[finding.group].tolerance, groups[finding.group].lag_hours))
        return out

    def reconcile_health(self, now: datetime) -> list[StateChange]:
        """Fire an alert per new problem, keep open ones, resolve those whose problem is gone."""
        current: dict[tuple[str, str], list[_Problem]] = {}
        for problem in self.problems(now):
            current.setdefault((problem.platform, problem.store), []).append(problem)
        changes: list[StateChange] = []
        with self.service.sessions() as session:
            open_rows = [r for r in list_alerts(session, state="firing", limit=100_000) if r.rule in SYNC_RULES]
            stores = set(current) | {(r.platform, r.store) for r in open_rows}
            for platform, store in sorted(stores):
                found = {(p.rule, p.sku): p for p in current.get((platform, store), [])}
                events: list[AlertEvent] = []
                for row in (r for r in open_rows if (r.platform, r.store) == (platform, store)):
                    still = found.pop((row.rule, row.sku), None)
                    events.append(_event(still, row.starts_at, None) if still else _closing(row, now))
                events += [_event(p, now, None) for p in found.values()]
                changes += self._manager.reconcile(session, platform, store, events, now=now, create_from=EVERY_EPISODE)
            session.commit()
        return changes


def _stock_problem(finding: StockMismatch, tolerance: float, lag_hours: float) -> _Problem:
    """One alert per group, filed under its first non-reference member (a SKU is in one group only)."""
    first = next((k for k in finding.quantities if k != finding.reference), next(iter(finding.quantities)))
    platform, store, sku = first.split("/", 2)

    def zh(key: str) -> str:
        p, s, k = key.split("/", 2)
        return f"{'ERP' if key == finding.reference else PLATFORM_NAMES_ZH.get(p, p)} {s} {k}"

    listing_zh = "，".join(f"{zh(k)}={q:g}" for k, q in finding.quantities.items())
    listing_en = ", ".join(f"{k}={q:g}" for k, q in finding.quantities.items())
    against = "与 ERP 库存" if finding.reference else "之间"
    return _Problem(
        platform, store, STOCK_RULE, sku, "stock", Severity.WARNING,
        f"【警告】库存同步失败：共享库存组「{finding.group}」各店铺库存{against}相差 {finding.spread:g} 件，"
        f"超过允许的 ±{tolerance:g} 件，且已持续 {lag_hours:g} 小时以上（{listing_zh}）。"
        f"请检查 ERP/库存同步任务，防止超卖或少卖。",
        f"[warning] stock sync failed: shared-stock group {finding.group} differs by {finding.spread:g} units "
        f"{'from the ERP figure ' if finding.reference else ''}(allowed ±{tolerance:g}) for over {lag_hours:g} h "
        f"({listing_en}). Check the ERP / stock sync job to avoid overselling.",
        finding.spread, tolerance,
    )


def _event(p: _Problem, start: datetime, end: datetime | None) -> AlertEvent:
    return AlertEvent(rule=p.rule, severity=p.severity, kind="data", category="data", platform=p.platform, store=p.store,
                      sku=p.sku, metric=p.metric, start=start, end=end, value=p.value, upper=p.upper,
                      message=p.message, message_en=p.message_en, notify=["运营负责人"])


def _closing(row: Any, now: datetime) -> AlertEvent:
    """The episode of an open alert whose problem is gone: same fingerprint, ending now."""
    return AlertEvent(rule=row.rule, severity=Severity(row.severity), kind="data", category="data",
                      platform=row.platform, store=row.store, sku=row.sku, metric=row.metric, start=row.starts_at,
                      end=now, message=row.message, message_en=row.message_en)


__all__ = ["SYNC_RULES", "SyncObserver", "SyncRunner", "SyncTick"]
