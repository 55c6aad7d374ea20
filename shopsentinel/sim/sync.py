"""A simulated store per platform: its fake server, a real connector Config pointing at it, and
the ground truth — hourly metrics computed straight from the fake's dataset.

Used by ``shopsentinel sync check`` and the sync tests. What differs per platform is data in
:data:`SIM_STORES`: how to start the fake, which Config fields to use, and what part of the
dataset the platform can express (e.g. JD's order search has no unpaid orders, Amazon's Orders
API has no shipping time, PDD and Douyin stock has no change time so only the latest value per
SKU is comparable).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import BaseModel

from shopsentinel.core.clock import ManualClock
from shopsentinel.ingest.sync import ENTITY_METRICS, with_zero_units
from shopsentinel.ingest.sync_state import StoreRecord
from shopsentinel.sim.platforms import amazon as amazon_fake
from shopsentinel.sim.platforms import douyin as douyin_fake
from shopsentinel.sim.platforms import generic as generic_fake
from shopsentinel.sim.platforms import jd as jd_fake
from shopsentinel.sim.platforms import kuaishou as kuaishou_fake
from shopsentinel.sim.platforms import pdd as pdd_fake
from shopsentinel.sim.platforms import shopify as shopify_fake
from shopsentinel.sim.platforms import taobao as taobao_fake
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset, visible
from shopsentinel.sim.platforms.dataset_intl import HourlyTraffic, make_traffic, only_states
from shopsentinel.sim.platforms.gateway import RateLimit
from shopsentinel.sim.platforms.harness import ClockSleep
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sources.base import Entity, Order, Refund, StockSnapshot
from shopsentinel.sources.hourly import (
    HOUR,
    families_of_streams,
    hour_start,
    hourly_points,
    hours_between,
    points_frame,
)
from shopsentinel.sources.registry import STREAM_FAMILIES, entry

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 3
ROUTER_KEYS = {"app_key": "sim-app", "app_secret": "sim-secret"}


def _identity(ds: Dataset) -> Dataset:
    return ds


def _jd_served(ds: Dataset) -> Dataset:  # no unpaid orders, no shipping time in pop.order.search
    return replace(ds, orders=[replace(o, shipped_at=None) for o in ds.orders if o.status != "待付款"])


def _pdd_served(ds: Dataset) -> Dataset:  # confirmed (paid) orders only
    return replace(ds, orders=[o for o in ds.orders if o.paid_at is not None])


def _amazon_order(order: Order) -> Order:  # charged at purchase; no lines or shipping time in getOrders
    unpaid = order.status in ("待付款", "已取消")
    return replace(order, paid_at=None if unpaid else order.created_at, shipped_at=None, lines=(),
                   amount=0.0 if order.status == "待付款" else order.amount)


TrafficRows = list[tuple[datetime, str, float]]  # (ts, metric, value)


def _shopify_traffic(traffic: list[HourlyTraffic], tz: str, start: datetime, until: datetime) -> TrafficRows:
    """ShopifyQL ``FROM sessions … TIMESERIES hour``: one row per hour up to now."""
    rows: TrafficRows = []
    for h in traffic:
        if start <= h.hour <= until:
            rate = round(h.units_ordered / h.sessions, 4) if h.sessions else 0.0
            rows += [(h.hour, "uv", h.visitors), (h.hour, "pv", h.pageviews), (h.hour, "sessions", h.sessions),
                     (h.hour, "platform_conversion_rate", rate)]
    return rows


def _amazon_traffic(traffic: list[HourlyTraffic], tz: str, start: datetime, until: datetime) -> TrafficRows:
    """GET_SALES_AND_TRAFFIC_REPORT by day: marketplace-local days from the one holding ``start``."""
    zone = ZoneInfo(tz)
    first_day = start.astimezone(zone).date()
    days: dict[datetime, list[HourlyTraffic]] = {}
    for h in traffic:
        local_day = h.hour.astimezone(zone).date()
        if local_day >= first_day and h.hour < until:
            days.setdefault(datetime.combine(local_day, time(), zone).astimezone(UTC), []).append(h)
    rows: TrafficRows = []
    for day, hours in days.items():
        sessions, views, units = (sum(getattr(h, f) for h in hours) for f in ("sessions", "pageviews", "units_ordered"))
        rows += [(day, "uv", sessions), (day, "pv", views),
                 (day, "unit_session_percentage", round(100 * units / sessions, 2) if sessions else 0.0)]
    return rows


def _generic_traffic(traffic: list[HourlyTraffic], tz: str, start: datetime, until: datetime) -> TrafficRows:
    """The fake aggregator's hourly rows: visitors, views and conversion % (read as a ratio)."""
    rows: TrafficRows = []
    for h in traffic:
        if start <= h.hour <= until:
            rate = round(generic_fake.conversion_percent(h) * 0.01, 10)
            rows += [(h.hour, "uv", h.visitors), (h.hour, "pv", h.pageviews), (h.hour, "platform_conversion_rate", rate)]
    return rows


