"""Fleet2: a second scenario generator, written without looking at ``shopsentinel.sim``'s modelling.

    python bench/fleet2/generator.py OUT --stores 12 --days 56 --seed 101
    python bench/fleet2/generator.py OUT --stores 24 --days 112 --seed 201 --labels-dir LABELS

Same file contract as ``shopsentinel sim fleet`` (metrics.csv ``ts,platform,store,metric,value,sku``,
stores.csv, calendar.csv; labels incidents.csv and traps.csv, into OUT or ``--labels-dir``), so
``shopsentinel.sim.scoring.score`` judges a backtest on it. The modelling is its own:

* **Demand is multiplicative**: expected visitors = base × weekly[local weekday] × daily[local hour] ×
  trend(day) × open(local time), every archetype with its own shapes; counts are **negative binomial**
  (gamma-mixed Poisson, dispersion per store), not Poisson or Gaussian.
* **Conversion, bounce rate, CPC and ad conversion drift as AR(1)** processes (in logit or log space),
  so neighbouring hours are correlated and a bad afternoon happens without an incident.
* Money is a gamma sum of the hour's orders (basket value per archetype, heavy for B2B).
* Refunds follow the paid orders of the previous two days.

Store archetypes (rotating over the fleet, one of each in any fleet of 8 stores or more):
``retail`` (evening peak, Asia/Shanghai), ``b2b`` (a wholesaler closed on Sundays and 20:00–08:00
Europe/Berlin, reporting zeros when closed; few large lumpy orders), ``capped_ads`` (ad account spending a
flat daily budget cap whatever the clicks cost), ``livestream`` (evening streams 20:00–23:00 on two to
three fixed weekdays lift traffic 3–6×), ``tiny_night`` (≤ 2 orders an hour, customers mostly at night,
America/New_York), ``newborn`` (only the last 3 days of history), ``marketplace`` (Amazon-like, US
Pacific, flat weekly shape), ``b2b_lunch`` (closed Saturdays and Sundays and 12:00–13:00 and 18:00–09:00).

Labelled incidents (incidents.csv, vocabulary of the first generator where it fits): traffic_crash,
conversion_drop, order_burst, refund_surge, ad_anomaly (CPC 1.5–2× and ad conversion ÷1.5–2 while spend
stays at the budget), stock_out, price_error, payment_failures, and the new giant_order (one order worth
30–100× the store's usual basket). traps.csv holds the 2-hour whole-store data outages (type ``outage``:
no row at all for the store in those hours) and labelled ``quiet_week`` weeks (no incident, no outage; an
unmatched alert inside counts as a trap violation in the scorer).

Deterministic per seed: the same arguments write byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

DEFAULT_START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; the US (03-08) and EU (03-29) DST changes follow
ISO = "%Y-%m-%dT%H:%M:%SZ"
STORE_METRICS = ("uv", "pv", "bounces", "orders", "paid_orders", "gmv", "payment_attempts", "payment_failures",
                 "refunds", "refund_amount")
AD_METRICS = ("ad_spend", "ad_clicks", "ad_orders", "ad_gmv")
SKU_METRICS = ("price", "stock", "units_sold")
INCIDENT_METRICS = {
    "traffic_crash": "uv;pv;orders;paid_orders;gmv",
    "conversion_drop": "orders;paid_orders;gmv",
    "order_burst": "uv;pv;orders;paid_orders;gmv",
    "refund_surge": "refunds;refund_amount",
    "ad_anomaly": "ad_clicks;ad_orders;ad_gmv",
    "stock_out": "stock;units_sold",
    "price_error": "price;units_sold",
    "payment_failures": "payment_failures;payment_attempts;paid_orders;gmv",
    "giant_order": "gmv;orders;paid_orders",
}
INCIDENT_TYPES = tuple(INCIDENT_METRICS)
SEVERITY_HINT = {"traffic_crash": "critical", "conversion_drop": "critical", "order_burst": "warning",
                 "refund_surge": "warning", "ad_anomaly": "warning", "stock_out": "critical",
                 "price_error": "critical", "payment_failures": "critical", "giant_order": "critical"}
WARMUP_DAYS = 14  # incidents start after this much history (the newborn archetype excepted)


@dataclass(frozen=True)
class Archetype:
    name: str
    platform: str
    timezone: str
    uv_base: tuple[float, float]  # visitors per open hour at the daily mean (range drawn per store)
    conversion: tuple[float, float]
    basket: tuple[float, float]  # mean order value range
    basket_cv: float  # coefficient of variation of one order's value
    dispersion: float  # negative-binomial shape k (smaller = burstier)
    weekly: tuple[float, ...]  # Monday..Sunday
    hourly: tuple[float, ...]  # 24 local hours (relative)
    closed_weekdays: tuple[int, ...] = ()  # 0 = Monday
    closed_hours: tuple[int, ...] = ()
    ads: str = "normal"  # normal | capped | none
    lumpy: bool = False  # few large orders (B2B)
    streams: bool = False
    history_days: int | None = None  # only this many days of history (newborn)


def _shape(peaks: list[tuple[float, float, float]], floor: float) -> tuple[float, ...]:
    hours = np.arange(24)
    value = np.full(24, floor)
    for centre, width, height in peaks:
        distance = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))
        value = value + height * np.exp(-0.5 * (distance / width) ** 2)
    return tuple(float(v) for v in value / value.mean())


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype("retail", "tmall", "Asia/Shanghai", (250, 600), (0.03, 0.06), (90, 220), 0.9, 30,
              (0.95, 0.93, 0.95, 0.98, 1.05, 1.1, 1.04), _shape([(21, 2.0, 1.0), (11, 1.5, 0.5)], 0.06)),
    Archetype("b2b", "generic", "Europe/Berlin", (12, 30), (0.05, 0.09), (900, 2500), 1.6, 6,
              (1.15, 1.1, 1.05, 1.05, 0.95, 0.7, 0.0), _shape([(10, 1.5, 1.0), (15, 2.0, 0.8)], 0.05),
              closed_weekdays=(6,), closed_hours=(20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6, 7), lumpy=True, ads="none"),
    Archetype("capped_ads", "jd", "Asia/Shanghai", (200, 450), (0.025, 0.05), (120, 300), 0.8, 25,
              (1.0, 0.98, 0.97, 1.0, 1.03, 1.02, 1.0), _shape([(20, 2.5, 1.0), (14, 2.0, 0.5)], 0.08), ads="capped"),
    Archetype("livestream", "douyin", "Asia/Shanghai", (150, 350), (0.03, 0.05), (60, 150), 0.7, 15,
              (1.0, 1.0, 1.0, 1.0, 1.05, 1.1, 1.05), _shape([(21, 2.0, 1.0), (12, 1.5, 0.4)], 0.08), streams=True),
    Archetype("tiny_night", "shopify", "America/New_York", (20, 45), (0.02, 0.04), (35, 80), 0.6, 8,
              (1.0, 1.0, 1.0, 1.0, 1.05, 1.0, 0.95), _shape([(2, 2.5, 1.0), (22, 1.5, 0.4)], 0.1)),
    Archetype("newborn", "pdd", "Asia/Shanghai", (150, 300), (0.03, 0.05), (40, 90), 0.7, 20,
              (1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.05), _shape([(21, 2.0, 1.0), (12, 2.0, 0.5)], 0.08),
              history_days=3),
    Archetype("marketplace", "amazon", "America/Los_Angeles", (180, 400), (0.06, 0.1), (30, 70), 0.8, 40,
              (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), _shape([(19, 3.0, 1.0), (9, 2.0, 0.6)], 0.15)),
    Archetype("b2b_lunch", "shopify", "Europe/London", (10, 25), (0.06, 0.1), (600, 1800), 1.4, 5,
              (1.1, 1.05, 1.0, 1.0, 0.85, 0.0, 0.0), _shape([(10.5, 1.2, 1.0), (15, 1.5, 0.9)], 0.05),
              closed_weekdays=(5, 6), closed_hours=(12, 18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6, 7, 8),
              lumpy=True, ads="none"),
)


@dataclass
class Incident:
    id: str
    type: str
    platform: str
    store: str
    sku: str
    start: int  # hour index into the fleet grid
    end: int
    magnitude: float


@dataclass
class Trap:
    type: str
    platform: str
    store: str
    start: int
    end: int
    metric: str = ""


@dataclass
class StoreData:
    store: str
    archetype: Archetype
    first_hour: int
    metrics: dict[str, np.ndarray]  # store-level series over the grid
    skus: dict[str, dict[str, np.ndarray]]
    missing: np.ndarray  # hours with no row at all (outages, before the first hour)
    state: dict[str, float] = field(default_factory=dict)  # the store's drawn constants
    incidents: list[Incident] = field(default_factory=list)
    traps: list[Trap] = field(default_factory=list)


@dataclass
class Fleet:
    start: datetime
    hours: int
    stores: list[StoreData]


# ------------------------------------------------------------------------------------------------ noise


def negbin(rng: np.random.Generator, mean: np.ndarray, k: float) -> np.ndarray:
    """Negative-binomial counts with the given means and shape ``k`` (variance = m + m²/k)."""
    mean = np.maximum(np.asarray(mean, dtype=float), 0.0)
    rate = rng.gamma(k, 1.0 / k, size=mean.shape) * mean
    return rng.poisson(rate).astype(float)


def ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """Stationary AR(1) with marginal standard deviation ``sigma``."""
    shocks = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), size=n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sigma)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + shocks[t]
    return out


def gamma_sum(rng: np.random.Generator, count: np.ndarray, mean: float, cv: float) -> np.ndarray:
    """Sum of ``count`` order values (mean ``mean``, coefficient of variation ``cv``), as a gamma draw."""
    count = np.asarray(count, dtype=float)
    shape = np.where(count > 0, count / cv**2, 1.0)
    values = rng.gamma(shape, mean * cv**2)
    return np.where(count > 0, values, 0.0)


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------------------------------------------ model


def local_calendar(start: datetime, hours: int, tz: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hour, local weekday (0 = Monday) and local day index of each UTC grid hour."""
    grid = pl.datetime_range(start, start + timedelta(hours=hours - 1), "1h", time_zone="UTC", eager=True)
    local = grid.dt.convert_time_zone(tz)
    day0 = local[0].date()
    dates = local.dt.date().to_numpy()
    day_index = (dates - np.datetime64(day0)).astype("timedelta64[D]").astype(int)
    return local.dt.hour().to_numpy().astype(int), (local.dt.weekday().to_numpy() - 1).astype(int), day_index


