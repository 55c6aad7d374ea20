"""Entities → canonical hourly points ``(ts UTC, platform, store, sku, metric, value)``.

Every connector yields the same entities (:mod:`shopsentinel.sources.base`); this module is the one
place that turns them into metrics, so a Tmall order and a Shopify order count the same way.

* Hours are the store's local clock hours (for whole-hour zones these are UTC hours too; for
  ``Asia/Kolkata`` they start at :30 UTC). ``ts`` is the UTC start of the local hour.
* Orders that changed state are counted once: the latest version per primary key wins (the
  one with the latest ``updated_at``; later arrivals win ties).
* Counts of a metric *family* are zero-filled over ``[start, end)`` only when the source has that
  family's stream, so "no reviews API" stays absent rather than looking like "no reviews".

==========================  ==============================================================  =======
metric                      definition                                                      family
==========================  ==============================================================  =======
orders                      orders created in the hour (every state)                        orders
paid_orders                 orders paid in the hour (``paid_at``)                           orders
gmv                         paid amount of those orders                                     orders
units_sold (per SKU)        quantity of the order lines of orders paid in the hour          orders
logistics_stale_orders      orders in transit at the hour's end whose last logistics event  orders
                            (shipment or tracking update) is ≥ 48 h before the hour's end
refunds                     refund requests created in the hour                             refunds
refund_amount               their amount                                                    refunds
reviews                     reviews created in the hour                                     reviews
negative_reviews            of those, 1–3 stars                                             reviews
stock, price (per SKU)      the last snapshot taken in the hour                             stock
==========================  ==============================================================  =======

Traffic points (:class:`~shopsentinel.sources.kit.http.TrafficPoint`) pass through unchanged,
landing on their own ``hour`` (daily report rows land on the local midnight they start at).

>>> from datetime import UTC, datetime
>>> from shopsentinel.sources.base import Order
>>> t = datetime(2026, 11, 1, 2, 15, tzinfo=UTC)
>>> o = Order("1", t, "待发货", 10.0, paid_at=t, updated_at=t)
>>> frame = hourly_points([o], platform="jd", store="s1", tz="Asia/Shanghai", start=t.replace(minute=0),
...                       end=t.replace(hour=3, minute=0), families={"orders"})
>>> sorted(zip(frame["metric"], frame["value"]))[:3]
[('gmv', 10.0), ('logistics_stale_orders', 0.0), ('orders', 1.0)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import polars as pl

from shopsentinel.sources.base import Entity, Order, Refund, Review, StockSnapshot
from shopsentinel.sources.kit.http import TrafficPoint

HOUR = timedelta(hours=1)
STALE_AFTER = timedelta(hours=48)
NEGATIVE_MAX_STARS = 3

# Which store-level counts each entity family yields (zero-filled when the family is present).
FAMILY_COUNTS: dict[str, tuple[str, ...]] = {
    "orders": ("orders", "paid_orders", "gmv", "logistics_stale_orders"),
    "refunds": ("refunds", "refund_amount"),
    "reviews": ("reviews", "negative_reviews"),
    "stock": (),
}
ENTITY_FAMILY: dict[type, str] = {Order: "orders", Refund: "refunds", Review: "reviews", StockSnapshot: "stock"}
# Order states after which a shipped order is no longer waiting for logistics.
LOGISTICS_DONE = frozenset({"已完成", "已退款", "已取消"})

POINT_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "platform": pl.Utf8(),
    "store": pl.Utf8(),
    "sku": pl.Utf8(),
    "metric": pl.Utf8(),
    "value": pl.Float64(),
}


def zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def hour_start(moment: datetime, tz: str | tzinfo) -> datetime:
    """UTC start of the store-local hour containing ``moment`` (DST-safe: minutes are dropped locally)."""
    local = moment.astimezone(zone(tz))
    return (moment - timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)).astimezone(UTC)


def hours_between(start: datetime, end: datetime, tz: str | tzinfo) -> list[datetime]:
    """Local-hour starts (UTC) of every hour that begins in ``[start, end)``, ``start`` rounded down."""
    out, hour = [], hour_start(start, tz)
    while hour < end:
        out.append(hour)
        hour += HOUR
    return out


def family_of(entity: Entity) -> str:
    return ENTITY_FAMILY[type(entity)]


def latest_versions(entities: Iterable[Entity]) -> list[Entity]:
    """One entity per primary key: the latest ``updated_at`` for orders, the last seen otherwise."""
    latest: dict[tuple[str, str], Entity] = {}
    for entity in entities:
        key = (family_of(entity), entity_key(entity))
        old = latest.get(key)
        if isinstance(entity, Order) and isinstance(old, Order) and _order_time(old) > _order_time(entity):
            continue
        latest[key] = entity
    return list(latest.values())


def entity_key(entity: Entity) -> str:
    """Primary key of an entity within its family."""
    if isinstance(entity, Order):
        return entity.order_id
    if isinstance(entity, Refund):
        return entity.refund_id
    if isinstance(entity, Review):
        return entity.review_id
    return f"{entity.sku}@{entity.at.astimezone(UTC).isoformat()}"


def _order_time(order: Order) -> datetime:
    return order.updated_at or order.created_at


@dataclass
class _Acc:
    """Sums per (hour, sku, metric), plus the last stock snapshot per (hour, sku)."""

    sums: defaultdict[tuple[datetime, str, str], float]
    stock: dict[tuple[datetime, str], StockSnapshot]


def hourly_points(
    entities: Iterable[Entity],
    *,
    platform: str,
    store: str,
    tz: str | tzinfo,
    start: datetime,
    end: datetime,
    families: Collection[str] | None = None,
    traffic: Iterable[TrafficPoint] = (),
) -> pl.DataFrame:
    """Canonical points of the hours that start in ``[start, end)`` (see the module table)."""
    tz = zone(tz)
    hours = hours_between(start, end, tz)
    first, stop = (hours[0], hours[-1] + HOUR) if hours else (start, start)
    items = latest_versions(entities)
    present = set(families) if families is not None else {family_of(e) for e in items}
    items = [e for e in items if family_of(e) in present]
    acc = _Acc(defaultdict(float), {})
    for hour in hours:  # zero-fill the store-level counts of every present family
        for family in present:
            for metric in FAMILY_COUNTS.get(family, ()):
                acc.sums[(hour, "", metric)] += 0.0

    def add(moment: datetime | None, metric: str, value: float, sku: str = "") -> None:
        if moment is not None and first <= moment < stop:
            acc.sums[(hour_start(moment, tz), sku, metric)] += value

    orders: list[Order] = []
    for item in items:
        if isinstance(item, Order):
            orders.append(item)
            add(item.created_at, "orders", 1)
            add(item.paid_at, "paid_orders", 1)
            add(item.paid_at, "gmv", item.amount)
            for line in item.lines:
                add(item.paid_at, "units_sold", line.quantity, line.sku)
        elif isinstance(item, Refund):
            add(item.created_at, "refunds", 1)
            add(item.created_at, "refund_amount", item.amount)
        elif isinstance(item, Review):
            add(item.created_at, "reviews", 1)
            add(item.created_at, "negative_reviews", 1 if item.stars <= NEGATIVE_MAX_STARS else 0)
        elif first <= item.at < stop:
            key = (hour_start(item.at, tz), item.sku)
            if key not in acc.stock or acc.stock[key].at <= item.at:
                acc.stock[key] = item
    if "orders" in present:
        for hour in hours:
            acc.sums[(hour, "", "logistics_stale_orders")] = float(stale_orders(orders, hour + HOUR))
    rows = [(ts, sku, metric, round(value, 2)) for (ts, sku, metric), value in acc.sums.items()]
    for (ts, sku), snap in acc.stock.items():
        rows.append((ts, sku, "stock", float(snap.quantity)))
        if snap.price is not None:
            rows.append((ts, sku, "price", float(snap.price)))
    rows.extend((p.hour.astimezone(UTC), "", p.metric, float(p.value)) for p in traffic if first <= p.hour < stop)
    return points_frame(rows, platform=platform, store=store)


def stale_orders(orders: Iterable[Order], at: datetime) -> int:
    """Orders shipped by ``at``, not yet done by ``at``, with no logistics event in the 48 h before it."""
    count = 0
    for order in orders:
        if order.shipped_at is None or order.shipped_at > at:
            continue
        done = order.status in LOGISTICS_DONE or order.status == "退款中"
        if done and order.updated_at is not None and order.updated_at <= at:
            continue  # delivered / closed by then
        events = [order.shipped_at, *([order.last_tracking_at] if order.last_tracking_at else [])]
        last_event = max(e for e in events if e <= at)
        if at - last_event >= STALE_AFTER:
            count += 1
    return count


def points_frame(rows: Iterable[tuple[datetime, str, str, float]], *, platform: str, store: str) -> pl.DataFrame:
    """``(ts, sku, metric, value)`` rows → the canonical frame, sorted for stable comparisons."""
    data = list(rows)
    frame = pl.DataFrame(
        {
            "ts": [r[0] for r in data],
            "platform": [platform] * len(data),
            "store": [store] * len(data),
            "sku": [r[1] for r in data],
            "metric": [r[2] for r in data],
            "value": [float(r[3]) for r in data],
        },
        schema=POINT_SCHEMA,
    )
    return frame.sort("metric", "sku", "ts")


def families_of_streams(stream_names: Iterable[str], stream_families: Mapping[str, str]) -> set[str]:
    """Entity families a source covers, from its stream names (``inventory`` → ``stock`` …)."""
    return {stream_families[name] for name in stream_names if name in stream_families}
