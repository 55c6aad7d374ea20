"""Entities → canonical hourly points: buckets, latest versions, reviews, stock, logistics, traffic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl

from shopsentinel.sources.base import Entity, Order, OrderLine, Refund, Review, StockSnapshot
from shopsentinel.sources.hourly import hour_start, hourly_points, hours_between, stale_orders
from shopsentinel.sources.kit.http import TrafficPoint

T0 = datetime(2026, 11, 1, 0, tzinfo=UTC)


def values(frame: pl.DataFrame, metric: str, sku: str = "") -> dict[datetime, float]:
    rows = frame.filter(pl.col("metric") == metric, pl.col("sku") == sku).select("ts", "value").iter_rows()
    return dict(rows)


def points(
    entities: list[Entity], families: set[str] | None = None, traffic: tuple[TrafficPoint, ...] = ()
) -> pl.DataFrame:
    return hourly_points(entities, platform="jd", store="s", tz="Asia/Shanghai", start=T0, end=T0 + timedelta(hours=4),
                         families=families, traffic=traffic)


def test_hours_are_local_clock_hours_and_a_dst_fall_back_day_has_25() -> None:
    ny_day_start = datetime(2026, 11, 1, 4, tzinfo=UTC)  # local midnight, EDT
    hours = hours_between(ny_day_start, datetime(2026, 11, 2, 5, tzinfo=UTC), "America/New_York")  # next local midnight, EST
    assert len(hours) == 25 and hours[1] - hours[0] == timedelta(hours=1)
    assert hour_start(datetime(2026, 11, 1, 7, 10, tzinfo=UTC), "Asia/Kolkata") == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert hour_start(datetime(2026, 11, 1, 7, 10, tzinfo=UTC), "Asia/Shanghai") == datetime(2026, 11, 1, 7, tzinfo=UTC)


def test_orders_counted_once_with_latest_version_by_created_and_paid_hour() -> None:
    created = T0 + timedelta(minutes=50)
    line = OrderLine("SKU-1", 2, 20.0)
    early = Order("1", created, "待付款", 20.0, updated_at=created, lines=(line,))
    paid = replace_paid(early, T0 + timedelta(hours=1, minutes=5))
    frame = points([paid, early, Order("2", T0 + timedelta(hours=2), "已取消", 5.0, updated_at=T0 + timedelta(hours=2))])
    assert values(frame, "orders") == {T0: 1, T0 + timedelta(hours=1): 0, T0 + timedelta(hours=2): 1, T0 + timedelta(hours=3): 0}
    assert values(frame, "paid_orders")[T0 + timedelta(hours=1)] == 1 and values(frame, "paid_orders")[T0] == 0
    assert values(frame, "gmv")[T0 + timedelta(hours=1)] == 20.0
    assert values(frame, "units_sold", "SKU-1") == {T0 + timedelta(hours=1): 2}


def replace_paid(order: Order, at: datetime) -> Order:
    return replace(order, status="待发货", paid_at=at, updated_at=at)


def test_refunds_and_negative_reviews_are_one_to_three_stars() -> None:
    at = T0 + timedelta(minutes=10)
    reviews = [Review(str(s), "o", at, s) for s in (1, 2, 3, 4, 5)]
    frame = points([*reviews, Refund("r1", "o", at, 12.5, "退款中"), Refund("r2", "o", at, 7.5, "已退款")])
    assert values(frame, "reviews")[T0] == 5 and values(frame, "negative_reviews")[T0] == 3
    assert values(frame, "refunds")[T0] == 2 and values(frame, "refund_amount")[T0] == 20.0


def test_stock_and_price_are_the_last_snapshot_in_the_hour() -> None:
    snaps = [StockSnapshot("A", T0 + timedelta(minutes=m), q, p) for m, q, p in ((5, 100, 9.9), (55, 90, 8.8), (30, 95, 9.0))]
    frame = points([*snaps, StockSnapshot("B", T0 + timedelta(hours=2, minutes=1), 7)])
    assert values(frame, "stock", "A") == {T0: 90} and values(frame, "price", "A") == {T0: 8.8}
    assert values(frame, "stock", "B") == {T0 + timedelta(hours=2): 7} and values(frame, "price", "B") == {}


def test_families_without_a_stream_are_absent_not_zero() -> None:
    frame = points([Order("1", T0, "待发货", 1.0, paid_at=T0, updated_at=T0)], families={"orders"})
    assert set(frame["metric"]) == {"orders", "paid_orders", "gmv", "logistics_stale_orders"}
    both = points([], families={"orders", "reviews"})
    assert values(both, "reviews") == {T0 + timedelta(hours=h): 0 for h in range(4)}


def test_logistics_stale_orders_need_48_hours_without_a_tracking_event() -> None:
    shipped = T0 - timedelta(hours=47, minutes=30)
    in_transit = Order("1", shipped - timedelta(hours=1), "在途", 1.0, paid_at=shipped, updated_at=shipped, shipped_at=shipped)
    tracked = Order("2", in_transit.created_at, "在途", 1.0, paid_at=shipped, updated_at=shipped, shipped_at=shipped,
                    last_tracking_at=T0 + timedelta(minutes=30))
    delivered = Order("3", in_transit.created_at, "已完成", 1.0, paid_at=shipped, shipped_at=shipped,
                      updated_at=T0 + timedelta(hours=2, minutes=10))
    frame = points([in_transit, tracked, delivered])
    # hour T0 ends 48.5 h after shipping: 1 and 3 (delivered only later) are stale, 2 had a tracking event;
    # from hour T0+2 on, 3 is delivered
    assert values(frame, "logistics_stale_orders") == {T0: 2, T0 + timedelta(hours=1): 2,
                                                      T0 + timedelta(hours=2): 1, T0 + timedelta(hours=3): 1}
    assert stale_orders([in_transit], shipped + timedelta(hours=47, minutes=59)) == 0


def test_traffic_points_pass_through_on_their_hour() -> None:
    traffic = (TrafficPoint("uv", 321, T0 + timedelta(hours=1)), TrafficPoint("uv", 9, T0 + timedelta(hours=9)))
    frame = points([], families=set(), traffic=traffic)
    assert frame.select("ts", "metric", "value").rows() == [(T0 + timedelta(hours=1), "uv", 321.0)]
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
