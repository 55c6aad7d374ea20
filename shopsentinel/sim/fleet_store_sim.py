"""Simulate one store end to end: drivers, incidents, metrics, SKUs, traps, long rows.

Each concern draws from its own random stream keyed by (fleet seed, store index, purpose), so one
store's data does not depend on which other stores are generated alongside it (chunked runs equal
in-memory runs) and switching a trap off does not move the incidents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopsentinel.sim.fleet_corrupt import LongRows, corrupt
from shopsentinel.sim.fleet_model import (
    INCIDENT_TYPES,
    STORE_METRICS,
    CalendarEvent,
    FleetSpec,
    IncidentLabel,
    StoreProfile,
    TrapLabel,
)
from shopsentinel.sim.fleet_plan import (
    BUDGET_SQUEEZE_SHARE,
    TRAFFIC_DRIVEN,
    PlannedIncident,
    Timeline,
    draw_duration,
    draw_magnitude,
    place_window,
    severity_hint,
)
from shopsentinel.sim.fleet_signals import (
    IncidentEffects,
    StoreDrivers,
    daily_profile,
    expected_paid_orders,
    smooth_noise,
    store_level_metrics,
)
from shopsentinel.sim.fleet_skus import plan_stock_outs, setup_skus, sku_metrics, stock_policies
from shopsentinel.sim.fleet_stores import local_clock

INCIDENT_METRICS: dict[str, tuple[str, ...]] = {
    "traffic_crash": ("uv", "pv", "orders", "paid_orders", "gmv"),
    "conversion_drop": ("orders", "paid_orders", "gmv"),
    "order_burst": ("orders", "paid_orders", "gmv"),
    "refund_surge": ("refunds", "refund_amount"),
    "payment_failures": ("payment_failures", "paid_orders", "gmv"),
    "bad_review_surge": ("negative_reviews",),
    "stock_out": ("stock", "units_sold"),
    "price_error": ("price", "units_sold"),
    "ad_anomaly": ("ad_spend", "ad_clicks", "ad_orders", "ad_gmv"),
    "ad_budget_squeeze": ("ad_clicks", "ad_orders", "ad_gmv"),
    "logistics_stuck": ("logistics_stale_orders",),
    "dsr_drop": ("dsr",),
}
# Tiny stores see a handful of events a day: types measured on rare counts are invisible there.
_TINY_UNSUITED = frozenset({"refund_surge", "bad_review_surge", "payment_failures", "conversion_drop"})
AFTERMATH_METRICS = ("uv;orders;paid_orders;gmv;refunds;refund_amount;negative_reviews;logistics_stale_orders;"
                     "cs_response_seconds;dsr")
POST_PROMOTION_METRICS = "refunds;refund_amount;reviews;negative_reviews;logistics_stale_orders"
_STREAMS = {"plan": 1, "signal": 2, "sku": 3, "trap": 4, "shift": 5, "variant": 6}


@dataclass
class StoreResult:
    store: StoreProfile
    rows: LongRows
    names: list[tuple[str, str]]
    incidents: list[IncidentLabel]
    traps: list[TrapLabel]


def assign_incident_types(spec: FleetSpec, stores: list[StoreProfile]) -> list[list[str]]:
    """Incident types per store, balanced over the fleet.

    Drawing each store's types independently leaves some types missing in a two-dozen-store fleet;
    instead each slot takes the least-used type the store can show (tiny stores skip types measured
    on rare counts, stores without ads skip ad anomalies), ties broken by a seeded ranking.
    """
    ranking = np.random.default_rng([spec.seed, 0x1C]).permutation(len(INCIDENT_TYPES))
    used = dict.fromkeys(INCIDENT_TYPES, 0)
    assignment: list[list[str]] = []
    for store in stores:
        rng = np.random.default_rng([spec.seed, 0x1D, store.index])
        floor = 1 if spec.incident_rate > 0 else 0
        count = int(np.clip(rng.poisson(spec.incident_rate * spec.days / 7), floor, 6))
        allowed = [t for t in INCIDENT_TYPES
                   if not (store.peak_orders < 10 and t in _TINY_UNSUITED) and not (t == "ad_anomaly" and not store.has_ads)]
        chosen: list[str] = []
        for _ in range(count):
            fresh = [t for t in allowed if t not in chosen] or allowed
            pick = min(fresh, key=lambda t: (used[t], (ranking[INCIDENT_TYPES.index(t)] + store.index) % len(ranking)))
            chosen.append(pick)
            used[pick] += 1
        assignment.append(chosen)
    return assignment


def _drivers(spec: FleetSpec, store: StoreProfile, events: list[CalendarEvent], activity: np.ndarray,
             hour_of_day: np.ndarray, weekday: np.ndarray, timeline: Timeline,
             rng: np.random.Generator, traps: list[TrapLabel]) -> StoreDrivers:
    hours = spec.hours
    t = np.arange(hours)
    # Weekend up or down by store, plus each store's own small weekday habits (e.g. a slow Monday).
    by_weekday = rng.normal(1.0, 0.04, 7) * np.array([1, 1, 1, 1, 1, store.weekend_factor, store.weekend_factor])
    weekly = by_weekday[weekday]
    trend = (1 + store.drift * t / hours) * np.exp(smooth_noise(rng, hours, 0.04, 0.995))
    traffic = weekly * trend
    if store.platform == "douyin":
        # Scheduled live-stream sessions (直播) a few evenings a week: a weekly pattern, not an incident.
        nights = rng.choice(7, size=int(rng.integers(2, 4)), replace=False)
        first = int(rng.integers(19, 21))
        live = np.isin(weekday, nights) & (hour_of_day >= first) & (hour_of_day < first + 3)
        traffic = traffic * np.where(live, rng.uniform(1.8, 3.5), 1.0)
    promo_traffic, conversion, discount, load = np.ones(hours), np.ones(hours), np.ones(hours), np.ones(hours)
    refund_rate, negative, logistics, dsr_offset = np.ones(hours), np.ones(hours), np.ones(hours), np.zeros(hours)
    for event in events:
        s, e = event.start, event.end
        if event.kind == "promotion":
            shape = np.full(e - s, event.traffic)
            shape[:2] *= 1.5 if event.traffic >= 3 else 1.2  # the midnight rush
            promo_traffic[s:e] = np.maximum(promo_traffic[s:e], shape)
            conversion[s:e] = np.maximum(conversion[s:e], event.conversion)
            discount[s:e] = np.minimum(discount[s:e], event.discount)
            load[s:e] = np.maximum(load[s:e], 1 + 0.35 * np.log(event.traffic))
            # Promotion orders come back as refunds and reviews for a week: keep incidents out of it.
            timeline.announced.append((s, min(e + 7 * 24, hours)))
            if not event.name.startswith("双11") and e < hours:
                traps.append(TrapLabel("post_promotion", store.platform, store.store, "", POST_PROMOTION_METRICS,
                                       e, min(e + 7 * 24, hours)))
        else:
            traffic[s:e] *= event.traffic
            conversion[s:e] *= event.conversion
            timeline.announced.append((s, e))
            if event.kind == "maintenance":
                traps.append(TrapLabel("maintenance", store.platform, store.store, "", "", s, e))
        if event.name == "双11" and s > 24:
            # Shoppers hold back in the days before the pre-sale opens: conversion sags, unannounced.
            lull = (max(s - int(rng.integers(3, 7)) * 24, 0), s)
            conversion[lull[0]:lull[1]] *= rng.uniform(0.75, 0.9)
            timeline.quiet.append(lull)
            traps.append(TrapLabel("pre_promo_lull", store.platform, store.store, "", "orders;paid_orders;gmv", *lull))
        if event.name == "双11 正式开售":
            length = int(rng.integers(5, 11)) * 24
            after = slice(e, min(e + length, hours))
            decay = np.exp(-np.arange(after.stop - after.start) / (length / 2))
            hangover = np.exp(-np.arange(after.stop - after.start) / rng.uniform(24, 72))
            traffic[after] *= 1 - rng.uniform(0.15, 0.35) * hangover  # wallets are empty for a few days
            refund_rate[after] *= 1 + rng.uniform(1.0, 2.5) * decay
            negative[after] *= 1 + rng.uniform(0.5, 1.5) * decay
            logistics[after] *= 1 + rng.uniform(1.0, 3.0) * decay
            load[after] *= 1 + 0.4 * decay
            dsr_offset[after] -= rng.uniform(0.01, 0.04) * decay
            timeline.quiet.append((after.start, after.stop))
            traps.append(TrapLabel("aftermath", store.platform, store.store, "", AFTERMATH_METRICS,
                                   after.start, after.stop))
    shift_rng = np.random.default_rng([spec.seed, _STREAMS["shift"], store.index])
    if spec.level_shifts:
        for chance in (0.5, 0.2):
            if shift_rng.random() >= chance:
                continue
            length = int(shift_rng.integers(3, 11)) * 24
            start = int(shift_rng.integers(0, max(1, hours - length)))
            if Timeline._hits(start, start + length, timeline.quiet + timeline.announced):
                continue
            traffic[start:start + length] *= 1 + shift_rng.choice([-1, 1]) * shift_rng.uniform(0.1, 0.2)
            timeline.quiet.append((start, start + length))
            traps.append(TrapLabel("level_shift", store.platform, store.store, "", "", start, start + length))
    return StoreDrivers(traffic * promo_traffic, conversion, discount, load, refund_rate, negative, logistics,
                        dsr_offset, activity)


def simulate_store(spec: FleetSpec, store: StoreProfile, calendar: list[CalendarEvent],
                   types: list[str]) -> StoreResult:
    """One store's rows and labels; ``types`` are its incident types (see assign_incident_types)."""
    def stream(name: str) -> np.random.Generator:
        return np.random.default_rng([spec.seed, _STREAMS[name], store.index])

    plan_rng, signal_rng, sku_rng, trap_rng = stream("plan"), stream("signal"), stream("sku"), stream("trap")
    hours = spec.hours
    clock = local_clock(store.timezone, spec.start, hours)
    activity = daily_profile(store, signal_rng)[clock.hour]
    traps: list[TrapLabel] = []
    timeline = Timeline(hours, spec.burn_in_days * 24)
    for moment in clock.transitions:
        timeline.quiet.append((moment - 24, moment + 72))
        traps.append(TrapLabel("dst", store.platform, store.store, "", "", max(moment - 2, 0), min(moment + 72, hours)))
    events = [e for e in calendar if e.applies_to(store)]
    drivers = _drivers(spec, store, events, activity, clock.hour, clock.weekday, timeline, signal_rng, traps)
    setup = setup_skus(spec, store, sku_rng)
    expected_paid = expected_paid_orders(store, drivers)
    policies = stock_policies(setup, expected_paid, int(clock.hour[0]), sku_rng)
    stock_outs = plan_stock_outs(setup, policies, expected_paid, types.count("stock_out"), timeline, sku_rng)

    planned: list[PlannedIncident] = []
    small = store.peak_orders < 30
    for kind in [t for t in types if t != "stock_out"]:
        duration = draw_duration(kind, plan_rng, small)
        window = place_window(timeline, duration, plan_rng, activity if kind in TRAFFIC_DRIVEN else None)
        if window is None:
            continue
        magnitude, variant = draw_magnitude(kind, plan_rng)
        if kind == "ad_anomaly":
            # Own stream, keyed by the window: choosing the variant moves no other draw.
            pick = np.random.default_rng([spec.seed, _STREAMS["variant"], store.index, window[0]])
            if pick.random() < BUDGET_SQUEEZE_SHARE:
                kind = "ad_budget_squeeze"
        busy = {p.sku_index for p in planned} | {p.sku_index for p in stock_outs}
        sku_index = int(plan_rng.choice([k for k in range(len(setup.ids)) if k not in busy] or [0])) \
            if kind == "price_error" else -1
        planned.append(PlannedIncident(kind, window[0], window[1], magnitude, sku_index, variant))
        timeline.incidents.append(window)

    effects = IncidentEffects.identity(hours)
    for incident in planned:
        effects.apply(incident, plan_rng)
    values = store_level_metrics(store, clock, drivers, effects, signal_rng)
    sku = sku_metrics(spec, store, setup, policies, drivers.discount, values["paid_orders"], expected_paid,
                      planned, stock_outs, timeline, sku_rng)
    planned.extend(sku.stock_outs)
    traps.extend(sku.traps)
    if store.peak_orders < 10:
        traps.extend(_zero_hour_runs(store, values["orders"]))

    names = [(m, "") for m in STORE_METRICS] + list(sku.series)
    matrix = np.vstack([values[m] for m in STORE_METRICS] + list(sku.series.values())).astype(float)
    n_series = len(names)
    rows = LongRows(np.repeat(np.arange(hours, dtype=np.int64), n_series),
                    np.tile(np.arange(n_series, dtype=np.int64), hours), matrix.T.reshape(-1).copy())
    rows, dirt = corrupt(spec, store, rows, names, timeline, trap_rng)
    traps.extend(dirt)
    labels = [_label(store, setup.ids, p, n) for n, p in enumerate(sorted(planned, key=lambda p: p.start))]
    return StoreResult(store, rows, names, labels, traps)


def _label(store: StoreProfile, sku_ids: tuple[str, ...], incident: PlannedIncident, n: int) -> IncidentLabel:
    metrics = INCIDENT_METRICS[incident.type]
    if incident.type == "order_burst" and incident.variant == "viral":
        metrics = ("uv", "pv", *metrics)
    return IncidentLabel(
        id=f"{store.store}-inc{n + 1}", type=incident.type, platform=store.platform, store=store.store,
        sku=sku_ids[incident.sku_index] if incident.sku_index >= 0 else "", metrics=metrics,
        start=incident.start, end=incident.end,
        severity_hint=severity_hint(incident.type, incident.magnitude, store.peak_orders))


def _zero_hour_runs(store: StoreProfile, orders: np.ndarray) -> list[TrapLabel]:
    """Runs of three or more consecutive hours without a single order (normal for a tiny store)."""
    zero = np.concatenate(([0], (orders == 0).astype(np.int8), [0]))
    edges = np.diff(zero)
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return [TrapLabel("zero_hours", store.platform, store.store, "", "orders", int(s), int(e))
            for s, e in zip(starts, ends, strict=True) if e - s >= 3]
