"""Every seed rule of R3.7 fires on its case and stays quiet on the near miss."""

from __future__ import annotations

import numpy as np
import pytest

from tests.detect.conftest import HOURS, StoreData, last_day

BUSY = last_day(2, 7)  # 10:00–15:00 Shanghai: busy hours


def fired(data: StoreData, rule: str) -> bool:
    return any(e.start.day == 28 for e in data.evaluate(rule))


def test_uv_drop_vs_yesterday() -> None:
    case, near = StoreData().funnel(), StoreData().funnel()
    case.get("uv")[BUSY] *= 0.4
    near.get("uv")[BUSY] *= 0.6
    assert fired(case, "traffic.uv_drop_vs_yesterday")
    assert not fired(near, "traffic.uv_drop_vs_yesterday")


@pytest.mark.parametrize(("rule", "hit", "miss"), [
    ("conversion.below_half_weekly", 0.35, 0.6),
    ("conversion.below_7d_mean_2sigma", 0.5, 0.8),
])
def test_conversion_rules(rule: str, hit: float, miss: float) -> None:
    case, near = StoreData().funnel(), StoreData().funnel()
    case.get("orders")[BUSY] = np.round(case.get("orders")[BUSY] * hit)
    near.get("orders")[BUSY] = np.round(near.get("orders")[BUSY] * miss)
    assert fired(case, rule)
    assert not fired(near, rule)


def test_order_burst() -> None:
    case, near = StoreData().funnel(), StoreData().funnel()
    case.get("orders")[last_day(3, 5)] *= 3.0
    near.get("orders")[last_day(3, 5)] *= 1.6
    assert fired(case, "orders.burst")
    assert not fired(near, "orders.burst")


def test_orders_decline_needs_three_hours() -> None:
    case, near = StoreData().funnel(), StoreData().funnel()
    case.get("orders")[last_day(2, 6)] = np.round(case.get("orders")[last_day(2, 6)] * 0.3)
    near.get("orders")[last_day(2, 3)] = np.round(near.get("orders")[last_day(2, 3)] * 0.3)
    assert fired(case, "orders.decline")
    assert not fired(near, "orders.decline")


def _stock_store(final_cover_days: float) -> StoreData:
    """A SKU selling 24 units a day whose restocks keep 12–30 days of cover, then runs low."""
    data = StoreData()
    data.set("units_sold", 1.0, sku="A")
    stock = np.empty(HOURS)
    level = 30 * 24.0
    for t in range(HOURS):
        if level < 12 * 24 and t < HOURS - 6 * 24:
            level = 30 * 24.0
        stock[t] = level
        level -= 1
    stock[-24:] = final_cover_days * 24
    data.set("stock", stock, sku="A")
    return data


@pytest.mark.parametrize(("rule", "hit", "miss"), [
    ("stock.cover_red", 2.0, 4.0),
    ("stock.cover_yellow", 5.0, 8.0),
    ("stock.cover_blue", 5.0, 16.0),
    ("stock.sold_out", 0.0, 1.0),
])
def test_stock_tiers(rule: str, hit: float, miss: float) -> None:
    assert fired(_stock_store(hit), rule)
    assert not fired(_stock_store(miss), rule)


def test_stock_below_safety() -> None:
    case, near = StoreData(), StoreData()
    for data, final in ((case, 8.0), (near, 12.0)):
        stock = np.full(HOURS, 60.0)
        stock[-24:] = final
        data.set("stock", stock, sku="A")
    assert fired(case, "stock.below_safety")
    assert not fired(near, "stock.below_safety")


@pytest.mark.parametrize(("rule", "hit", "miss"), [("price.below_floor", 40.0, 70.0), ("price.above_ceiling", 300.0, 200.0)])
def test_price_rules(rule: str, hit: float, miss: float) -> None:
    case, near = StoreData(), StoreData()
    for data, final in ((case, hit), (near, miss)):
        price = np.full(HOURS, 100.0)
        price[last_day(2, 8)] = final
        data.set("price", price, sku="A")
    assert fired(case, rule)
    assert not fired(near, rule)


def test_payment_failure_rate_above_15_percent() -> None:
    case, near = StoreData().funnel(), StoreData().funnel()
    attempts = case.get("payment_attempts")[BUSY]
    case.get("payment_failures")[BUSY] = np.round(attempts * 0.3)
    near.get("payment_failures")[BUSY] = np.round(near.get("payment_attempts")[BUSY] * 0.12)
    assert fired(case, "payment.failure_rate_high")
    assert not fired(near, "payment.failure_rate_high")


def _refund_store(rate_last_day: float, hours: slice | None = None) -> StoreData:
    data = StoreData().funnel()
    paid = data.get("paid_orders")
    refunds = data.rng.binomial(paid.astype(int), 0.02).astype(float)
    window = hours or slice(HOURS - 24, HOURS)
    refunds[window] = data.rng.binomial(paid[window].astype(int), rate_last_day)
    data.set("refunds", refunds)
    return data


def test_refund_rate_twice_the_monthly_average() -> None:
    assert fired(_refund_store(0.08), "refunds.rate_double_monthly")
    assert not fired(_refund_store(0.03), "refunds.rate_double_monthly")