def _amazon_served(ds: Dataset) -> Dataset:
    return replace(ds, orders=[_amazon_order(o) for o in ds.orders], stock=[replace(s, price=None) for s in ds.stock])


@dataclass(frozen=True)
class SimStore:
    platform: str
    timezone: str
    create_app: Callable[..., Any]
    path: str  # where the connector's base URL points on the fake
    app_options: dict[str, Any]
    config: dict[str, Any]  # Config fields; "{url}" / "{root}" are filled in
    served: Callable[[Dataset], Dataset] = _identity
    prepare: Callable[[Dataset], Dataset] = _identity  # what the fake is given (Amazon: only its states)
    stock_at_scan: bool = False  # snapshots are stamped with the scan time: compare latest value per SKU
    traffic: Callable[[list[HourlyTraffic], str, datetime, datetime], TrafficRows] | None = None
    throttle: dict[str, Any] = field(default_factory=dict)  # fake options that make it throttle us
    seed: int = 7


_ROUTER = {**ROUTER_KEYS, "access_token": "token-0", "refresh_token": "refresh-0", "base_url": "{url}",
           "page_size": 20, "window_hours": 12}  # fmt: skip
_ROUTER_LIMIT = {"rate_limit": RateLimit(calls=10, per_seconds=1.0, ban_seconds=2.0)}

SIM_STORES: dict[str, SimStore] = {
    s.platform: s
    for s in (
        SimStore("taobao", "Asia/Shanghai", taobao_fake.create_app, "/router/rest", ROUTER_KEYS,
                 {**_ROUTER, "access_token": "session-0"}, throttle=_ROUTER_LIMIT),
        SimStore("tmall", "Asia/Shanghai", taobao_fake.create_app, "/router/rest", ROUTER_KEYS,
                 {**_ROUTER, "access_token": "session-0"}, throttle=_ROUTER_LIMIT, seed=8),
        SimStore("jd", "Asia/Shanghai", jd_fake.create_app, "/routerjson", ROUTER_KEYS,
                 {**_ROUTER, "oauth_url": "{root}/oauth2"}, served=_jd_served, throttle=_ROUTER_LIMIT),
        SimStore("pdd", "Asia/Shanghai", pdd_fake.create_app, "/api/router", ROUTER_KEYS, _ROUTER,
                 served=_pdd_served, stock_at_scan=True, throttle=_ROUTER_LIMIT),
        SimStore("douyin", "Asia/Shanghai", douyin_fake.create_app, "", {"calls_per_second": 5.0, "burst": 50},
                 {"app_key": "dy-app", "app_secret": "dy-secret", "shop_id": "4463798", "base_url": "{url}",
                  "page_size": 20}, stock_at_scan=True, throttle={"calls_per_second": 2.0, "burst": 5}),
        SimStore("amazon", "America/Los_Angeles", amazon_fake.create_app, "", {},
                 {"client_id": "amzn1.application-oa2-client.test", "client_secret": "amzn-secret",
                  "refresh_token": "Atzr|refresh", "endpoint": "{url}", "lwa_url": "{url}/auth/o2/token",
                  "page_size": 20}, served=_amazon_served,
                 prepare=lambda ds: only_states(ds, amazon_fake.STATES), traffic=_amazon_traffic,
                 throttle={"rate_limits": {"getOrders": (0.5, 2.0)}}),
        SimStore("shopify", "America/New_York", shopify_fake.create_app, "", {},
                 {"shop_url": "{url}", "access_token": "shpat_static", "page_size": 20}, traffic=_shopify_traffic,
                 throttle={"bucket_size": 120.0, "restore_rate": 10.0}),
        SimStore("kuaishou", "Asia/Shanghai", kuaishou_fake.create_app, "", {"calls_per_second": 50.0, "burst": 50.0},
                 {"app_key": "ks-app", "app_secret": "ks-secret", "sign_secret": "ks-sign-secret",
                  "refresh_token": "ks-refresh-0", "base_url": "{url}", "page_size": 20},
                 throttle={"calls_per_second": 5.0, "burst": 5.0}),
        SimStore("generic", "Asia/Shanghai", generic_fake.create_app, "", {"auth": "hmac", "secret": "agg-secret"},
                 {**generic_fake.aggregator_config(auth="hmac"), "base_url": "{url}", "app_secret": "agg-secret",
                  "requests_per_second": 20.0}, traffic=_generic_traffic,
                 throttle={"requests_per_second": 4.0, "burst": 5.0}),
    )
}  # fmt: skip


