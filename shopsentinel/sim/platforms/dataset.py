"""A small seeded store history (orders, refunds, reviews, stock) for the fake platform servers.

The fakes render these entities back into each platform's native JSON, so a connector reading a
fake must return exactly these entities. Times are whole seconds in UTC; money has two decimals.

>>> from datetime import UTC, datetime
>>> ds = make_dataset(7, "Asia/Shanghai", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), 5)
>>> len(ds.orders) > 50 and all(o.updated_at and o.updated_at < ds.end for o in ds.orders)
True
"""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from shopsentinel.sources.base import Entity, Order, OrderLine, Refund, Review, StockSnapshot

# Probability of each final standard state (sums to 1).
STATE_WEIGHTS: dict[str, float] = {
    "待付款": 0.05,
    "已取消": 0.05,
    "待发货": 0.20,
    "在途": 0.25,
    "已完成": 0.30,
    "退款中": 0.07,
    "已退款": 0.08,
}
STAR_WEIGHTS: dict[int, float] = {5: 0.60, 4: 0.20, 3: 0.08, 2: 0.05, 1: 0.07}
STOCK_INTERVAL = timedelta(hours=6)


@dataclass
class Dataset:
    """Entities of one store over ``[start, end)``; lists are mutable so tests can change history."""

    start: datetime
    end: datetime
    orders: list[Order] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    stock: list[StockSnapshot] = field(default_factory=list)

    def entities(self) -> list[Entity]:
        return [*self.orders, *self.refunds, *self.reviews, *self.stock]

    def replace_order(self, order: Order) -> None:
        """Swap in a changed version of an order (same ``order_id``)."""
        self.orders = [order if o.order_id == order.order_id else o for o in self.orders]


def _hour_factor(local_hour: int) -> float:
    if local_hour < 8:
        return 0.3
    return 1.5 if local_hour >= 19 else 1.0


