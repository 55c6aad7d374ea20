"""Judge a detector's alerts against the fleet's labels: recall, delay, precision, traps.

The scorer reads only files (alerts as JSON lines per contracts/alert.schema.json, incidents.csv,
traps.csv, stores.csv), so any detector can be judged the same way, and every number can be
checked by hand:

* Only ``state == "firing"`` lines count. ``kind == "data"`` alerts are not business alerts; they are
  scored separately (a data alert during a connector outage is what we want).
* A business alert matches an incident when platform and store agree, the SKU agrees when both the
  incident and the alert have one, and the alert's ts lies in [start - 1 h, end + 6 h].
* Recall: an incident is detected by its first matching alert; delay = that ts - start, floored at 0.
* Precision per alert (matched / all business alerts) and per alert group (distinct ``incident``
  field; a group is true if any member matched). Headline F1 = harmonic mean of incident recall and
  group precision.
* Trap violations: unmatched business alerts inside a trap window (outages up to end + 2 h,
  single-row traps ±2 h, other traps over their window), counted per trap type. The target is zero.
  A trap on one metric (a duplicated row, an impossible value, one metric's outage) only counts
  alerts on that metric or on a derived metric computed from it: with 0.3 % of rows duplicated,
  ±2 h around any duplicate would otherwise cover a third of every store's hours.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

MATCH_BEFORE = timedelta(hours=1)
MATCH_AFTER = timedelta(hours=6)
POINT_TRAP_SLACK = timedelta(hours=2)
OUTAGE_TYPES = ("outage", "metric_outage")
POINT_TRAP_TYPES = ("duplicate", "conflicting_duplicate", "impossible_value")
SEVERITIES = ("fatal", "critical", "warning", "info")
# Derived metrics of DESIGN.md and the base metrics they are computed from.
DERIVED_INPUTS: dict[str, frozenset[str]] = {
    "conversion_rate": frozenset({"orders", "uv"}), "pay_conversion_rate": frozenset({"paid_orders", "uv"}),
    "aov": frozenset({"gmv", "paid_orders"}), "refund_rate": frozenset({"refunds", "paid_orders"}),
    "payment_failure_rate": frozenset({"payment_failures", "payment_attempts"}),
    "negative_review_rate": frozenset({"negative_reviews", "reviews"}),
    "ad_cpc": frozenset({"ad_spend", "ad_clicks"}), "ad_conversion_rate": frozenset({"ad_orders", "ad_clicks"}),
    "ad_roi": frozenset({"ad_gmv", "ad_spend"}), "bounce_rate": frozenset({"bounces", "uv"}),
    "stock_cover_days": frozenset({"stock", "units_sold"}), "sell_through_rate": frozenset({"units_sold", "stock"}),
}


def parse_ts(text: str) -> datetime:
    """ISO-8601 with Z or an offset, as every file of the benchmark writes it."""
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


@dataclass(frozen=True)
class Alert:
    ts: datetime
    platform: str
    store: str
    sku: str
    metric: str
    severity: str
    kind: str
    group: str  # the alert's ``incident`` field, or a unique key when it has none


@dataclass(frozen=True)
class Labelled:
    """One row of incidents.csv or traps.csv."""

    kind: str
    platform: str
    store: str
    sku: str
    start: datetime
    end: datetime
    label_id: str = ""
    metric: str = ""


def load_alerts(path: str | Path) -> list[Alert]:
    """Firing alerts of a JSON-lines file; resolved lines and blank lines are skipped."""
    alerts: list[Alert] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("state") != "firing":
            continue
        alerts.append(Alert(
            ts=parse_ts(row["ts"]), platform=row["platform"], store=row["store"], sku=row.get("sku") or "",
            metric=row.get("metric", ""), severity=row.get("severity", "warning"),
            kind=row.get("kind", "business"), group=row.get("incident") or f"__alert_{n}",
        ))
    return alerts


def load_labels(path: str | Path, id_column: str | None, metric_column: str) -> list[Labelled]:
    frame = pl.read_csv(path, infer_schema=False).fill_null("")
    return [Labelled(kind=row["type"], platform=row["platform"], store=row["store"], sku=row["sku"],
                     start=parse_ts(row["start"]), end=parse_ts(row["end"]),
                     label_id=row[id_column] if id_column else "", metric=row[metric_column])
            for row in frame.iter_rows(named=True)]


Widening = Callable[[Labelled], tuple[timedelta, timedelta]]


class LabelIndex:
    """Labels grouped by store, with vectorised window tests (traps.csv holds thousands of rows)."""

    def __init__(self, labels: list[Labelled], widen: Widening) -> None:
        self.labels = labels
        grouped: dict[tuple[str, str], list[int]] = {}
        for n, label in enumerate(labels):
            grouped.setdefault((label.platform, label.store), []).append(n)
        self._rows: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        for key, members in grouped.items():
            pads = [widen(labels[n]) for n in members]
            lows = np.array([(labels[n].start - before).timestamp() for n, (before, _) in zip(members, pads, strict=True)])
            highs = np.array([(labels[n].end + after).timestamp() for n, (_, after) in zip(members, pads, strict=True)])
            skus = np.array([labels[n].sku for n in members], dtype=object)
            self._rows[key] = (np.array(members, dtype=np.int64), lows, highs, skus)

    def hits(self, alert: Alert) -> list[int]:
        """Indices (into ``labels``) of the labels whose widened window covers the alert."""
        rows = self._rows.get((alert.platform, alert.store))
        if rows is None:
            return []
        members, lows, highs, skus = rows
        moment = alert.ts.timestamp()
        inside = (lows <= moment) & (moment <= highs)
        if alert.sku:
            inside &= (skus == "") | (skus == alert.sku)
        return [int(n) for n in members[inside]]


def _incident_window(_: Labelled) -> tuple[timedelta, timedelta]:
    return MATCH_BEFORE, MATCH_AFTER


def concerns(trap: Labelled, alert: Alert) -> bool:
    """Whether an alert is about what a trap corrupted (store-wide traps concern every metric)."""
    if trap.kind not in POINT_TRAP_TYPES and trap.kind != "metric_outage":
        return True
    touched = {m for m in trap.metric.split(";") if m}
    return not touched or alert.metric in touched or bool(touched & DERIVED_INPUTS.get(alert.metric, frozenset()))


def _trap_window(trap: Labelled) -> tuple[timedelta, timedelta]:
    if trap.kind in OUTAGE_TYPES:
        return timedelta(0), POINT_TRAP_SLACK
    if trap.kind in POINT_TRAP_TYPES:  # stored as [ts, ts + 1 h): widen to ts ± 2 h
        return POINT_TRAP_SLACK, POINT_TRAP_SLACK - (trap.end - trap.start)
    return timedelta(0), timedelta(0)


@dataclass
class AlertStats:
    """Detection numbers for one set of business alerts (all severities, or without info)."""

    incidents: int
    detected: int
    recall: float
    business_alerts: int
    matched_alerts: int
    alert_precision: float
    groups: int
    true_groups: int
    group_precision: float
    f1: float
    false_alerts: int
    false_alerts_per_store_week: float
    delay_median_h: float | None
    delay_p90_h: float | None
    recall_by_type: dict[str, float] = field(default_factory=dict)
    detected_by_type: dict[str, list[int]] = field(default_factory=dict)  # type -> [detected, total]
    delay_median_by_type_h: dict[str, float] = field(default_factory=dict)


@dataclass
class QualityReport:
    overall: AlertStats
    excluding_info: AlertStats
    by_severity: dict[str, dict[str, int]]  # severity -> {"alerts": n, "matched": m}
    trap_violations: dict[str, int]  # trap type -> unmatched business alerts inside such a trap
    trap_violating_alerts: int
    data_alerts: int
    outages: int
    outages_with_data_alert: int
    data_outage_recall: float | None
    dirty_rows: int
    dirty_rows_with_data_alert: int
    stores: int
    weeks: float
    undetected: list[str] = field(default_factory=list)  # incident ids, for debugging a detector

    @property
    def f1(self) -> float:
        return self.overall.f1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_table(self, title: str = "ShopSentinel detection quality") -> Any:
        """A Rich table (rich is imported here only: scoring itself does not need it)."""
        from rich.table import Table

        table = Table(title=title)
        table.add_column("measure")
        table.add_column("all severities", justify="right")
        table.add_column("without info", justify="right")
        a, b = self.overall, self.excluding_info
        rows: list[tuple[str, str, str]] = [
            ("F1 (recall, group precision)", _pct(a.f1), _pct(b.f1)),
            ("incident recall", f"{_pct(a.recall)} ({a.detected}/{a.incidents})", f"{_pct(b.recall)} ({b.detected}/{b.incidents})"),
            ("group precision", f"{_pct(a.group_precision)} ({a.true_groups}/{a.groups})",
             f"{_pct(b.group_precision)} ({b.true_groups}/{b.groups})"),
            ("alert precision", f"{_pct(a.alert_precision)} ({a.matched_alerts}/{a.business_alerts})",
             f"{_pct(b.alert_precision)} ({b.matched_alerts}/{b.business_alerts})"),
            ("false alerts per store-week", f"{a.false_alerts_per_store_week:.2f}", f"{b.false_alerts_per_store_week:.2f}"),
            ("delay median / p90 (h)", f"{_num(a.delay_median_h)} / {_num(a.delay_p90_h)}",
             f"{_num(b.delay_median_h)} / {_num(b.delay_p90_h)}"),
        ]
        for kind, (hit, total) in sorted(a.detected_by_type.items()):
            other = b.detected_by_type.get(kind, [0, total])
            delay = a.delay_median_by_type_h.get(kind)
            rows.append((f"  {kind} (median delay {_num(delay)} h)", f"{hit}/{total}", f"{other[0]}/{other[1]}"))
        for severity, counts in self.by_severity.items():
            rows.append((f"  {severity} alerts (matched)", f"{counts['alerts']} ({counts['matched']})", ""))
        violations = ", ".join(f"{k} {v}" for k, v in sorted(self.trap_violations.items()) if v) or "none"
        rows.append(("trap violations (target 0)", str(self.trap_violating_alerts), violations))
        rows.append(("data alerts; outages caught", str(self.data_alerts),
                     f"{self.outages_with_data_alert}/{self.outages} ({_pct(self.data_outage_recall)})"))
        rows.append(("dirty rows caught by data alerts", "", f"{self.dirty_rows_with_data_alert}/{self.dirty_rows}"))
        for row in rows:
            table.add_row(*row)
        return table


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _stats(alerts: list[Alert], incidents: list[Labelled], store_weeks: float) -> AlertStats:
    index = LabelIndex(incidents, _incident_window)
    matched = [False] * len(alerts)
    first_hit: dict[int, datetime] = {}
    for j, alert in enumerate(alerts):
        for i in index.hits(alert):
            matched[j] = True
            if i not in first_hit or alert.ts < first_hit[i]:
                first_hit[i] = alert.ts
    delays = {i: max((ts - incidents[i].start).total_seconds() / 3600, 0.0) for i, ts in first_hit.items()}
    group_truth: dict[str, bool] = {}
    for alert, hit in zip(alerts, matched, strict=True):
        group_truth[alert.group] = group_truth.get(alert.group, False) or hit
    by_type: dict[str, list[int]] = {}
    type_delays: dict[str, list[float]] = {}
    for i, incident in enumerate(incidents):
        counts = by_type.setdefault(incident.kind, [0, 0])
        counts[1] += 1
        if i in first_hit:
            counts[0] += 1
            type_delays.setdefault(incident.kind, []).append(delays[i])
    recall = _ratio(len(first_hit), len(incidents))
    group_precision = _ratio(sum(group_truth.values()), len(group_truth))
    values = np.array(list(delays.values()))
    false_alerts = matched.count(False)
    return AlertStats(
        incidents=len(incidents), detected=len(first_hit), recall=recall,
        business_alerts=len(alerts), matched_alerts=sum(matched), alert_precision=_ratio(sum(matched), len(alerts)),
        groups=len(group_truth), true_groups=sum(group_truth.values()), group_precision=group_precision,
        f1=_ratio(2 * recall * group_precision, recall + group_precision),
        false_alerts=false_alerts, false_alerts_per_store_week=_ratio(false_alerts, store_weeks),
        delay_median_h=float(np.median(values)) if values.size else None,
        delay_p90_h=float(np.percentile(values, 90)) if values.size else None,
        recall_by_type={k: _ratio(hit, total) for k, (hit, total) in by_type.items()},
        detected_by_type=by_type,
        delay_median_by_type_h={k: float(np.median(v)) for k, v in type_delays.items()},
    )


def _count_covered(labels: list[Labelled], alerts: list[Alert], widen: Widening) -> int:
    """How many labels have at least one of the alerts inside their widened window."""
    index = LabelIndex(labels, widen)
    covered: set[int] = set()
    for alert in alerts:
        covered.update(index.hits(alert))
    return len(covered)


def score(alerts: str | Path, incidents_csv: str | Path, traps_csv: str | Path, stores_csv: str | Path,
          start: datetime | None = None, end: datetime | None = None) -> QualityReport:
    """Score one backtest. ``start``/``end`` bound the run (for store-weeks); by default the span of
    the labels."""
    fired = load_alerts(alerts)
    incidents = load_labels(incidents_csv, "id", "metrics")
    traps = load_labels(traps_csv, None, "metric")
    stores = pl.read_csv(stores_csv, infer_schema=False).height
    if start is None or end is None:
        moments = [x.start for x in incidents + traps] + [x.end for x in incidents + traps]
        start = start or min(moments)
        end = end or max(moments)
    weeks = (end - start).total_seconds() / (7 * 86400)
    store_weeks = stores * weeks
    business = [a for a in fired if a.kind != "data"]
    data = [a for a in fired if a.kind == "data"]
    overall = _stats(business, incidents, store_weeks)
    without_info = _stats([a for a in business if a.severity != "info"], incidents, store_weeks)

    incident_index = LabelIndex(incidents, _incident_window)
    matched_by_alert = [incident_index.hits(a) for a in business]
    trap_index = LabelIndex(traps, _trap_window)
    violations: dict[str, int] = dict.fromkeys(sorted({t.kind for t in traps}), 0)
    violating = 0
    for alert, hits in zip(business, matched_by_alert, strict=True):
        if hits:
            continue
        kinds = {traps[n].kind for n in trap_index.hits(alert) if concerns(traps[n], alert)}
        for kind in kinds:
            violations[kind] += 1
        violating += bool(kinds)

    by_severity = {s: {"alerts": 0, "matched": 0} for s in SEVERITIES}
    for alert, hits in zip(business, matched_by_alert, strict=True):
        counts = by_severity.setdefault(alert.severity, {"alerts": 0, "matched": 0})
        counts["alerts"] += 1
        counts["matched"] += bool(hits)

    outages = [t for t in traps if t.kind in OUTAGE_TYPES]
    dirty = [t for t in traps if t.kind in POINT_TRAP_TYPES]
    caught_outages = _count_covered(outages, data, lambda _: (timedelta(0), MATCH_AFTER))
    detected_ids = {incidents[i].label_id for hits in matched_by_alert for i in hits}
    return QualityReport(
        overall=overall, excluding_info=without_info, by_severity=by_severity,
        trap_violations=violations, trap_violating_alerts=violating, data_alerts=len(data),
        outages=len(outages), outages_with_data_alert=caught_outages,
        data_outage_recall=_ratio(caught_outages, len(outages)) if outages else None,
        dirty_rows=len(dirty), dirty_rows_with_data_alert=_count_covered(dirty, data, _trap_window),
        stores=stores, weeks=weeks, undetected=sorted({i.label_id for i in incidents} - detected_ids),
    )
