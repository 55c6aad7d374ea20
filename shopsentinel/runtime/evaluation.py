"""Live evaluation: the backtest's engine over a trailing window of the point store.

For each store: load its points for ``[window start, now)`` (hour-aligned), clean them, build a
panel, run the active rules plus the data alerts (silent store, silent metric) and custom-metric
detection, assign incidents, and let the :class:`AlertManager` reconcile the episodes with the
persisted alerts. Detectors are causal, so an episode judged with the same history is the one
the backtest finds. While the window still starts at the store's first point the history is
exactly the backtest's; once it slides, only episodes starting after the previous evaluation
(less a margin for late data, ``Settings.late_data_hours``) may create alerts, and an episode
overlapping a stored alert of the same rule and series is that alert.

Freshness is the one thing live judges differently from the backtest: ``data.store_silent`` is
decided at the live edge (the service clock) by
:func:`~shopsentinel.detect.quality.live_silent_store_alerts`, never over the past, so points
pushed for past hours (a backfill) raise no freshness alert and an open one resolves as soon as
fresh data arrives. An open ``data.metric_silent`` whose gap was filled since is resolved too.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.alerting.incidents import assign_incidents
from shopsentinel.alerting.manager import AlertManager, StateChange
from shopsentinel.catalog import Catalog
from shopsentinel.core.clock import Clock
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.settings import STORE_SILENT_HOURS
from shopsentinel.core.types import CalendarEvent, Severity, StoreInfo
from shopsentinel.detect.custom import custom_metric_alerts
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.panel import Panel, build_panel
from shopsentinel.detect.quality import (
    METRIC_SILENT_RULE,
    STORE_SILENT_RULE,
    live_silent_store_alerts,
    silent_metric_alerts,
    silent_store_alerts,
)
from shopsentinel.detect.rules import RulePack
from shopsentinel.ingest.clean import clean
from shopsentinel.runtime.metrics import ServiceMetrics
from shopsentinel.store.coordination import xact_lock
from shopsentinel.store.points import PointStore
from shopsentinel.store.repository import calendar_events, stores_by_key
from shopsentinel.store.state import AlertRow, StoreRow

HOUR = timedelta(hours=1)
StoreKey = tuple[str, str]
Freshness = Callable[[Panel], list[AlertEvent]]


def floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def hours(self) -> int:
        return int((self.end - self.start) // HOUR)


def window_for(row: StoreRow, now: datetime, window_days: int) -> Window | None:
    """The evaluation window of one store, or None before its first point."""
    if row.first_point_at is None:
        return None
    end = floor_hour(now)
    start = max(end - timedelta(days=window_days), floor_hour(row.first_point_at))
    return Window(start, end) if start < end else None


def create_from(row: StoreRow, window: Window, late: timedelta) -> datetime:
    """Episodes starting before this are not new alerts: while the window reaches back to the
    first point every episode is judged as in the backtest; once it slides, only episodes
    since the previous evaluation (less ``late``) are new."""
    if row.first_point_at is not None and window.start == floor_hour(row.first_point_at):
        return window.start
    previous = row.evaluated_until or window.end
    return max(window.start, min(previous, window.end) - late)


# A store whose platform sync is failing, lagging or has never run is silent for that known reason: the
# sync's own data alert (runtime/sync_runner.py PROBLEM_RULES) is the one message, not a second "stopped
# reporting" beside it.
SYNC_PROBLEM_RULES = ("data.sync_failed", "data.sync_lagging", "data.never_synced")
# An alert starting this long after a slid window's start was judged here with most of the history it
# fired on: if no episode supports it any more, its data were revised (see AlertManager.reconcile).
REVISION_HISTORY = timedelta(days=14)


def judged_from(row: StoreRow, window: Window) -> datetime:
    """The earliest alert start this evaluation judges with the history it fired on: the window's start
    while it still begins at the store's first point (the history is the backtest's), else 14 days in."""
    if row.first_point_at is not None and window.start == floor_hour(row.first_point_at):
        return window.start
    return window.start + REVISION_HISTORY


def detect(frame: pl.DataFrame, stores: list[StoreInfo], calendar: list[CalendarEvent], catalog: Catalog,
           pack: RulePack, start: datetime, hours: int, *, freshness: Freshness | None = None) -> list[AlertEvent]:
    """Episodes of a shard of stores, exactly as ``backtest`` evaluates a shard; ``freshness`` replaces
    the backtest's historic store outages (the live evaluator judges them at the live edge)."""
    cleaned, _report = clean(frame, catalog)
    custom = [m for m in cleaned.get_column("metric").unique().to_list() if m not in catalog]
    canonical = cleaned.filter(~pl.col("metric").is_in(custom)) if custom else cleaned
    panel = build_panel(canonical, stores, calendar, catalog, start=start, hours=hours)
    judged = evaluate_panel(panel, pack.enabled(), catalog, with_pending=True)
    waiting = [e for e in judged if e.mode == "pending"]  # shown as pending; never part of an incident
    events = [e for e in judged if e.mode != "pending"]
    events += silent_store_alerts(panel) if freshness is None else freshness(panel)
    events += silent_metric_alerts(panel)
    if custom:
        events += custom_metric_alerts(cleaned.filter(pl.col("metric").is_in(custom)), stores, calendar)
    return assign_incidents(events) + waiting