def _open_mask(arch: Archetype, hour: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    closed = np.isin(weekday, arch.closed_weekdays) | np.isin(hour, arch.closed_hours)
    return ~closed


def simulate_store(rng: np.random.Generator, index: int, arch: Archetype, start: datetime, hours: int) -> StoreData:
    hour, weekday, day = local_calendar(start, hours, arch.timezone)
    is_open = _open_mask(arch, hour, weekday)
    days = int(day.max()) + 1
    uv_base = rng.uniform(*arch.uv_base)
    trend = np.exp(rng.normal(0, 0.15) * day / max(days, 1))  # up to ±~30 % over the run
    weekly = np.asarray(arch.weekly)[weekday]
    daily = np.asarray(arch.hourly)[hour]
    lift = np.ones(hours)
    if arch.streams:
        stream_days = rng.choice(7, size=int(rng.integers(2, 4)), replace=False)
        on = np.isin(weekday, stream_days) & (hour >= 20) & (hour < 23)
        lift[on] = rng.uniform(3.0, 6.0)
    expected_uv = uv_base * weekly * daily * trend * lift * is_open
    store = f"f2-{arch.name.replace('_', '')}-{index:02d}"
    metrics: dict[str, np.ndarray] = {"_expected_uv": expected_uv, "_open": is_open.astype(float),
                                      "_lift": lift, "_daily": daily, "_uv_mult": np.ones(hours), "_conv_mult": np.ones(hours),
                                      "_payfail": np.full(hours, rng.uniform(0.01, 0.04)),
                                      "_refund_mult": np.ones(hours), "_cpc_mult": np.ones(hours),
                                      "_adconv_mult": np.ones(hours), "_giant": np.zeros(hours)}
    basket = rng.uniform(*arch.basket)
    conv = rng.uniform(*arch.conversion)
    state = {"basket": basket, "conv": conv, "k": arch.dispersion, "uv_base": uv_base,
             "budget": rng.uniform(1500, 6000), "cpc": rng.uniform(0.8, 2.5), "ad_share": rng.uniform(0.15, 0.35),
             "refund_rate": rng.uniform(0.02, 0.06)}
    first_hour = 0
    if arch.history_days is not None:
        first_hour = max(0, hours - arch.history_days * 24)
    sku_names = [f"SKU-{store[-2:]}{n}" for n in range(3)]
    skus = {name: {"_share": np.full(hours, share), "_price": np.full(hours, rng.uniform(0.5, 1.5) * basket / 2),
                   "_price_mult": np.ones(hours), "_stockout": np.zeros(hours, bool)}
            for name, share in zip(sku_names, rng.dirichlet([3, 2, 1]), strict=True)}
    data = StoreData(store, arch, first_hour, metrics, skus, np.zeros(hours, bool), state=state)
    data.missing[:first_hour] = True
    return data


def render(rng: np.random.Generator, data: StoreData) -> None:
    """Draw the observed series from the (incident-modified) expectations."""
    m, arch, state = data.metrics, data.archetype, data.state
    n = m["_expected_uv"].size
    k = state["k"]
    uv = negbin(rng, m["_expected_uv"] * m["_uv_mult"], k)
    pv = np.round(uv * rng.gamma(12, 3.6 / 12, size=n))
    bounce = _sigmoid(_logit(0.38) + ar1(rng, n, 0.9, 0.15))
    bounces = rng.binomial(uv.astype(np.int64), bounce).astype(float)
    conv = _sigmoid(_logit(state["conv"]) + ar1(rng, n, 0.95, 0.12)) * m["_conv_mult"]
    if arch.lumpy:  # few buyers, each ordering a lot: orders are a sparse count on open hours
        orders = negbin(rng, uv * conv, 1.5)
    else:
        orders = rng.binomial(uv.astype(np.int64), np.clip(conv, 0, 1)).astype(float)
    attempts = orders + rng.poisson(0.08 * orders)
    failures = rng.binomial(attempts.astype(np.int64), np.clip(m["_payfail"], 0, 0.95)).astype(float)
    paid = np.minimum(orders, attempts - failures)
    paid = np.maximum(paid, 0)
    gmv = gamma_sum(rng, paid, state["basket"], arch.basket_cv)
    giant = m["_giant"] > 0
    orders[giant] += 1
    attempts[giant] += 1
    paid[giant] += 1
    gmv[giant] += m["_giant"][giant] * state["basket"]
    # refunds follow the paid orders of the previous 48 hours
    kernel = np.ones(48) / 48
    recent = np.convolve(paid, kernel)[:n]
    refunds = negbin(rng, recent * state["refund_rate"] * m["_refund_mult"] * 1.0, 4)
    refund_amount = gamma_sum(rng, refunds, state["basket"], arch.basket_cv)
    out = {"uv": uv, "pv": pv, "bounces": bounces, "orders": orders, "paid_orders": paid, "gmv": gmv,
           "payment_attempts": attempts, "payment_failures": failures, "refunds": refunds,
           "refund_amount": refund_amount}
    if arch.ads != "none":
        cpc = state["cpc"] * np.exp(ar1(rng, n, 0.9, 0.08)) * m["_cpc_mult"]
        if arch.ads == "capped":
            # the platform paces the daily budget over the day's traffic shape: spend is flat day to day
            share = m["_daily"] / 24  # the day's budget spread over the local hours' usual traffic
            spend = state["budget"] * share * rng.normal(1.0, 0.03, size=n)
            clicks = np.round(np.maximum(spend, 0) / cpc)
        else:
            clicks = negbin(rng, m["_expected_uv"] * m["_uv_mult"] * state["ad_share"], k)
            spend = clicks * cpc
            # the account also has a (high) daily budget: during an ad anomaly it caps spend at the usual level
            capped = m["_cpc_mult"] > 1
            clicks[capped] = np.round(clicks[capped] / m["_cpc_mult"][capped])
            spend[capped] = clicks[capped] * cpc[capped]
        ad_conv = _sigmoid(_logit(min(0.9, state["conv"] * 1.3)) + ar1(rng, n, 0.9, 0.1)) * m["_adconv_mult"]
        ad_orders = rng.binomial(clicks.astype(np.int64), np.clip(ad_conv, 0, 1)).astype(float)
        ad_orders = np.minimum(ad_orders, orders)
        out.update(ad_spend=np.round(np.maximum(spend, 0), 2), ad_clicks=clicks, ad_orders=ad_orders,
                   ad_gmv=gamma_sum(rng, ad_orders, state["basket"], arch.basket_cv))
    for sku in data.skus.values():
        demand = np.where(sku["_price_mult"] < 1, 1 / np.sqrt(sku["_price_mult"]), 1.0)
        units = rng.poisson(orders * sku["_share"] * 1.3 * demand).astype(float)
        stock = np.empty(n)
        # replenishment by cover: order up to 10-20 days of sales whenever cover falls under 4-6 days
        per_day = max(float(units.sum()) / max(n / 24, 1), 1.0)
        top = float(np.ceil(per_day * rng.uniform(10, 20)))
        reorder = per_day * rng.uniform(4, 6)
        level = top
        for t in range(n):
            if sku["_stockout"][t]:
                level = 0.0
            elif level < reorder:
                level = top
            sold = min(units[t], level)
            units[t] = sold
            level -= sold
            stock[t] = level
        sku["price"] = np.round(sku["_price"] * sku["_price_mult"], 2)
        sku["stock"] = stock
        sku["units_sold"] = units
    for name, values in out.items():
        m[name] = np.round(values, 2)


# ------------------------------------------------------------------------------------------------ labels


def _pick_window(rng: np.random.Generator, data: StoreData, busy: np.ndarray, length: int, lo: int,
                 open_only: bool) -> int | None:
    """A start hour whose window [s, s + length) is free (with a day of margin) and, if asked, starts open."""
    n = busy.size
    for _ in range(200):
        s = int(rng.integers(lo, max(lo + 1, n - length - 12)))
        if busy[max(0, s - 24): s + length + 24].any():
            continue
        if open_only and data.metrics["_open"][s: s + length].mean() < 0.99:
            continue
        if data.metrics["_expected_uv"][s: s + length].mean() < 0.5 * data.state["uv_base"] and open_only:
            continue
        return s
    return None


def plant(rng: np.random.Generator, data: StoreData, hours: int, rate: float, counter: list[int]) -> None:
    """Incidents, outages and quiet weeks for one store (modifies the expectations before ``render``)."""
    arch, m = data.archetype, data.metrics
    busy = np.zeros(hours, bool)
    busy[: data.first_hour] = True
    lo = data.first_hour + (WARMUP_DAYS * 24 if arch.history_days is None else 48)
    weeks = (hours - lo) / 168
    if arch.history_days is not None:
        wanted = 1  # the cold-start case: an incident on the third day
    else:
        wanted = max(1, int(rng.poisson(max(rate * weeks, 0.5))))
    kinds = [t for t in INCIDENT_TYPES if not (t == "ad_anomaly" and arch.ads == "none")]
    if arch.history_days is not None:
        kinds = ["traffic_crash", "order_burst", "payment_failures", "giant_order"]
    types = list(rng.permutation(kinds))[:wanted] if wanted <= len(kinds) else list(rng.choice(kinds, wanted))
    # quiet week first, so incidents keep away from it
    if arch.history_days is None and rng.random() < 0.5 and hours - lo >= 3 * 168:
        q = int(rng.integers(lo // 24, (hours - 168) // 24)) * 24
        busy[q: q + 168] = True
        data.traps.append(Trap("quiet_week", arch.platform, data.store, q, q + 168))
    for kind in types:
        kind = str(kind)
        length = {"traffic_crash": rng.integers(3, 7), "conversion_drop": rng.integers(8, 20),
                  "order_burst": rng.integers(2, 5), "refund_surge": rng.integers(18, 36),
                  "ad_anomaly": rng.integers(24, 48), "stock_out": rng.integers(24, 60),
                  "price_error": rng.integers(3, 7), "payment_failures": rng.integers(2, 5),
                  "giant_order": 1}[kind]
        length = int(length)
        open_only = kind not in ("refund_surge", "ad_anomaly", "stock_out")
        s = _pick_window(rng, data, busy, length, lo, open_only)
        if s is None:
            continue
        e = s + length
        busy[s:e] = True
        sku = ""
        if kind == "traffic_crash":
            magnitude = rng.uniform(0.15, 0.4)
            m["_uv_mult"][s:e] *= magnitude
        elif kind == "conversion_drop":
            magnitude = rng.uniform(0.35, 0.55)
            m["_conv_mult"][s:e] *= magnitude
        elif kind == "order_burst":
            magnitude = rng.uniform(3.0, 5.0)
            m["_uv_mult"][s:e] *= magnitude
        elif kind == "refund_surge":
            magnitude = rng.uniform(4.0, 8.0)
            m["_refund_mult"][s:e] *= magnitude
        elif kind == "ad_anomaly":
            magnitude = rng.uniform(1.5, 2.0)
            m["_cpc_mult"][s:e] *= magnitude
            m["_adconv_mult"][s:e] /= rng.uniform(1.5, 2.0)
        elif kind == "payment_failures":
            magnitude = rng.uniform(0.3, 0.6)
            m["_payfail"][s:e] = magnitude
        elif kind == "giant_order":
            magnitude = rng.uniform(30, 100)
            m["_giant"][s] = magnitude
        else:
            sku = str(rng.choice(sorted(data.skus)))
            if kind == "stock_out":
                magnitude = 0.0
                data.skus[sku]["_stockout"][s:e] = True
            else:
                magnitude = float(rng.choice([0.1, 0.01]))
                data.skus[sku]["_price_mult"][s:e] = magnitude
        counter[0] += 1
        data.incidents.append(Incident(f"{data.store}-inc{len(data.incidents) + 1}", kind, arch.platform, data.store,
                                       sku, s, e, float(magnitude)))
    if arch.history_days is None:  # one 2-hour whole-store outage per store
        s = _pick_window(rng, data, busy, 2, lo, open_only=False)
        if s is not None:
            busy[s: s + 2] = True
            data.missing[s: s + 2] = True
            data.traps.append(Trap("outage", arch.platform, data.store, s, s + 2))


def generate(stores: int, days: int, seed: int, start: datetime = DEFAULT_START, rate: float = 0.3) -> Fleet:
    """The whole fleet in memory (deterministic per arguments)."""
    hours = days * 24
    root = np.random.SeedSequence(seed)
    children = root.spawn(stores)
    fleet = Fleet(start, hours, [])
    counter = [0]
    for i, child in enumerate(children):
        rng = np.random.default_rng(child)
        arch = ARCHETYPES[i % len(ARCHETYPES)]
        data = simulate_store(rng, i + 1, arch, start, hours)
        plant(rng, data, hours, rate, counter)
        render(rng, data)
        fleet.stores.append(data)
    return fleet


# ------------------------------------------------------------------------------------------------ output


def _iso(start: datetime, hour: int) -> str:
    return (start + timedelta(hours=hour)).strftime(ISO)


def metrics_frame(fleet: Fleet) -> pl.DataFrame:
    ts = pl.datetime_range(fleet.start, fleet.start + timedelta(hours=fleet.hours - 1), "1h", time_zone="UTC",
                           eager=True).dt.strftime(ISO)
    parts: list[pl.DataFrame] = []
    for data in fleet.stores:
        keep = ~data.missing
        names = [n for n in STORE_METRICS + AD_METRICS if n in data.metrics]
        frame = pl.DataFrame({"ts": ts, **{n: data.metrics[n] for n in names}}).filter(pl.Series(keep))
        parts.append(frame.unpivot(index="ts", on=names, variable_name="metric", value_name="value")
                     .with_columns(pl.lit(None, pl.Utf8).alias("sku")).select("ts", "metric", "value", "sku")
                     .with_columns(pl.lit(data.archetype.platform).alias("platform"), pl.lit(data.store).alias("store")))
        for sku, series in sorted(data.skus.items()):
            frame = pl.DataFrame({"ts": ts, **{n: series[n] for n in SKU_METRICS}}).filter(pl.Series(keep))
            parts.append(frame.unpivot(index="ts", on=list(SKU_METRICS), variable_name="metric", value_name="value")
                         .with_columns(pl.lit(sku).alias("sku")).select("ts", "metric", "value", "sku")
                         .with_columns(pl.lit(data.archetype.platform).alias("platform"),
                                       pl.lit(data.store).alias("store")))
    out = pl.concat(parts).select("ts", "platform", "store", "metric", "value", "sku")
    return out.sort("ts", "store", "sku", "metric", maintain_order=True)


def write(fleet: Fleet, out: Path, labels_dir: Path | None = None) -> None:
    """metrics.csv, stores.csv, calendar.csv into ``out``; incidents.csv and traps.csv into ``labels_dir``."""
    out.mkdir(parents=True, exist_ok=True)
    labels = labels_dir or out
    labels.mkdir(parents=True, exist_ok=True)
    metrics_frame(fleet).write_csv(out / "metrics.csv", float_precision=2)
    pl.DataFrame({"store": [d.store for d in fleet.stores], "platform": [d.archetype.platform for d in fleet.stores],
                  "name": [f"{d.archetype.name} {d.store}" for d in fleet.stores],
                  "timezone": [d.archetype.timezone for d in fleet.stores]}).write_csv(out / "stores.csv")
    (out / "calendar.csv").write_text("start,end,platform,store,name,kind\n", encoding="utf-8")
    incidents = [i for d in fleet.stores for i in d.incidents]
    pl.DataFrame({"id": [i.id for i in incidents], "type": [i.type for i in incidents],
                  "platform": [i.platform for i in incidents], "store": [i.store for i in incidents],
                  "sku": [i.sku for i in incidents], "metrics": [INCIDENT_METRICS[i.type] for i in incidents],
                  "start": [_iso(fleet.start, i.start) for i in incidents],
                  "end": [_iso(fleet.start, i.end) for i in incidents],
                  "severity_hint": [SEVERITY_HINT[i.type] for i in incidents]},
                 schema=dict.fromkeys(("id", "type", "platform", "store", "sku", "metrics", "start", "end",
                                       "severity_hint"), pl.Utf8)).write_csv(labels / "incidents.csv")
    traps = [t for d in fleet.stores for t in d.traps]
    pl.DataFrame({"type": [t.type for t in traps], "platform": [t.platform for t in traps],
                  "store": [t.store for t in traps], "sku": [""] * len(traps), "metric": [t.metric for t in traps],
                  "start": [_iso(fleet.start, t.start) for t in traps], "end": [_iso(fleet.start, t.end) for t in traps]},
                 schema=dict.fromkeys(("type", "platform", "store", "sku", "metric", "start", "end"), pl.Utf8)
                 ).write_csv(labels / "traps.csv")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--stores", type=int, default=12)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--start", help="first day (UTC date), default 2026-03-02")
    parser.add_argument("--incident-rate", type=float, default=0.3, help="labelled incidents per store-week")
    parser.add_argument("--labels-dir", type=Path, help="where incidents.csv and traps.csv go (default: OUT)")
    args = parser.parse_args(argv)
    if args.days < 7 or args.stores < 1:
        parser.error("need at least 1 store and 7 days")
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC) if args.start else DEFAULT_START
    fleet = generate(args.stores, args.days, args.seed, start, args.incident_rate)
    write(fleet, args.out, args.labels_dir)
    n = sum(len(d.incidents) for d in fleet.stores)
    print(f"fleet2 written to {args.out}: {len(fleet.stores)} stores, {args.days} days, {n} incidents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
