"""Where things happen in one store's timeline: incidents, level shifts, outages and price changes.

Placement rules keep the labels unambiguous for scoring: incidents never overlap each other, an
announced event or the week after a promotion (its refunds and reviews trickle in), never sit
inside the 双11 aftermath, the pre-双11 lull, a DST change or a level shift, and the week before each
incident is also kept clear so "same hours last week" is a clean reference. Connector outages and
other traps avoid incidents (a gap is a data problem, not a business one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WEEK = 168


@dataclass
class Timeline:
    """Reserved intervals of one store, [start, end) in hour indices."""

    hours: int
    earliest_incident: int
    announced: list[tuple[int, int]] = field(default_factory=list)  # promotions, maintenance
    quiet: list[tuple[int, int]] = field(default_factory=list)  # aftermath, DST, level shifts
    incidents: list[tuple[int, int]] = field(default_factory=list)
    outages: list[tuple[int, int]] = field(default_factory=list)

    @staticmethod
    def _hits(start: int, end: int, intervals: list[tuple[int, int]]) -> bool:
        return any(start < b and a < end for a, b in intervals)

    def incident_fits(self, start: int, end: int) -> bool:
        """An incident [start, end) plus the week before it stays clear of everything reserved."""
        if start < self.earliest_incident or end + 24 > self.hours:
            return False
        footprint = (start - WEEK, end + 24)
        return not (self._hits(*footprint, self.announced) or self._hits(*footprint, self.quiet)
                    or self._hits(*footprint, self.outages)
                    or self._hits(*footprint, [(a - WEEK, b + 24) for a, b in self.incidents]))

    def trap_fits(self, start: int, end: int) -> bool:
        """Traps keep clear of incidents and of the week before them (with the scorer's slack)."""
        if start < 0 or end > self.hours:
            return False
        return not self._hits(start, end, [(a - WEEK - 2, b + 8) for a, b in self.incidents])


DURATION_HOURS: dict[str, tuple[int, int]] = {
    "traffic_crash": (2, 12), "conversion_drop": (3, 24), "order_burst": (2, 8),
    "refund_surge": (12, 72), "payment_failures": (1, 6), "bad_review_surge": (12, 48),
    "price_error": (2, 24), "ad_anomaly": (3, 24), "logistics_stuck": (24, 96), "dsr_drop": (24, 120),
    "ad_budget_squeeze": (3, 24),
}
BUDGET_SQUEEZE_SHARE = 0.5  # share of ad anomalies that hit an account on a daily budget
# Types whose visibility depends on live traffic start preferably in busier local hours.
TRAFFIC_DRIVEN = frozenset({"traffic_crash", "conversion_drop", "order_burst", "payment_failures",
                            "ad_anomaly", "price_error"})


@dataclass(frozen=True)
class PlannedIncident:
    type: str
    start: int
    end: int
    magnitude: float  # type-specific: multiplier or target level, see fleet_store_sim
    sku_index: int = -1
    variant: str = ""


def draw_duration(kind: str, rng: np.random.Generator, small_store: bool) -> int:
    """Duration in hours; small stores get the long half so a handful of orders can still show it."""
    low, high = DURATION_HOURS[kind]
    if small_store:
        low = (low + high) // 2
    return int(rng.integers(low, high + 1))


def draw_magnitude(kind: str, rng: np.random.Generator) -> tuple[float, str]:
    """Effect size: some incidents are blatant, many are subtle but operationally important."""
    if kind == "traffic_crash":
        return float(rng.uniform(0.1, 0.5)), ""  # traffic multiplier (falls 50-90%)
    if kind == "conversion_drop":
        return float(rng.uniform(0.2, 0.6)), ""
    if kind == "order_burst":
        return float(rng.uniform(2.5, 6.0)), "viral" if rng.random() < 0.6 else "bulk"
    if kind == "refund_surge":
        return float(rng.uniform(3.0, 8.0)), ""
    if kind == "payment_failures":
        return float(rng.uniform(0.15, 0.6)), ""  # failure rate during the incident
    if kind == "bad_review_surge":
        return float(rng.uniform(4.0, 10.0)), ""
    if kind == "price_error":
        if rng.random() < 0.7:
            return float(rng.uniform(0.1, 0.5)), "too_low"
        return 10.0, "too_high"
    if kind == "ad_anomaly":
        return float(rng.uniform(1.6, 3.0)), ""  # ad spend multiplier; orders fall separately
    if kind == "logistics_stuck":
        return float(rng.uniform(6.0, 20.0)), ""
    if kind == "dsr_drop":
        return float(rng.uniform(4.35, 4.58)), ""  # the level DSR sinks to
    if kind == "stock_out":
        return float(rng.uniform(4.0, 10.0)), "demand_jump" if rng.random() < 0.4 else "missed_restock"
    raise ValueError(f"unknown incident type {kind}")


def budget_factors(magnitude: float, draw: float) -> tuple[float, float]:
    """(cost-per-click multiplier, ad-conversion divisor), each in [1.5, 2], of a budget-capped ad
    anomaly, mapped from the plain ad anomaly's magnitude (1.6–3) and conversion draw (0.2–0.6)
    so both variants take the same random draws."""
    cpc = 1.5 + 0.5 * float(np.clip((magnitude - 1.6) / 1.4, 0.0, 1.0))
    conversion = 1.5 + 0.5 * float(np.clip((draw - 0.2) / 0.4, 0.0, 1.0))
    return cpc, conversion


def severity_hint(kind: str, magnitude: float, peak_orders: float) -> str:
    """What an operations lead would call it: strength of the effect, scaled by the store's weight."""
    strong = {
        "traffic_crash": magnitude <= 0.25, "conversion_drop": magnitude <= 0.35,
        "order_burst": magnitude >= 4.0, "refund_surge": magnitude >= 5.0,
        "payment_failures": magnitude >= 0.35, "bad_review_surge": magnitude >= 7.0,
        "price_error": True, "ad_anomaly": magnitude >= 2.3, "ad_budget_squeeze": magnitude >= 2.3,
        "logistics_stuck": magnitude >= 12.0,
        "dsr_drop": magnitude <= 4.45, "stock_out": True,
    }[kind]
    if strong and peak_orders >= 300 and kind in ("traffic_crash", "payment_failures", "price_error",
                                                  "stock_out"):
        return "fatal"
    return "critical" if strong else "warning"


def place_window(timeline: Timeline, duration: int, rng: np.random.Generator, activity: np.ndarray | None,
                 tries: int = 400) -> tuple[int, int] | None:
    """A random free start for an incident; ``activity`` (0..1 per hour) biases towards busy hours."""
    low, high = timeline.earliest_incident, timeline.hours - duration - 24
    if high <= low:
        return None
    for _ in range(tries):
        start = int(rng.integers(low, high))
        if activity is not None and rng.random() > float(np.sqrt(activity[start])):
            continue
        if timeline.incident_fits(start, start + duration):
            return start, start + duration
    return None


def place_trap(timeline: Timeline, duration: int, rng: np.random.Generator,
               tries: int = 200) -> tuple[int, int] | None:
    high = timeline.hours - duration
    if high <= 0:
        return None
    for _ in range(tries):
        start = int(rng.integers(0, high))
        if timeline.trap_fits(start, start + duration):
            return start, start + duration
    return None