@dataclass
class SimEnv:
    """A running fake with its dataset, shared manual clock and a sleep that only moves that clock."""

    spec: SimStore
    dataset: Dataset
    clock: ManualClock
    sleep: ClockSleep
    config: BaseModel
    record: StoreRecord
    app: Any
    traffic: list[HourlyTraffic] = field(default_factory=list)


def sim_store(platform: str) -> SimStore:
    if platform not in SIM_STORES:
        raise KeyError(f"no simulated store for {platform!r}; known: {', '.join(sorted(SIM_STORES))}")
    return SIM_STORES[platform]


@contextmanager
def running_sim(
    platform: str, *, per_hour: float = 3.0, store: str | None = None, throttle: bool = False, **app_options: Any
) -> Iterator[SimEnv]:
    """Serve the platform's fake on loopback over ``DAYS`` days of data; the clock starts one hour after.

    ``throttle`` gives the fake tight rate limits, so the sync has to wait (on the manual clock)."""
    spec = sim_store(platform)
    end = START + timedelta(days=DAYS)
    clock = ManualClock(end + timedelta(hours=1))
    dataset = spec.prepare(make_dataset(spec.seed, spec.timezone, START, end, per_hour))
    options: dict[str, Any] = {**spec.app_options, **(spec.throttle if throttle else {}), **app_options}
    traffic = make_traffic(spec.seed, START - timedelta(days=1), end + timedelta(hours=1)) if spec.traffic else []
    if spec.traffic:
        options["traffic"] = traffic
    app = spec.create_app(dataset, clock=clock, **options)
    with serve_in_thread(app) as root:
        fields = {k: v.format(url=root + spec.path, root=root) if isinstance(v, str) else v for k, v in spec.config.items()}
        name = store or f"sim-{platform}"
        model = entry(platform).config_model
        config = model(**fields, store=name, start=START)
        record = StoreRecord(platform, name, spec.timezone, START, {})
        yield SimEnv(spec, dataset, clock, ClockSleep(clock), config, record, app, traffic)


def ground_truth(env: SimEnv, streams: Iterable[str], until: datetime) -> pl.DataFrame:
    """Entity-derived hourly points straight from what the fake serves at ``until``."""
    served = env.spec.served(visible(env.dataset, until))
    entities: list[Entity] = [*served.orders, *served.refunds, *served.reviews]
    families = families_of_streams(streams, STREAM_FAMILIES)
    if not env.spec.stock_at_scan:
        entities.extend(served.stock)
    end = hour_start(until, env.record.timezone) + HOUR
    frame = hourly_points(entities, platform=env.record.platform, store=env.record.store, tz=env.record.timezone,
                          start=env.record.start, end=end, families=families)
    if "orders" in families:  # a SKU that sold nothing in an hour sold 0, as the sync writes it
        frame = with_zero_units(frame, hours_between(env.record.start, end, env.record.timezone))
    if env.spec.traffic is None:
        return frame
    rows = env.spec.traffic(env.traffic, env.record.timezone, env.record.start, until)
    traffic = points_frame(((ts, "", metric, float(v)) for ts, metric, v in rows),
                           platform=env.record.platform, store=env.record.store)
    return pl.concat([frame, traffic]).sort("metric", "sku", "ts")


def latest_stock(env: SimEnv, until: datetime) -> dict[str, float]:
    return {s.sku: float(s.quantity) for s in visible(env.dataset, until).stock}


@dataclass
class Comparison:
    ok: bool
    missing: int  # ground-truth points absent or different in the synced data
    extra: int  # synced points the ground truth does not have
    examples: list[str]


