"""``ServiceMetrics``: the live service's counters and histograms on a registry of its own.

Every series keeps the name it had when the exposition was written by hand
(``shopsentinel_points_ingested_total``, ``shopsentinel_ticks_total``, ``shopsentinel_alerts`` …);
the new ones are listed in docs/OPERATIONS.md. The registry is per service, never the library's
global one: tests build many apps in one process.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.runtime.metrics.collectors import StateCollector, SyncMetrics

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes


class ServiceMetrics:
    """The service's metrics. Counters are thread-safe (prometheus-client); the heartbeat of the
    background runner (:meth:`count_tick`) is kept on the service clock, so ``/readyz`` and the
    tests agree on what "stale" means."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.registry = CollectorRegistry()
        r = self.registry
        self._points_ingested = Counter("shopsentinel_points_ingested", "Points accepted by the ingest API.", registry=r)
        self._points_rejected = Counter("shopsentinel_points_rejected", "Points rejected by the ingest API.", registry=r)
        self._evaluations = Counter("shopsentinel_store_evaluations", "Store evaluations run.", registry=r)
        self._ticks = Counter("shopsentinel_ticks", "Background ticks completed (evaluate the queue, then notify).",
                              registry=r)
        self._degraded = Gauge("shopsentinel_secret_key_degraded", "1 when the service started degraded: its secret "
                               "key cannot open the stored secrets (SHOPSENTINEL_ALLOW_DEGRADED_KEY).", registry=r)
        self._evaluation_seconds = Histogram("shopsentinel_evaluation_seconds", "Latency of one evaluation shard.",
                                             buckets=LATENCY_BUCKETS, registry=r)
        self._last_tick = Gauge("shopsentinel_last_tick_timestamp_seconds", "Unix time of the last completed "
                                "background tick (the service's start until the first one).", registry=r)
        self.notifications_sent = Counter("shopsentinel_notifications_sent", "Channel messages sent, by channel.",
                                          ["channel"], registry=r)
        self.notifications_failed = Counter(
            "shopsentinel_notifications_failed", "Channel sends that failed (each attempt, retried or final), by "
            "channel and reason (timeout, transport, throttled, http_5xx, http_4xx, rejected, secret_key, "
            "unconfigured, error).", ["channel", "reason"], registry=r)
        self.admission_refused = Counter("shopsentinel_admission_refused", "Write requests shed by admission "
                                         "control (503 + Retry-After before the body is read).", registry=r)
        self._http_seconds = Histogram("shopsentinel_http_request_duration_seconds", "HTTP request latency by route "
                                       "template (unmatched: other), method and status class.",
                                       ["route", "method", "status"], buckets=HTTP_BUCKETS, registry=r)
        self.ready = Gauge("shopsentinel_ready", "1 while the /readyz check passes (database, scheduler), else 0.",
                           ["check"], registry=r)
        self.sync = SyncMetrics(self.clock, r)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.last_tick_at: datetime = self.clock.now()
        self._last_tick.set(self.last_tick_at.timestamp())

    # ------------------------------------------------------------ the hooks

    def watch_state(self, sessions: sessionmaker[Session]) -> None:
        """Add the scrape-time collector over the state database (alerts by state and severity,
        outbox depth and oldest pending age per channel)."""
        self.registry.register(StateCollector(sessions, self.clock))

    def count_points(self, accepted: int, rejected: int) -> None:
        self._points_ingested.inc(accepted)
        self._points_rejected.inc(rejected)

    def count_tick(self) -> None:
        """One background tick completed (evaluation of what was queued, then notification)."""
        self.last_tick_at = self.clock.now()
        self._ticks.inc()
        self._last_tick.set(self.last_tick_at.timestamp())

    def observe_evaluation(self, stores: int, seconds: float) -> None:
        self._evaluations.inc(stores)
        self._evaluation_seconds.observe(seconds)

    def observe_request(self, route: str, method: str, status: str, seconds: float) -> None:
        self._http_seconds.labels(route, method, status).observe(seconds)

    def refused(self) -> None:
        """Admission control shed one write request."""
        self.admission_refused.inc()

    # the delivery observer (shopsentinel.notify.delivery.DeliveryObserver)
    def sent(self, channel: str) -> None:
        self.notifications_sent.labels(channel).inc()

    def failed(self, channel: str, reason: str) -> None:
        self.notifications_failed.labels(channel, reason).inc()

    # ------------------------------------------------------------ reading

    @property
    def secret_key_degraded(self) -> bool:
        return _value(self._degraded) > 0

    @secret_key_degraded.setter
    def secret_key_degraded(self, degraded: bool) -> None:
        self._degraded.set(1 if degraded else 0)

    @property
    def points_ingested(self) -> int:
        return int(_value(self._points_ingested))

    @property
    def points_rejected(self) -> int:
        return int(_value(self._points_rejected))

    @property
    def evaluations(self) -> int:
        return int(_value(self._evaluations))

    @property
    def ticks(self) -> int:
        return int(_value(self._ticks))

    def tick_age_seconds(self) -> float:
        """Seconds (service clock) since the last completed background tick, or since the start."""
        return (self.clock.now() - self.last_tick_at).total_seconds()

    def exposition(self) -> bytes:
        """Every series in the Prometheus text format (runs the scrape-time collectors: their
        database errors propagate, so a scrape with the database down is a 503)."""
        return generate_latest(self.registry)


def _value(metric: Counter | Gauge) -> float:
    """The one sample of an unlabelled counter (its ``_total``) or gauge, from its own collect()."""
    for family in metric.collect():
        for sample in family.samples:
            if sample.name == family.name or sample.name == f"{family.name}_total":
                return float(sample.value)
    return 0.0


__all__ = ["CONTENT_TYPE", "HTTP_BUCKETS", "LATENCY_BUCKETS", "ServiceMetrics"]
