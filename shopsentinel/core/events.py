"""The alert event: one firing episode of one rule on one series, and its JSON-lines form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shopsentinel.core.types import Severity


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(x: float | None) -> float | None:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return None
    return round(float(x), 6)


@dataclass
class AlertEvent:
    rule: str
    severity: Severity
    kind: str  # business | data
    category: str
    platform: str
    store: str
    sku: str
    metric: str
    start: datetime
    end: datetime | None
    value: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    message: str = ""
    message_en: str = ""
    mode: str = "alert"  # alert | task | pending (holding, not yet for the rule's ``for``; live service only)
    incident: str = ""
    root_rank: int = 99
    notify: list[str] = field(default_factory=list)

    def lines(self) -> list[dict[str, Any]]:
        """The contract's JSON lines: one ``firing``, and one ``resolved`` if it ended."""
        base = {
            "platform": self.platform,
            "store": self.store,
            "sku": self.sku,
            "metric": self.metric,
            "rule": self.rule,
            "severity": str(self.severity),
            "kind": self.kind,
            "value": _num(self.value),
            "expected": _num(self.expected),
            "lower": _num(self.lower),
            "upper": _num(self.upper),
            "incident": self.incident,
            "message": self.message,
        }
        out = [{"ts": _iso(self.start), "state": "firing", **base}]
        if self.end is not None:
            out.append({"ts": _iso(self.end), "state": "resolved", **base})
        return out
