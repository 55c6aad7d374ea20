"""Per-SKU inventory: sales deplete stock hour by hour, purchase orders replenish it once a day.

The replenishment planner knows the expected demand (including announced promotions), so in normal
operation a purchase order lands while the SKU still has ``safety_days`` of cover, and stock never
runs out. A stock-out incident is produced by cancelling deliveries (a supplier failure) or by a
demand jump, and ends with an emergency delivery; the planner's view of cover is the thing a good
detector should mirror ("stock about to run out"), which is why it is modelled explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StockPolicy:
    lead_days: int  # days between placing and receiving a purchase order
    safety_days: float  # cover the planner wants left when a delivery lands (5-12 days)
    target_days: float  # cover a delivery tops the stock up to
    case_pack: int  # purchase quantities are multiples of this
    receiving_hour: int  # hour index of the first daily receiving slot (0..23)
    initial_stock: int
    min_units: int = 8  # slow movers keep a few units whatever the forecast says


@dataclass(frozen=True)
class SupplyDisruption:
    """From ``start`` no deliveries arrive and no purchase orders go out, until an emergency
    delivery lands ``zero_hours`` after the shelf ran empty (at the next receiving slot).

    ``zero_hours=None`` never restores (used while planning, to find when stock would hit zero).
    ``extra_demand`` is added while the disruption lasts (a demand jump that outruns supply).
    """

    start: int
    zero_hours: int | None
    extra_demand: np.ndarray | None = None


@dataclass(frozen=True)
class Lateness:
    """Suppliers deliver late now and then: each purchase order is late with probability ``rate``,
    by a log-normal number of days (median ``median_days``), landing at the next receiving slot.
    The planner does not know: it keeps counting on the promised date (so a late order is not
    replaced by a rush order), which is how a shelf runs low — and sometimes empty — for no other
    reason than a late truck."""

    rate: float
    seed: int
    median_days: float = 2.0
    sigma: float = 0.8

    def delay_hours(self, rng: np.random.Generator) -> int:
        if rng.random() >= self.rate:
            return 0
        return int(round(24 * self.median_days * math.exp(rng.normal(0.0, self.sigma))))


@dataclass(frozen=True)
class StockPath:
    stock: np.ndarray  # end-of-hour stock, int64
    sold: np.ndarray  # units actually sold each hour (demand capped by stock), int64
    deliveries: tuple[tuple[int, int], ...]  # (hour index, quantity)
    emptied_at: int | None = None  # first hour the disruption left the shelf empty
    restored_at: int | None = None  # hour of the emergency delivery


def _expected_units(expected_cum: np.ndarray, at: int, days: float) -> float:
    """Expected units sold in the ``days`` after hour ``at`` (promotions included; past the horizon
    the last fortnight's rate is extrapolated)."""
    hours = expected_cum.size - 1
    until = at + int(days * 24)
    inside = expected_cum[min(until, hours)] - expected_cum[min(at, hours)]
    if until <= hours:
        return float(inside)
    rate = (expected_cum[hours] - expected_cum[max(hours - 14 * 24, 0)]) / min(14 * 24, hours)
    return float(inside + rate * (until - max(at, hours)))


def simulate_stock(demand: np.ndarray, expected: np.ndarray, policy: StockPolicy,
                   disruption: SupplyDisruption | None = None, lateness: Lateness | None = None) -> StockPath:
    """Run the inventory over the whole horizon with a daily receive-then-reorder cycle.

    Besides the regular order-up-to policy the planner expedites (next-day delivery) when stock
    would not last two days, so demand spikes alone rarely empty a shelf; only disruptions do.
    """
    hours = demand.size
    stock = np.empty(hours, dtype=np.int64)
    sold = np.empty(hours, dtype=np.int64)
    boundaries = sorted({0, *range(policy.receiving_hour, hours, 24), hours})
    on_hand = int(policy.initial_stock)
    pending: dict[int, int] = {}  # the planner's view: units promised per arrival hour
    shipments: dict[int, list[tuple[int, int]]] = {}  # real arrival hour -> (promised hour, units)
    late_rng = np.random.default_rng(lateness.seed) if lateness is not None and lateness.rate > 0 else None
    deliveries: list[tuple[int, int]] = []
    expected_cum = np.concatenate(([0.0], np.cumsum(expected)))
    emptied_at: int | None = None
    restored_at: int | None = None
    restore_due: int | None = None
    for first, last in zip(boundaries[:-1], boundaries[1:], strict=True):
        active = disruption is not None and restored_at is None and disruption.start < last
        blocked = active and disruption is not None and disruption.start <= first
        if late_rng is None:
            arriving = pending.pop(first, 0)
        else:
            arriving = 0
            for promised, units in shipments.pop(first, []):
                arriving += units
                left = pending.get(promised, 0) - units
                if left > 0:
                    pending[promised] = left
                else:
                    pending.pop(promised, None)
        if arriving and not blocked:
            on_hand += arriving
            deliveries.append((first, arriving))
        if restore_due is not None and first >= restore_due and restored_at is None:
            pending, restored_at, blocked, active = {}, first, False, False
            shipments = {}
            needed = _expected_units(expected_cum, first, policy.target_days)
            quantity = policy.case_pack * max(1, math.ceil(needed / policy.case_pack))
            on_hand += quantity
            deliveries.append((first, quantity))
        if not blocked and first > 0:
            for promised, units in _reorder(policy, expected_cum, pending, on_hand, first, hours):
                if late_rng is not None and lateness is not None:
                    actual = receiving_boundary(policy, promised + lateness.delay_hours(late_rng))
                    shipments.setdefault(actual, []).append((promised, units))
        wanted_hourly = demand[first:last]
        if active and disruption is not None and disruption.extra_demand is not None:
            wanted_hourly = wanted_hourly + disruption.extra_demand[first:last]
        sold_cum = np.minimum(np.cumsum(wanted_hourly), on_hand)
        sold[first:last] = np.diff(sold_cum, prepend=0)
        stock[first:last] = on_hand - sold_cum
        on_hand -= int(sold_cum[-1]) if sold_cum.size else 0
        if active and disruption is not None and emptied_at is None:
            empty = np.nonzero((stock[first:last] == 0) & (np.arange(first, last) >= disruption.start))[0]
            if empty.size:
                emptied_at = first + int(empty[0])
                if disruption.zero_hours is not None:
                    restore_due = receiving_boundary(policy, emptied_at + disruption.zero_hours)
    return StockPath(stock, sold, tuple(deliveries), emptied_at, restored_at)


def _reorder(policy: StockPolicy, expected_cum: np.ndarray, pending: dict[int, int], on_hand: int,
             now: int, hours: int) -> list[tuple[int, int]]:
    """The daily planning step: a regular order-up-to purchase, or an expedited one in a pinch.
    Returns the orders placed, as (promised arrival hour, units)."""
    placed: list[tuple[int, int]] = []
    arrival = now + policy.lead_days * 24
    incoming = sum(q for t, q in pending.items() if t <= arrival)
    projected = on_hand + incoming - _expected_units(expected_cum, now, policy.lead_days)
    # Safety stock: the cover target plus three standard deviations of Poisson demand until then.
    noise = 3.0 * math.sqrt(_expected_units(expected_cum, now, policy.lead_days + policy.safety_days))
    safety = max(_expected_units(expected_cum, arrival, policy.safety_days) + noise, policy.min_units)
    if projected < safety and arrival < hours:
        shortfall = _expected_units(expected_cum, arrival, policy.target_days) + noise - projected
        units = policy.case_pack * max(1, math.ceil(shortfall / policy.case_pack))
        pending[arrival] = pending.get(arrival, 0) + units
        placed.append((arrival, units))
    soon = sum(q for t, q in pending.items() if t <= now + 48)
    if on_hand + soon < _expected_units(expected_cum, now, 2.0) and now + 24 < hours:
        rush = _expected_units(expected_cum, now + 24, policy.safety_days)
        units = policy.case_pack * max(1, math.ceil(rush / policy.case_pack))
        pending[now + 24] = pending.get(now + 24, 0) + units
        placed.append((now + 24, units))
    return placed


def receiving_boundary(policy: StockPolicy, at_or_after: int) -> int:
    """First daily receiving slot at or after an hour index."""
    if at_or_after <= policy.receiving_hour:
        return policy.receiving_hour
    steps = math.ceil((at_or_after - policy.receiving_hour) / 24)
    return policy.receiving_hour + 24 * steps