def compare(env: SimEnv, synced: pl.DataFrame, truth: pl.DataFrame, until: datetime) -> Comparison:
    """Exact comparison of entity metrics; for scan-stamped stock, the latest value per SKU."""
    key = ["ts", "sku", "metric", "value"]
    stock_metrics = ["stock", "price"] if env.spec.stock_at_scan else []
    compared = ENTITY_METRICS + (truth["metric"].unique().to_list() if env.spec.traffic else [])
    got = synced.filter(pl.col("metric").is_in(compared))
    got_rows = set(got.filter(~pl.col("metric").is_in(stock_metrics)).select(key).iter_rows())
    truth_rows = set(truth.select(key).iter_rows())
    missing, extra = truth_rows - got_rows, got_rows - truth_rows
    examples = [f"missing {r}" for r in sorted(missing, key=str)[:3]] + [f"extra {r}" for r in sorted(extra, key=str)[:3]]
    stock_ok = True
    if env.spec.stock_at_scan:
        stock = got.filter(pl.col("metric") == "stock").sort("ts").group_by("sku").agg(pl.col("value").last())
        synced_latest = dict(stock.iter_rows())
        expected = latest_stock(env, until)
        stock_ok = synced_latest == expected
        if not stock_ok:
            examples.append(f"latest stock per SKU {synced_latest} != {expected}")
    return Comparison(stock_ok and not missing and not extra, len(missing), len(extra), examples)


# ---------------------------------------------------------------- a given dataset, labelled incidents


