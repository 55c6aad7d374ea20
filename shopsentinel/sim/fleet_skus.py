"""Per-SKU metrics (price, units_sold, stock) and the placement of stock-out incidents.

Stock-outs cannot be placed blindly: whether and when a SKU runs dry depends on its inventory
path. So each one is placed by re-running the SKU's inventory with a supply disruption starting at
a candidate time, reading off when stock hits zero, and keeping the candidate only if the whole
window (disruption → emergency delivery) fits the store's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopsentinel.sim.fleet_model import FleetSpec, StoreProfile, TrapLabel
from shopsentinel.sim.fleet_plan import PlannedIncident, Timeline, draw_magnitude, place_trap
from shopsentinel.sim.fleet_stock import (
    Lateness,
    StockPolicy,
    SupplyDisruption,
    receiving_boundary,
    simulate_stock,
)


@dataclass(frozen=True)
class SkuSetup:
    ids: tuple[str, ...]
    shares: np.ndarray  # fraction of paid orders that contain the SKU
    units_per_order: np.ndarray
    base_prices: np.ndarray
    elasticity: np.ndarray
    discount_depth: np.ndarray  # 0 = never discounted in promotions, 1 = the calendar's depth


def setup_skus(spec: FleetSpec, store: StoreProfile, rng: np.random.Generator) -> SkuSetup:
    low, high = spec.skus_per_store
    n = int(rng.integers(low, high + 1))
    codes = rng.choice(np.arange(1000, 99999), size=n, replace=False)
    shares = rng.dirichlet(np.full(n + 1, 1.5))[:n] * rng.uniform(0.5, 0.9)
    prices = store.aov * rng.uniform(0.3, 1.3, n)
    prices = np.where(prices >= 10, np.round(prices) - 0.1, np.round(prices, 2))
    depth = np.where(rng.random(n) < 0.75, rng.uniform(0.7, 1.3, n), 0.0)
    return SkuSetup(tuple(f"SKU-{int(c)}" for c in codes), shares, rng.uniform(1.0, 1.6, n), prices,
                    rng.uniform(1.0, 2.0, n), depth)


def _policy(expected: np.ndarray, first_local_hour: int, rng: np.random.Generator) -> StockPolicy:
    """Lead time, safety cover and order-up-to target for one SKU, sized from its expected sales."""
    daily = max(float(expected[: 14 * 24].mean()) * 24, 0.05)
    pack = 1 if daily < 5 else 10 if daily < 200 else 50
    target = float(rng.uniform(18, 40))
    safety = float(rng.uniform(5, 12))
    receiving = (int(rng.integers(8, 15)) - first_local_hour) % 24
    initial = int(daily * rng.uniform(safety + 6, target)) + 3
    return StockPolicy(int(rng.integers(2, 8)), safety, target, pack, receiving, initial)


@dataclass(frozen=True)
class StockOutPlan:
    sku_index: int
    start: int
    zero_hours: int
    jump: float  # demand multiplier while supply is cut (1.0 for a missed restock)
    variant: str
    reserved_end: int
    demand: np.ndarray  # the SKU's demand, fixed at planning time so the window is exact
    extra_demand: np.ndarray


@dataclass
class SkuResult:
    series: dict[tuple[str, str], np.ndarray]  # (metric, sku) -> values
    stock_outs: list[PlannedIncident]
    traps: list[TrapLabel]


def stock_policies(setup: SkuSetup, expected_paid: np.ndarray, first_local_hour: int,
                   rng: np.random.Generator) -> list[StockPolicy]:
    return [_policy(expected_paid * setup.shares[k] * setup.units_per_order[k], first_local_hour, rng)
            for k in range(len(setup.ids))]


def plan_stock_outs(setup: SkuSetup, policies: list[StockPolicy], expected_paid: np.ndarray, count: int,
                    timeline: Timeline, rng: np.random.Generator) -> list[StockOutPlan]:
    """Reserve stock-out windows before the short incidents are placed (they need long windows).

    The SKU's demand is drawn here from the store's expected sales (so it does not follow the
    store's other, week-distant incidents): the final run then replays exactly the planned path and
    the label ends when the emergency delivery lands.
    """
    hours = expected_paid.size
    plans: list[StockOutPlan] = []
    for k in rng.permutation(len(setup.ids))[:count].tolist():
        expected = expected_paid * setup.shares[k] * setup.units_per_order[k]
        draft = rng.poisson(expected)
        magnitude, variant = draw_magnitude("stock_out", rng)
        jump = magnitude if variant == "demand_jump" else 1.0
        if variant == "missed_restock":
            baseline = simulate_stock(draft, expected, policies[k])
            starts = np.array([t for t, _ in baseline.deliveries if t >= timeline.earliest_incident], dtype=np.int64)
            candidates = rng.permutation(starts)[:25].tolist()
        else:
            candidates = rng.integers(timeline.earliest_incident, max(hours - 96, timeline.earliest_incident + 1), 25).tolist()
        for start in candidates:
            extra = np.where(np.arange(hours) >= start, rng.poisson(expected * (jump - 1)), 0)
            dry = simulate_stock(draft, expected, policies[k], SupplyDisruption(int(start), None, extra))
            if dry.emptied_at is None:
                continue
            zero_hours = int(rng.integers(12, 73))
            reserved_end = receiving_boundary(policies[k], dry.emptied_at + zero_hours) + 72
            if reserved_end >= hours - 24 or not timeline.incident_fits(int(start), reserved_end):
                continue
            timeline.incidents.append((int(start), reserved_end))
            plans.append(StockOutPlan(k, int(start), zero_hours, jump, variant, reserved_end, draft, extra))
            break
    return plans


def sku_metrics(spec: FleetSpec, store: StoreProfile, setup: SkuSetup, policies: list[StockPolicy],
                discount: np.ndarray, paid: np.ndarray, expected_paid: np.ndarray,
                incidents: list[PlannedIncident], stock_outs: list[StockOutPlan], timeline: Timeline,
                rng: np.random.Generator) -> SkuResult:
    """Prices, demand and inventory for every SKU, with the planned stock-outs and price errors."""
    series: dict[tuple[str, str], np.ndarray] = {}
    price_errors = {i.sku_index: i for i in incidents if i.type == "price_error"}
    outages = {p.sku_index: p for p in stock_outs}
    labels: list[PlannedIncident] = []
    traps: list[TrapLabel] = []
    for k, sku in enumerate(setup.ids):
        price = setup.base_prices[k] * (1 - (1 - discount) * setup.discount_depth[k])
        per_order = setup.shares[k] * setup.units_per_order[k]
        expected = expected_paid * per_order
        demand = rng.poisson(paid * per_order)
        error = price_errors.get(k)
        plan = outages.get(k)
        disruption = None
        if plan is not None:
            demand = plan.demand
            disruption = SupplyDisruption(plan.start, plan.zero_hours, plan.extra_demand)
        lateness = (Lateness(spec.late_delivery_rate, seed=int(rng.integers(2**31)))
                    if spec.late_delivery_rate > 0 and plan is None else None)
        path = simulate_stock(demand, expected, policies[k], disruption, lateness)
        if error is not None:
            price = price.copy()
            price[error.start:error.end] *= error.magnitude
            lift = min(8.0, error.magnitude ** -setup.elasticity[k]) if error.variant == "too_low" else 0.03
            for _ in range(4):  # a wrong price sells a lot, but must not empty the shelf (no label for that)
                trial = demand.copy()
                trial[error.start:error.end] = rng.poisson(paid[error.start:error.end] * per_order * lift)
                path = simulate_stock(trial, expected, policies[k])
                if not np.any(path.stock[error.start:error.end + 7 * 24] == 0):
                    break
                lift = 1 + (lift - 1) / 2
        if plan is not None:
            end = path.restored_at if path.restored_at is not None else plan.reserved_end
            labels.append(PlannedIncident("stock_out", plan.start, end, plan.jump, k, plan.variant))
        series[("price", sku)] = price
        series[("stock", sku)] = path.stock.astype(float)
        series[("units_sold", sku)] = path.sold.astype(float)
        if spec.price_changes and rng.random() < 0.35:
            window = place_trap(timeline, 24, rng)
            if window is not None:
                factor = 1 + rng.choice([-1, 1]) * rng.uniform(0.05, 0.15)
                series[("price", sku)][window[0]:] *= factor
                traps.append(TrapLabel("price_change", store.platform, store.store, sku, "price", *window))
        series[("price", sku)] = np.round(series[("price", sku)], 2)
    return SkuResult(series, labels, traps)
