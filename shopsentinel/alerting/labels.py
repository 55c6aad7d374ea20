"""An alert's labels: what silences, time intervals, maintenance windows and routes match on."""

from __future__ import annotations

from collections.abc import Mapping

from shopsentinel.alerting.routing import Labels
from shopsentinel.store.state import AlertRow


def alert_labels(row: AlertRow) -> Labels:
    return {
        "platform": row.platform, "store": row.store, "sku": row.sku, "rule": row.rule,
        "metric": row.metric, "severity": row.severity, "kind": row.kind,
    }


def routing_labels(row: AlertRow) -> Labels:
    return {**alert_labels(row), "category": row.category}


def labels_of(alert: AlertRow | Mapping[str, str]) -> Labels:
    """The labels of an alert row, or the given labels themselves."""
    return dict(alert) if isinstance(alert, Mapping) else routing_labels(alert)


__all__ = ["Labels", "alert_labels", "labels_of", "routing_labels"]
