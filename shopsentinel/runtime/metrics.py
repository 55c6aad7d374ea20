"""Service metrics in the Prometheus text exposition format (written by hand, no client lib)."""

from __future__ import annotations

import threading
from bisect import bisect_left

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.points_ingested = 0
        self.points_rejected = 0
        self.evaluations = 0
        self.ticks = 0
        self.secret_key_degraded = False  # started although the key cannot open the stored secrets
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0

    def count_points(self, accepted: int, rejected: int) -> None:
        with self._lock:
            self.points_ingested += accepted
            self.points_rejected += rejected

    def count_tick(self) -> None:
        """One background tick completed (evaluation of what was queued, then notification)."""
        with self._lock:
            self.ticks += 1

    def observe_evaluation(self, stores: int, seconds: float) -> None:
        with self._lock:
            self.evaluations += stores
            self._bucket_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds

    def render(self, alerts_by_state: dict[str, int]) -> str:
        with self._lock:
            lines = [
                "# HELP shopsentinel_points_ingested_total Points accepted by the ingest API.",
                "# TYPE shopsentinel_points_ingested_total counter",
                f"shopsentinel_points_ingested_total {self.points_ingested}",
                "# HELP shopsentinel_points_rejected_total Points rejected by the ingest API.",
                "# TYPE shopsentinel_points_rejected_total counter",
                f"shopsentinel_points_rejected_total {self.points_rejected}",
                "# HELP shopsentinel_store_evaluations_total Store evaluations run.",
                "# TYPE shopsentinel_store_evaluations_total counter",
                f"shopsentinel_store_evaluations_total {self.evaluations}",
                "# HELP shopsentinel_ticks_total Background ticks completed (evaluate the queue, then notify).",
                "# TYPE shopsentinel_ticks_total counter",
                f"shopsentinel_ticks_total {self.ticks}",
                "# HELP shopsentinel_secret_key_degraded 1 when the service started degraded: its secret key "
                "cannot open the stored secrets (SHOPSENTINEL_ALLOW_DEGRADED_KEY).",
                "# TYPE shopsentinel_secret_key_degraded gauge",
                f"shopsentinel_secret_key_degraded {int(self.secret_key_degraded)}",
                "# HELP shopsentinel_alerts Alerts stored, by state.",
                "# TYPE shopsentinel_alerts gauge",
            ]
            for state in sorted({"firing", "resolved", *alerts_by_state}):
                lines.append(f'shopsentinel_alerts{{state="{state}"}} {alerts_by_state.get(state, 0)}')
            lines += [
                "# HELP shopsentinel_evaluation_seconds Latency of one evaluation shard.",
                "# TYPE shopsentinel_evaluation_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip(LATENCY_BUCKETS, self._bucket_counts, strict=False):
                cumulative += count
                lines.append(f'shopsentinel_evaluation_seconds_bucket{{le="{bound}"}} {cumulative}')
            total = sum(self._bucket_counts)
            lines.append(f'shopsentinel_evaluation_seconds_bucket{{le="+Inf"}} {total}')
            lines.append(f"shopsentinel_evaluation_seconds_sum {self._latency_sum:.6f}")
            lines.append(f"shopsentinel_evaluation_seconds_count {total}")
        return "\n".join(lines) + "\n"


__all__ = ["LATENCY_BUCKETS", "ServiceMetrics"]