def store_panel(points: PointStore, info: StoreInfo, calendar: list[CalendarEvent], catalog: Catalog,
                start: datetime, end: datetime) -> Panel:
    frame = points.frame(info.platform, info.store, start, end)
    cleaned, _ = clean(frame, catalog)
    cleaned = cleaned.filter(pl.col("metric").is_in([m for m in cleaned.get_column("metric").unique().to_list() if m in catalog]))
    return build_panel(cleaned, [info], calendar, catalog, start=start, hours=int((end - start) // HOUR))


class LiveEvaluator:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        points: PointStore,
        catalog: Catalog,
        rules: Callable[[], RulePack],
        clock: Clock,
        metrics: ServiceMetrics,
        *,
        window_days: int,
        late_data_hours: int,
        stores_per_shard: int = 40,
        store_silent_hours: int = STORE_SILENT_HOURS,
    ) -> None:
        self._sessions = sessions
        self._points = points
        self._catalog = catalog
        self._rules = rules
        self._clock = clock
        self._metrics = metrics
        self._window_days = window_days
        self._late = timedelta(hours=late_data_hours)
        self._shard_size = max(1, stores_per_shard)
        self._silent_hours = max(1, store_silent_hours)
        self._manager = AlertManager()

    def evaluate(self, keys: list[StoreKey]) -> list[StateChange]:
        """Evaluate these stores now; stores sharing a window are evaluated as one shard."""
        now = self._clock.now()
        pack = self._rules()
        with self._sessions() as session:
            rows = stores_by_key(session, keys)
            calendar = calendar_events(session)
        shards: dict[Window, list[StoreRow]] = defaultdict(list)
        for row in rows:
            window = window_for(row, now, self._window_days)
            if window is not None:
                shards[window].append(row)
        changes: list[StateChange] = []
        for window, members in sorted(shards.items(), key=lambda kv: kv[0].start):
            for i in range(0, len(members), self._shard_size):  # bounded memory, like the backtest
                changes += self._evaluate_shard(window, members[i : i + self._shard_size], calendar, pack, now)
        return changes

    def _evaluate_shard(self, window: Window, members: list[StoreRow], calendar: list[CalendarEvent],
                        pack: RulePack, now: datetime) -> list[StateChange]:
        started = time.perf_counter()
        infos = [StoreInfo(r.store, r.platform, r.name, r.timezone) for r in members]
        frames = [self._points.frame(r.platform, r.store, window.start, window.end) for r in members]
        frame = pl.concat(frames) if frames else pl.DataFrame()
        keys = [(r.platform, r.store) for r in members]
        with self._sessions() as session:
            open_data = _open_data_alerts(session, keys)
            explained = _sync_problems(session, keys)
        previous = {(r.platform, r.store): r.evaluated_until for r in members}
        open_since = {(r.platform, r.store): r.starts_at for r in open_data if r.rule == STORE_SILENT_RULE}

        def freshness(panel: Panel) -> list[AlertEvent]:
            return live_silent_store_alerts(panel, hours=self._silent_hours, previous_end=previous, open_since=open_since)

        events = detect(frame, infos, calendar, self._catalog, pack, window.start, window.hours, freshness=freshness)
        events += _filled_metric_gaps(open_data, events, window.end)
        # no new "stopped reporting" for a store whose sync is known to fail; an open one still resolves
        events = [e for e in events if not (e.rule == STORE_SILENT_RULE and e.end is None
                                            and (e.platform, e.store) in explained - set(open_since))]
        changes: list[StateChange] = []
        with self._sessions() as session:
            # replicas on one PostgreSQL database: one reconciliation of a store at a time, so two
            # evaluators of one store can never open twin alerts (a no-op on SQLite)
            xact_lock(session, [f"store:{platform}/{store}" for platform, store in keys])
            revised = frozenset(r.id for r in pack.enabled() if r.mode == "alert" and r.kind == "business")
            for row in stores_by_key(session, keys):
                changes += self._manager.reconcile(
                    session, row.platform, row.store, events, now=now, create_from=create_from(row, window, self._late),
                    with_pending=True, revised=revised, judged_from=judged_from(row, window),
                )
                row.evaluated_until = max(row.evaluated_until or window.end, window.end)
            session.commit()
        self._metrics.observe_evaluation(len(members), time.perf_counter() - started)
        return changes


def _open_data_alerts(session: Session, keys: list[StoreKey]) -> list[AlertRow]:
    """The open freshness alerts (store and metric silence) of these stores."""
    wanted = set(keys)
    rows = session.scalars(select(AlertRow).where(
        AlertRow.state == "firing", AlertRow.rule.in_([STORE_SILENT_RULE, METRIC_SILENT_RULE]),
        AlertRow.store.in_(sorted({store for _, store in wanted})))).all()
    return [r for r in rows if (r.platform, r.store) in wanted]


def _sync_problems(session: Session, keys: list[StoreKey]) -> set[StoreKey]:
    """The stores with an open platform-sync alert (failing, lagging, never synced)."""
    wanted = set(keys)
    rows = session.execute(select(AlertRow.platform, AlertRow.store).where(
        AlertRow.state == "firing", AlertRow.rule.in_(SYNC_PROBLEM_RULES),
        AlertRow.store.in_(sorted({store for _, store in wanted})))).all()
    return {(platform, store) for platform, store in rows if (platform, store) in wanted}


def _filled_metric_gaps(open_rows: list[AlertRow], events: list[AlertEvent], end: datetime) -> list[AlertEvent]:
    """An open ``data.metric_silent`` whose gap no longer shows (its points arrived late) ends now."""
    found = {(e.platform, e.store, e.sku, e.metric) for e in events if e.rule == METRIC_SILENT_RULE}
    out = []
    for row in open_rows:
        if row.rule != METRIC_SILENT_RULE or (row.platform, row.store, row.sku, row.metric) in found:
            continue
        out.append(AlertEvent(rule=row.rule, severity=Severity(row.severity), kind="data", category="data",
                              platform=row.platform, store=row.store, sku=row.sku, metric=row.metric,
                              start=row.starts_at, end=max(end, row.starts_at + HOUR), message=row.message,
                              message_en=row.message_en))
    return out


__all__ = ["LiveEvaluator", "Window", "create_from", "detect", "floor_hour", "store_panel", "window_for"]
