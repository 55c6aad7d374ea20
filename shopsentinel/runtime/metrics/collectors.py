"""Scrape-time collectors: what the state database says at the moment of the scrape (alerts by
state and severity, the outbox's depth and oldest pending entry per channel), and the sync lag per
store and stream, measured on the service clock from the end of each stream's last successful window.

The database queries are a few grouped counts over indexed columns (``alerts.state``,
``outbox.status``) with one row per state, severity or channel: cheap and bounded whatever the
history holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.alerting.repository import alerts_by_state
from shopsentinel.core.clock import Clock
from shopsentinel.core.types import Severity
from shopsentinel.ingest.sync import SyncReport
from shopsentinel.notify.outbox import INBOX
from shopsentinel.store.evaluation_marks import EvaluationMarkRow
from shopsentinel.store.state import AlertRow, ChannelRow, OutboxRow

INBOX_LABEL = "inbox"  # the in-app inbox's outbox channel is "" in the database
STORE_STREAM = "all"  # a sync failure before or after the streams (config cannot be opened, recompute)
PENDING = ("pending", "sending")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class StateCollector(Collector):
    """``shopsentinel_alerts{state}``, ``shopsentinel_alerts_firing{severity}``,
    ``shopsentinel_outbox_depth{channel}``, ``shopsentinel_outbox_oldest_pending_age_seconds{channel}``,
    ``shopsentinel_evaluation_unjudged_stores`` and ``shopsentinel_evaluation_oldest_unjudged_age_seconds``."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def collect(self) -> Iterable[GaugeMetricFamily]:
        now = self._clock.now()
        with self._sessions() as session:
            states = alerts_by_state(session)
            firing = {severity: int(n) for severity, n in session.execute(
                select(AlertRow.severity, func.count()).where(AlertRow.state == "firing").group_by(AlertRow.severity))}
            pending = list(session.execute(select(OutboxRow.channel, func.count(), func.min(OutboxRow.created_at))
                                           .where(OutboxRow.status.in_(PENDING)).group_by(OutboxRow.channel)))
            channels = session.scalars(select(ChannelRow.name)).all()
            unjudged, oldest_change = session.execute(
                select(func.count(), func.min(EvaluationMarkRow.changed_at))
                .where(EvaluationMarkRow.changes > EvaluationMarkRow.judged)).one()
        alerts = GaugeMetricFamily("shopsentinel_alerts", "Alerts stored, by state.", labels=["state"])
        for state in sorted({"firing", "resolved", *states}):
            alerts.add_metric([state], states.get(state, 0))
        by_severity = GaugeMetricFamily("shopsentinel_alerts_firing", "Alerts firing now, by severity.",
                                        labels=["severity"])
        for severity in sorted({*(s.value for s in Severity), *firing}):
            by_severity.add_metric([severity], firing.get(severity, 0))
        depth = GaugeMetricFamily("shopsentinel_outbox_depth", "Outbox entries waiting to be delivered (pending or "
                                  "sending), by channel (inbox: the in-app inbox).", labels=["channel"])
        age = GaugeMetricFamily("shopsentinel_outbox_oldest_pending_age_seconds", "Age of the oldest outbox entry "
                                "waiting to be delivered, by channel (0 when none waits).", labels=["channel"])
        waiting = {channel: (int(count), oldest) for channel, count, oldest in pending}
        for channel in sorted({INBOX, *channels, *waiting}):
            count, oldest = waiting.get(channel, (0, None))
            label = channel or INBOX_LABEL
            depth.add_metric([label], count)
            age.add_metric([label], max(0.0, (now - _utc(oldest)).total_seconds()) if oldest is not None else 0.0)
        stores = GaugeMetricFamily("shopsentinel_evaluation_unjudged_stores", "Stores whose live data no evaluation "
                                   "has judged yet (scale-out roles; 0 in the embedded default).")
        stores.add_metric([], int(unjudged))
        lag = GaugeMetricFamily("shopsentinel_evaluation_oldest_unjudged_age_seconds", "Age of the oldest unjudged "
                                "live change (since it arrived or was last sent again), 0 when none waits.")
        lag.add_metric([], max(0.0, (now - _utc(oldest_change)).total_seconds()) if oldest_change is not None else 0.0)
        yield from (alerts, by_severity, depth, age, stores, lag)


class SyncMetrics(Collector):
    """Sync health per store and stream: ``shopsentinel_sync_failures_total{platform,store,stream}``
    (a stream that failed in a sync run) and, at scrape time, ``shopsentinel_sync_lag_seconds`` — how
    long ago (service clock) the end of that stream's last successful sync window was. A stream that
    has failed since the service started, without a success yet, counts from the store's persisted
    ``synced_until`` (or, never synced, from its start)."""

    def __init__(self, clock: Clock, registry: CollectorRegistry) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._synced: dict[tuple[str, str, str], datetime] = {}
        self.failures = Counter("shopsentinel_sync_failures", "Sync runs in which a stream failed, by platform, "
                                f"store and stream ({STORE_STREAM}: the store's run failed outside its streams).",
                                ["platform", "store", "stream"], registry=registry)
        registry.register(self)

    def seed(self, platform: str, store: str, streams: Iterable[str], since: datetime) -> None:
        """What the sync state says at start: these streams were synced up to ``since``."""
        with self._lock:
            for stream in streams:
                self._synced.setdefault((platform, store, stream), since)

    def synced(self, report: SyncReport, since: datetime) -> None:
        """One store's sync run; ``since``: the end of its last successful window before it (its
        persisted ``synced_until``, or its start)."""
        recomputed = report.recomputed_from is not None
        with self._lock:
            known = [key for key in self._synced if key[:2] == (report.platform, report.store)]
            for stream, result in report.streams.items():
                key = (report.platform, report.store, stream)
                if result.error is None and recomputed:
                    self._synced[key] = report.until
                else:
                    self._synced.setdefault(key, since)
                    self.failures.labels(*key).inc()
            if report.error is not None and (not report.streams or not recomputed):
                self.failures.labels(report.platform, report.store, STORE_STREAM).inc()
                if not report.streams and not known:
                    self._synced.setdefault((report.platform, report.store, STORE_STREAM), since)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock.now()
        lag = GaugeMetricFamily("shopsentinel_sync_lag_seconds", "Seconds since the end of the last successful sync "
                                "window, by platform, store and stream.", labels=["platform", "store", "stream"])
        with self._lock:
            synced = sorted(self._synced.items())
        for key, until in synced:
            lag.add_metric(list(key), max(0.0, (now - until).total_seconds()))
        yield lag


__all__ = ["INBOX_LABEL", "STORE_STREAM", "StateCollector", "SyncMetrics"]
