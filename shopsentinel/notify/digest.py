"""Turn a notification's alerts into what a reader needs first: incidents, root cause first.

Alerts of one store that share an ``incident`` id are one group; within a group the earliest
alert is the root cause (it fires first, see ``alert.schema.json``) and the rest are its
consequences. Groups still firing come first, then by their worst severity, then by start time.

>>> d = build_digest([{"ts": "2026-11-11T02:00:00Z", "state": "firing", "platform": "tmall",
...     "store": "tm-1", "metric": "uv", "rule": "r", "severity": "critical", "kind": "business",
...     "value": 10, "expected": 100, "incident": "i1"}])
>>> d.total, d.groups[0].root.metric, d.groups[0].root.deviation_pct
(1, 'uv', -90.0)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shopsentinel.core.types import Severity


@dataclass(frozen=True, slots=True)
class AlertLine:
    """One alert, with the fields templates print."""

    ts: str
    state: str
    platform: str
    store: str
    sku: str
    metric: str
    rule: str
    severity: Severity
    kind: str
    value: float | None
    expected: float | None
    message: str
    id: str | None

    @property
    def deviation_pct(self) -> float | None:
        """How far the value is from what was expected, in percent (None when not comparable)."""
        if self.value is None or self.expected is None or self.expected == 0:
            return None
        return round((self.value - self.expected) / abs(self.expected) * 100.0, 1)


@dataclass(frozen=True, slots=True)
class IncidentGroup:
    incident: str
    root: AlertLine
    consequences: tuple[AlertLine, ...]

    @property
    def worst(self) -> Severity:
        return max((self.root, *self.consequences), key=lambda a: a.severity.rank).severity

    @property
    def all_resolved(self) -> bool:
        return all(a.state == "resolved" for a in (self.root, *self.consequences))

    @property
    def size(self) -> int:
        return 1 + len(self.consequences)


@dataclass(frozen=True, slots=True)
class Digest:
    groups: tuple[IncidentGroup, ...]
    total: int
    firing: int
    resolved: int
    by_severity: tuple[tuple[Severity, int], ...]


def _number(raw: Any) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def alert_line(alert: Mapping[str, Any]) -> AlertLine:
    """Read one alert dict of the contract; missing optional fields become empty."""
    try:
        severity = Severity(str(alert.get("severity", "info")))
    except ValueError:
        severity = Severity.INFO
    return AlertLine(
        ts=str(alert.get("ts", "")),
        state=str(alert.get("state", "firing")),
        platform=str(alert.get("platform", "")),
        store=str(alert.get("store", "")),
        sku=str(alert.get("sku") or ""),
        metric=str(alert.get("metric", "")),
        rule=str(alert.get("rule", "")),
        severity=severity,
        kind=str(alert.get("kind", "business")),
        value=_number(alert.get("value")),
        expected=_number(alert.get("expected")),
        message=str(alert.get("message") or ""),
        id=str(alert["id"]) if alert.get("id") is not None else None,
    )


def build_digest(alerts: Iterable[Mapping[str, Any]]) -> Digest:
    """Group alerts by incident, root cause (earliest) first, worst groups first."""
    raw_alerts = list(alerts)
    lines = [alert_line(a) for a in raw_alerts]
    by_incident: dict[str, list[AlertLine]] = {}
    for position, (raw, line) in enumerate(zip(raw_alerts, lines, strict=True)):
        # An alert without an incident is its own group (its own root cause).
        incident = str(raw.get("incident") or "") or f"~{position}"
        by_incident.setdefault(incident, []).append(line)
    groups = []
    for incident, members in by_incident.items():
        ordered = sorted(members, key=lambda a: a.ts)
        groups.append(IncidentGroup(incident=incident, root=ordered[0], consequences=tuple(ordered[1:])))
    # Still-firing incidents first, then the worst, then the oldest.
    groups.sort(key=lambda g: (g.all_resolved, -g.worst.rank, g.root.ts))
    counts = Counter(line.severity for line in lines)
    return Digest(
        groups=tuple(groups),
        total=len(lines),
        firing=sum(1 for line in lines if line.state != "resolved"),
        resolved=sum(1 for line in lines if line.state == "resolved"),
        by_severity=tuple((s, counts[s]) for s in sorted(counts, key=lambda s: -s.rank)),
    )