def test_refund_surge() -> None:
    assert fired(_refund_store(0.12, last_day(2, 10)), "refunds.surge")
    assert not fired(_refund_store(0.03, last_day(2, 10)), "refunds.surge")


def test_dsr_below_4_6() -> None:
    case, near = StoreData(), StoreData()
    for data, final in ((case, 4.5), (near, 4.65)):
        dsr = np.full(HOURS, 4.8)
        dsr[-12:] = final
        data.set("dsr", dsr)
    assert fired(case, "service.dsr_below_4_6")
    assert not fired(near, "service.dsr_below_4_6")


@pytest.mark.parametrize("rule", ["reviews.negative_each", "logistics.stale_48h"])
def test_per_event_tasks(rule: str) -> None:
    metric = "negative_reviews" if rule.startswith("reviews") else "logistics_stale_orders"
    case, near = StoreData(), StoreData()
    values = np.zeros(HOURS)
    near.set(metric, values)
    values = values.copy()
    values[HOURS - 5] = 1
    case.set(metric, values)
    events = case.evaluate(rule)
    assert fired(case, rule) and all(e.mode == "task" and e.severity == "info" for e in events)
    assert not fired(near, rule)


def test_negative_review_surge() -> None:
    case, near = StoreData(), StoreData()
    for data, factor in ((case, 6.0), (near, 1.5)):
        base = data.rng.poisson(0.5, HOURS).astype(float)
        base[last_day(0, 20)] = data.rng.poisson(0.5 * factor, 20)
        data.set("negative_reviews", base)
    assert fired(case, "reviews.negative_surge")
    assert not fired(near, "reviews.negative_surge")


def test_stale_logistics_surge() -> None:
    case, near = StoreData(), StoreData()
    for data, level in ((case, 20.0), (near, 4.0)):
        stale = data.rng.poisson(2.0, HOURS).astype(float)
        stale[last_day(0, 10)] = level
        data.set("logistics_stale_orders", stale)
    assert fired(case, "logistics.stale_surge")
    assert not fired(near, "logistics.stale_surge")


def _ads_store(spend_factor: float, conversion_factor: float, cpc_factor: float = 1.0) -> StoreData:
    """Ten hours of changed ads: spend × ``spend_factor`` at a cost per click × ``cpc_factor``
    (so clicks × spend/cpc), each click converting × ``conversion_factor``."""
    data = StoreData()
    clicks = data.poisson(0.2)
    spend = clicks * 1.5
    ad_orders = data.rng.binomial(clicks.astype(int), 0.08).astype(float)
    window = last_day(0, 10)
    clicks[window] = np.round(clicks[window] * spend_factor / cpc_factor)
    spend[window] = clicks[window] * 1.5 * cpc_factor
    ad_orders[window] = data.rng.binomial(clicks[window].astype(int), 0.08 * conversion_factor)
    data.set("ad_spend", spend)
    data.set("ad_clicks", clicks)
    data.set("ad_orders", ad_orders)
    return data


def test_paid_cost_up_while_conversion_down() -> None:
    """The seed rule's cost is the cost of a paid visitor (CPC): on a daily budget spend stays flat."""
    assert fired(_ads_store(1.0, 0.5, cpc_factor=1.8), "ads.cost_up_conversion_down")
    assert not fired(_ads_store(1.0, 0.95, cpc_factor=1.8), "ads.cost_up_conversion_down")
    assert not fired(_ads_store(1.0, 0.5, cpc_factor=1.2), "ads.cost_up_conversion_down")
    # More clicks bought at the usual price is not dearer traffic.
    assert not fired(_ads_store(2.0, 0.5), "ads.cost_up_conversion_down")


def test_ad_spend_rising_while_conversion_collapses() -> None:
    assert fired(_ads_store(1.6, 0.3), "ads.spend_up_conversion_collapse")
    assert not fired(_ads_store(1.05, 0.3), "ads.spend_up_conversion_collapse")


def test_default_pack_has_every_seed_rule() -> None:
    from shopsentinel.detect.rules import default_rules

    ids = {r.id for r in default_rules().rules}
    seed_rules = {
        "traffic.uv_drop_vs_yesterday", "stock.below_safety", "service.dsr_below_4_6", "conversion.below_7d_mean_2sigma",
        "orders.burst", "orders.decline", "stock.cover_red", "stock.cover_yellow", "stock.cover_blue",
        "logistics.stale_48h", "reviews.negative_each", "ads.cost_up_conversion_down", "conversion.below_half_weekly",
        "refunds.rate_double_monthly", "payment.failure_rate_high", "price.below_floor", "ads.spend_up_conversion_collapse",
    }
    assert seed_rules <= ids
    for rule in default_rules().rules:
        assert rule.name.zh and rule.name.en and rule.severity


def test_stock_cover_works_without_units_sold() -> None:
    """Exports often carry stock but not sales: demand is read off the stock's own decline."""
    data = _stock_store(2.0)
    del data.series[("units_sold", "A")]
    assert fired(data, "stock.cover_red")
    quiet = _stock_store(4.0)
    del quiet.series[("units_sold", "A")]
    assert not fired(quiet, "stock.cover_red")
