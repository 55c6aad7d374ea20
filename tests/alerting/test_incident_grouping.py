"""assign_incidents(): alerts of one store that share a cause get one incident id, root cause first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shopsentinel.alerting.incidents import assign_incidents
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import Severity

T = datetime(2026, 9, 28, 2, tzinfo=UTC)
H = timedelta(hours=1)


def alert(rule: str, category: str, metric: str, start: datetime, *, store: str = "s1", sku: str = "",
          end: datetime | None = None, kind: str = "business") -> AlertEvent:
    return AlertEvent(rule=rule, severity=Severity.WARNING, kind=kind, category=category, platform="tmall", store=store,
                      sku=sku, metric=metric, start=start, end=end if end is not None else start + 4 * H)


def test_uv_crash_explains_orders_and_gmv() -> None:
    uv = alert("traffic.uv_drop", "traffic", "uv", T)
    orders = alert("orders.decline", "sales", "orders", T + H)
    gmv = alert("gmv.drop", "sales", "gmv", T + 2 * H)
    out = assign_incidents([gmv, orders, uv])
    assert [e.rule for e in out] == ["traffic.uv_drop", "orders.decline", "gmv.drop"]
    assert len({e.incident for e in out}) == 1
    assert out[0].incident.startswith("inc-2026092802-")
    assert out[0].root_rank == 0 and all(e.root_rank > 0 for e in out[1:])


def test_same_hour_root_cause_first() -> None:
    orders = alert("orders.decline", "sales", "orders", T)
    uv = alert("traffic.uv_drop", "traffic", "uv", T)
    out = assign_incidents([orders, uv])
    assert [e.rule for e in out] == ["traffic.uv_drop", "orders.decline"]
    assert out[0].incident == out[1].incident


def test_other_store_family_or_time_is_another_incident() -> None:
    a = alert("traffic.uv_drop", "traffic", "uv", T)
    other_store = alert("traffic.uv_drop", "traffic", "uv", T, store="s2")
    other_family = alert("reviews.negative_surge", "service", "negative_reviews", T + H)
    later = alert("orders.decline", "sales", "orders", T + 30 * H)
    out = assign_incidents([a, other_store, other_family, later])
    assert len({e.incident for e in out}) == 4


def test_stock_incidents_are_per_sku() -> None:
    a = alert("stock.cover_red", "stock", "stock_cover_days", T, sku="A")
    b = alert("stock.cover_red", "stock", "stock_cover_days", T, sku="B")
    price_a = alert("price.below_floor", "price", "price", T + H, sku="A")
    out = assign_incidents([a, b, price_a])
    by = {(e.rule, e.sku): e.incident for e in out}
    assert by[("stock.cover_red", "A")] == by[("price.below_floor", "A")]
    assert by[("stock.cover_red", "A")] != by[("stock.cover_red", "B")]


def test_incident_ids_are_stable() -> None:
    first = [e.incident for e in assign_incidents([alert("traffic.uv_drop", "traffic", "uv", T)])]
    again = [e.incident for e in assign_incidents([alert("traffic.uv_drop", "traffic", "uv", T)])]
    assert first == again


def test_root_cause_first_even_when_it_fires_later() -> None:
    orders = alert("orders.decline", "sales", "orders", T)
    uv = alert("traffic.uv_drop", "traffic", "uv", T + H)
    out = assign_incidents([orders, uv])
    assert out[0].incident == out[1].incident
    assert [e.root_rank for e in out][0] == 0
    assert out[0].rule == "traffic.uv_drop"