def make_dataset(
    seed: int, store_tz: str | tzinfo, start: datetime, end: datetime, orders_per_hour: float, *, sku_count: int = 6
) -> Dataset:
    """Generate a deterministic store history; ``orders_per_hour`` is the daytime mean rate."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    tz = ZoneInfo(store_tz) if isinstance(store_tz, str) else store_tz
    rng = random.Random(seed)
    start = start.astimezone(UTC).replace(microsecond=0)
    end = end.astimezone(UTC).replace(microsecond=0)
    prices = {f"SKU-{i:03d}": round(rng.uniform(9.9, 299.0), 2) for i in range(1, sku_count + 1)}
    ds = Dataset(start=start, end=end)
    last = end - timedelta(seconds=1)
    hour = start
    while hour < end:
        mean = orders_per_hour * _hour_factor(hour.astimezone(tz).hour)
        count = int(mean) + (1 if rng.random() < mean - int(mean) else 0)
        for created in sorted(hour + timedelta(seconds=rng.randrange(3600)) for _ in range(count)):
            if created < end:
                _add_order(ds, rng, prices, created, last, order_id=str(10**15 * (1 + seed % 9) + len(ds.orders) + 1))
        hour += timedelta(hours=1)
    ds.stock = _stock(rng, prices, ds.orders, start, end)
    return ds


def _add_order(
    ds: Dataset, rng: random.Random, prices: dict[str, float], created: datetime, last: datetime, order_id: str
) -> None:
    def later(moment: datetime, low: float, high: float) -> datetime:
        return min(moment + timedelta(seconds=int(rng.uniform(low, high))), last)

    status = rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()))[0]
    lines = tuple(
        OrderLine(sku, qty, round(prices[sku] * qty, 2))
        for sku in rng.sample(sorted(prices), rng.randint(1, min(3, len(prices))))
        for qty in [rng.randint(1, 3)]
    )
    amount = round(sum(line.amount for line in lines), 2)
    paid = shipped = None
    updated = created
    if status == "已取消":
        updated = later(created, 600, 3600)
    elif status != "待付款":
        paid = updated = later(created, 10, 600)
    if status in ("在途", "已完成"):
        shipped = updated = later(paid or created, 3600, 12 * 3600)
    if status == "已完成":
        updated = later(updated, 86400, 3 * 86400)
    if status in ("退款中", "已退款"):
        requested = updated = later(updated, 3600, 24 * 3600)
        if status == "已退款":
            updated = later(requested, 3600, 12 * 3600)
        ds.refunds.append(Refund(f"{order_id}01", order_id, requested, amount, status))
    ds.orders.append(Order(order_id, created, status, amount, paid, updated, shipped, None, lines))
    if status == "已完成" and rng.random() < 0.6:
        stars = rng.choices(list(STAR_WEIGHTS), weights=list(STAR_WEIGHTS.values()))[0]
        ds.reviews.append(Review(f"{order_id}02", order_id, later(updated, 3600, 48 * 3600), stars))


def _stock(
    rng: random.Random, prices: dict[str, float], orders: list[Order], start: datetime, end: datetime
) -> list[StockSnapshot]:
    """One snapshot per SKU every six hours: quantity drawn down by the orders, restocked when low."""
    quantity = {sku: rng.randint(50, 500) for sku in prices}
    snapshots: list[StockSnapshot] = []
    at = start
    by_time = sorted(orders, key=lambda o: o.created_at)
    created = [o.created_at for o in by_time]
    while at < end:
        sold = {sku: 0 for sku in prices}
        for order in by_time[bisect_left(created, at - STOCK_INTERVAL):bisect_left(created, at)]:
            for line in order.lines:
                sold[line.sku] += line.quantity
        for sku, price in prices.items():
            quantity[sku] = max(quantity[sku] - sold[sku], 0)
            if quantity[sku] < 20:
                quantity[sku] += 300
            snapshots.append(StockSnapshot(sku, at, quantity[sku], price))
        at += STOCK_INTERVAL
    return snapshots


# Final states whose order had a refund requested first (see :func:`order_as_of`).
REFUND_STATES = frozenset({"退款中", "已退款"})


def order_as_of(order: Order, now: datetime, requested: datetime | None = None) -> Order | None:
    """The order as a platform shows it at ``now``: ``None`` before it is created; otherwise in the
    state it had then, with ``updated_at`` its last change up to ``now``.

    An order's history is read off its final version: created (待付款) → paid (待发货, ``paid_at``)
    → shipped (在途, ``shipped_at``) → refund requested (退款中, ``requested``: its refund's
    ``created_at``) → its final state at ``updated_at``. A 已取消 order is 待付款 until cancelled.

    >>> from datetime import UTC, datetime, timedelta
    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> done = Order("1", t, "已完成", 10.0, paid_at=t + timedelta(minutes=5), updated_at=t + timedelta(days=2),
    ...              shipped_at=t + timedelta(hours=6))
    >>> order_as_of(done, t - timedelta(seconds=1)) is None
    True
    >>> [(o.status, o.updated_at - t) for o in (order_as_of(done, t + h) for h in (timedelta(0),
    ...     timedelta(hours=1), timedelta(hours=7), timedelta(days=3)))]  # doctest: +NORMALIZE_WHITESPACE
    [('待付款', datetime.timedelta(0)), ('待发货', datetime.timedelta(seconds=300)),
     ('在途', datetime.timedelta(seconds=21600)), ('已完成', datetime.timedelta(days=2))]
    """
    if order.created_at > now:
        return None
    if (order.updated_at or order.created_at) <= now:
        return order
    state, at, paid, shipped = "待付款", order.created_at, None, None
    if order.paid_at is not None and order.paid_at <= now:
        state, at, paid = "待发货", order.paid_at, order.paid_at
    if order.shipped_at is not None and order.shipped_at <= now:
        state, at, shipped = "在途", order.shipped_at, order.shipped_at
    if order.status in REFUND_STATES and requested is not None and requested <= now:
        state, at = "退款中", max(at, requested)
    tracked = order.last_tracking_at if order.last_tracking_at is not None and order.last_tracking_at <= now else None
    return replace(order, status=state, updated_at=at, paid_at=paid, shipped_at=shipped,
                   last_tracking_at=tracked, native_status="")


def visible(ds: Dataset, now: datetime) -> Dataset:
    """What a platform shows at ``now``: every order created by then in its state as of ``now``
    (:func:`order_as_of`; its ``updated_at`` is its last change, so an order that changes later is
    listed again by a later modified-time window), refunds requested by then (退款中 until granted),
    reviews written by then, and each SKU's latest stock snapshot."""
    latest: dict[str, StockSnapshot] = {}
    for snap in sorted(ds.stock, key=lambda s: s.at):
        if snap.at <= now:
            latest[snap.sku] = snap
    requested: dict[str, datetime] = {}
    for refund in ds.refunds:
        if refund.order_id not in requested or refund.created_at < requested[refund.order_id]:
            requested[refund.order_id] = refund.created_at
    orders: list[Order] = []
    granted: dict[str, datetime] = {}
    for order in ds.orders:
        shown = order_as_of(order, now, requested.get(order.order_id))
        if shown is not None:
            orders.append(shown)
        if order.status == "已退款":
            granted[order.order_id] = order.updated_at or order.created_at
    refunds = [
        replace(r, status="退款中") if r.status == "已退款" and granted.get(r.order_id, r.created_at) > now else r
        for r in ds.refunds if r.created_at <= now
    ]
    return replace(
        ds,
        orders=orders,
        refunds=refunds,
        reviews=[r for r in ds.reviews if r.created_at <= now],
        stock=list(latest.values()),
    )