@contextmanager
def serving_dataset(
    platform: str, dataset: Dataset, clock: ManualClock, *, store: str, **app_options: Any
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Serve ``dataset`` (already ``prepare``d) on the platform's fake over loopback on ``clock``;
    yields the app and the connector Config fields pointing at it (no ``start``: the caller, or
    history on connect, decides it)."""
    spec = sim_store(platform)
    if spec.traffic:
        raise ValueError(f"{platform}: traffic fakes need hourly traffic; use running_sim")
    app = spec.create_app(dataset, clock=clock, **{**spec.app_options, **app_options})
    with serve_in_thread(app) as root:
        fields = {k: v.format(url=root + spec.path, root=root) if isinstance(v, str) else v for k, v in spec.config.items()}
        yield app, {**fields, "store": store}


@dataclass(frozen=True)
class Incident:
    """A labelled business incident injected into a store's platform data over ``[start, end)``."""

    platform: str
    store: str
    kind: str  # order_crash | refund_surge | price_error | stock_out (read from the data: :func:`stock_outs`)
    start: datetime
    end: datetime
    sku: str = ""
    label_zh: str = ""


def _drop_orders(ds: Dataset, start: datetime, end: datetime, keep: float, rng_seed: int) -> None:
    rng = random.Random(rng_seed)
    gone = {o.order_id for o in ds.orders if start <= o.created_at < end and rng.random() >= keep}
    ds.orders = [o for o in ds.orders if o.order_id not in gone]
    ds.refunds = [r for r in ds.refunds if r.order_id not in gone]
    ds.reviews = [r for r in ds.reviews if r.order_id not in gone]


def inject_order_crash(ds: Dataset, start: datetime, end: datetime, *, keep: float = 0.05, seed: int = 1) -> None:
    """下单骤降 (e.g. a broken checkout or a delisted bestseller): only ``keep`` of the orders created
    in ``[start, end)`` happen (their refunds and reviews with them)."""
    _drop_orders(ds, start, end, keep, seed)


def inject_refund_surge(ds: Dataset, start: datetime, end: datetime, *, share: float = 0.5, seed: int = 2) -> None:
    """退款激增 (a bad batch): ``share`` of the paid orders of the 3 days before ``start`` without a
    refund get one, requested at a moment in ``[start, end)`` and granted an hour later."""
    rng = random.Random(seed)
    refunded = {r.order_id for r in ds.refunds}
    span = (end - start).total_seconds()
    changed: dict[str, Order] = {}
    for order in ds.orders:
        if (order.paid_at is not None and start - timedelta(days=3) <= order.created_at < start
                and order.order_id not in refunded and rng.random() < share):
            at = start + timedelta(seconds=int(rng.random() * span))
            ds.refunds.append(Refund(f"{order.order_id}09", order.order_id, at, order.amount, "已退款"))
            changed[order.order_id] = replace(order, status="已退款", updated_at=max(at + timedelta(hours=1),
                                                                                   order.updated_at or at))
    ds.orders = [changed.get(o.order_id, o) for o in ds.orders]


def inject_price_error(ds: Dataset, sku: str, start: datetime, end: datetime, *, factor: float = 0.1) -> None:
    """价格错误 (a misplaced decimal point): the SKU's listed price is ``factor`` of itself from
    ``start`` until ``end``, when it is corrected; stock snapshots are added at both moments."""
    snaps = sorted((s for s in ds.stock if s.sku == sku), key=lambda s: s.at)
    before = [s for s in snaps if s.at <= start]
    if not before:
        raise ValueError(f"no stock snapshot of {sku} before {start}")
    base = before[-1]
    price = base.price or 0.0
    ds.stock = [replace(s, price=round(price * factor, 2)) if s.sku == sku and start <= s.at < end else s for s in ds.stock]
    ds.stock.append(replace(base, at=start, price=round(price * factor, 2)))
    after = [s for s in snaps if s.at <= end]
    ds.stock.append(replace(after[-1], at=end, price=price))
    ds.stock.sort(key=lambda s: (s.at, s.sku))


INJECT: dict[str, Callable[..., None]] = {"order_crash": inject_order_crash, "refund_surge": inject_refund_surge}


def inject(ds: Dataset, incident: Incident) -> None:
    """Apply one labelled incident to the dataset the store's fake serves."""
    if incident.kind == "price_error":
        inject_price_error(ds, incident.sku, incident.start, incident.end)
    elif incident.kind in INJECT:
        INJECT[incident.kind](ds, incident.start, incident.end)
    else:
        raise ValueError(f"unknown incident kind {incident.kind!r}")


# ---------------------------------------------------------------- a seller's replenishment, real stock-outs


@dataclass(frozen=True)
class Replenishment:
    """How the seller restocks (a continuous-review reorder point with a lead time, as a purchasing
    clerk runs it): every ``review`` the clerk looks at each SKU's cover — on hand plus on order, in
    days of its mean daily sales over the last ``demand_days`` — and when it is below the SKU's lead
    time plus ``safety_days`` orders ``cycle_days`` of sales, which land ``lead_days`` later. Each
    SKU draws its lead time and cycle once from the ranges."""

    lead_days: tuple[float, float] = (2.0, 5.0)
    safety_days: float = 2.0
    cycle_days: tuple[float, float] = (7.0, 14.0)
    demand_days: int = 14
    review: timedelta = timedelta(hours=6)


@dataclass(frozen=True)
class LateDelivery:
    """A supplier or warehouse delay: every delivery of ``sku`` (``""``: of every SKU) due in
    ``[due_from, due_until)`` lands ``days`` late."""

    platform: str
    store: str
    sku: str
    due_from: datetime
    due_until: datetime
    days: float


def replenish(ds: Dataset, seed: int, policy: Replenishment = Replenishment(),
              late: Iterable[LateDelivery] = ()) -> None:
    """Replace the dataset's stock with what the seller's replenishment gives, in place.

    Paid orders take stock when paid; what is not on the shelf cannot be sold, so an order line of an
    empty SKU is cut (the order, with its refunds and reviews, goes when nothing is left of it).
    Snapshots: every ``review`` per SKU, plus one when a delivery is booked in and one when a SKU
    sells out. Prices stay those of the dataset's own snapshots."""
    rng = random.Random(seed * 7919 + 17)
    skus = sorted({s.sku for s in ds.stock})
    price = {s.sku: s.price for s in sorted(ds.stock, key=lambda s: s.at)}
    lead = {sku: timedelta(days=rng.uniform(*policy.lead_days)) for sku in skus}
    cycle = {sku: rng.uniform(*policy.cycle_days) for sku in skus}
    delays = list(late)
    paid = sorted((o for o in ds.orders if o.paid_at is not None), key=lambda o: (o.paid_at, o.order_id))
    first_days = ds.start + timedelta(days=policy.demand_days)
    opening: dict[str, float] = dict.fromkeys(skus, 0.0)
    for order in paid:
        if order.paid_at is not None and order.paid_at < first_days:
            for line in order.lines:
                opening[line.sku] = opening.get(line.sku, 0.0) + line.quantity
    daily = {sku: max(opening[sku] / policy.demand_days, 0.1) for sku in skus}
    on_hand = {sku: int(daily[sku] * (lead[sku].total_seconds() / 86400 + policy.safety_days + cycle[sku] / 2)) + 1
               for sku in skus}
    on_order: list[tuple[datetime, str, int]] = []  # (lands at, sku, units)
    sold: list[tuple[datetime, str, int]] = []  # what was sold, for the clerk's demand estimate
    snaps: list[StockSnapshot] = []
    cut: dict[str, Order] = {}
    gone: set[str] = set()

    def book(until: datetime) -> None:
        for landing in sorted(d for d in on_order if d[0] <= until):
            on_order.remove(landing)
            on_hand[landing[1]] += landing[2]
            snaps.append(StockSnapshot(landing[1], landing[0], on_hand[landing[1]], price.get(landing[1])))

    def review(at: datetime) -> None:
        since = at - timedelta(days=policy.demand_days)
        while sold and sold[0][0] < since:
            sold.pop(0)
        for sku in skus:
            recent = sum(q for t, s, q in sold if s == sku)
            rate = recent / policy.demand_days if at - ds.start >= timedelta(days=policy.demand_days) else daily[sku]
            rate = max(rate, 0.1)
            position = on_hand[sku] + sum(q for _, s, q in on_order if s == sku)
            if position < rate * (lead[sku].total_seconds() / 86400 + policy.safety_days):
                due = at + lead[sku]
                lands = due + sum((timedelta(days=d.days) for d in delays
                                   if d.sku in ("", sku) and d.due_from <= due < d.due_until), timedelta())
                on_order.append((lands, sku, max(int(rate * cycle[sku]), 1)))
            snaps.append(StockSnapshot(sku, at, on_hand[sku], price.get(sku)))

    next_review = ds.start
    for order in paid:
        moment = order.paid_at
        assert moment is not None
        while next_review <= moment:
            book(next_review)
            review(next_review)
            next_review += policy.review
        book(moment)
        lines = []
        for line in order.lines:
            take = min(line.quantity, on_hand[line.sku])
            if take <= 0:
                continue
            on_hand[line.sku] -= take
            sold.append((moment, line.sku, take))
            if on_hand[line.sku] == 0:
                snaps.append(StockSnapshot(line.sku, moment, 0, price.get(line.sku)))
            unit = line.amount / line.quantity
            lines.append(line if take == line.quantity else replace(line, quantity=take, amount=round(unit * take, 2)))
        if not lines:
            gone.add(order.order_id)
        elif len(lines) != len(order.lines) or any(a is not b for a, b in zip(lines, order.lines, strict=False)):
            cut[order.order_id] = replace(order, lines=tuple(lines), amount=round(sum(x.amount for x in lines), 2))
    while next_review < ds.end:
        book(next_review)
        review(next_review)
        next_review += policy.review
    ds.orders = [cut.get(o.order_id, o) for o in ds.orders if o.order_id not in gone]
    ds.refunds = [r for r in ds.refunds if r.order_id not in gone]
    ds.reviews = [r for r in ds.reviews if r.order_id not in gone]
    ds.stock = sorted(snaps, key=lambda s: (s.at, s.sku))


def stock_outs(ds: Dataset, platform: str, store: str, *, since: datetime | None = None,
               selling: timedelta = timedelta(days=1)) -> list[Incident]:
    """The stock-outs the data holds: a SKU whose stock reaches 0 after it sold in the ``selling``
    before, from that moment until stock is back (or the data ends). Read from the stock snapshots
    and the paid orders only — never from what any alert said."""
    sales: dict[str, list[datetime]] = {}
    for order in ds.orders:
        if order.paid_at is not None:
            for line in order.lines:
                sales.setdefault(line.sku, []).append(order.paid_at)
    out: list[Incident] = []
    by_sku: dict[str, list[StockSnapshot]] = {}
    for snap in sorted(ds.stock, key=lambda s: s.at):
        by_sku.setdefault(snap.sku, []).append(snap)
    for sku, snaps in sorted(by_sku.items()):
        empty_since: datetime | None = None
        for snap in snaps:
            if snap.quantity <= 0 and empty_since is None:
                if any(snap.at - selling <= t <= snap.at for t in sales.get(sku, ())):
                    empty_since = snap.at
            elif snap.quantity > 0 and empty_since is not None:
                out.append(Incident(platform, store, "stock_out", empty_since, snap.at, sku=sku, label_zh="缺货：到货延误"))
                empty_since = None
        if empty_since is not None:
            out.append(Incident(platform, store, "stock_out", empty_since, ds.end, sku=sku, label_zh="缺货：到货延误"))
    return [i for i in out if since is None or i.end > since]
