"""The service's own Prometheus metrics, on prometheus-client with one
:class:`~prometheus_client.CollectorRegistry` per service (tests build many apps in one process).

``service.py`` holds :class:`ServiceMetrics` (counters, histograms and the tick heartbeat, plus the
delivery observer the outbox's delivery loop reports to); ``collectors.py`` the scrape-time
collectors over the state database (alerts, outbox depth) and the sync lag tracker; ``http.py`` the
ASGI middleware timing requests by route template. docs/OPERATIONS.md lists every series.
"""

from shopsentinel.runtime.metrics.collectors import StateCollector, SyncMetrics
from shopsentinel.runtime.metrics.http import RequestMetrics, route_template
from shopsentinel.runtime.metrics.service import LATENCY_BUCKETS, ServiceMetrics

__all__ = ["LATENCY_BUCKETS", "RequestMetrics", "ServiceMetrics", "StateCollector", "SyncMetrics", "route_template"]
