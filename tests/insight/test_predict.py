"""Predictive alerts: stock-out probability reacts to stock, in-transit units and promotions; the
service endpoints forecast SKUs, store sales and what-if changes from stored points."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from shopsentinel.core.types import Point
from shopsentinel.insight.predict import stockout_risk, what_if
from shopsentinel.store.state import CalendarRow, StoreRow
from tests.insight.conftest import HOUR, START, upsert

NOW = START + timedelta(days=28)


def demand(days: int = 28, rate: float = 2.0, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hour = np.arange(days * 24) % 24
    return rng.poisson(rate * (0.4 + 1.2 * ((hour >= 9) & (hour < 22)))).astype(float)


def test_probability_falls_with_stock_and_in_transit_and_rises_with_promotions() -> None:
    history = demand()
    daily = history[-7 * 24:].sum() / 7
    p = [stockout_risk(history, stock=daily * d, seed=1).probability for d in (1, 2.5, 3.5, 6)]
    assert p[0] > 0.99 and p[-1] < 0.01 and p == sorted(p, reverse=True)
    base = stockout_risk(history, stock=daily * 2.7, seed=1).probability
    helped = stockout_risk(history, stock=daily * 2.7, in_transit=[(12, daily * 3)], seed=1).probability
    promo = stockout_risk(history, stock=daily * 2.7, promo_future=np.ones(72, bool), seed=1).probability
    assert helped < base < promo
    assert stockout_risk(history, stock=daily * 2.7, seed=1).safety_stock > 0


def test_a_coming_promotion_is_uncertain_even_when_past_ones_were_steady() -> None:
    """The SKU tripled its sales in each of two past promotions. Stock for 1.3× the expected promotion
    demand is not safe: the next promotion may sell more (a 618 is not a 双11), so the risk is real
    but not certain; without the promotion the same stock is plenty."""
    history = demand(days=28, rate=2.0, seed=5)
    promo_past = np.zeros(history.size, dtype=bool)
    for day in (5, 6, 19, 20):
        promo_past[day * 24:(day + 1) * 24] = True
    history[promo_past] *= 3
    coming = np.ones(72, dtype=bool)
    steady = stockout_risk(history, stock=0.0, promo_past=promo_past, promo_future=coming, seed=2)
    stock = steady.expected_demand * 1.3
    forecast = stockout_risk(history, stock=stock, promo_past=promo_past, promo_future=coming, seed=2)
    assert 2.6 < forecast.uplift < 3.4
    assert 0.05 < forecast.probability < 0.5  # Poisson noise alone would make 1.3× nearly safe
    assert stockout_risk(history, stock=stock, promo_past=promo_past, seed=2).probability < 0.01
    unseen = stockout_risk(demand(seed=5), stock=stock, promo_future=coming, seed=2)  # never on promotion
    assert unseen.probability > 0.05


def just_in_time(days: int = 28, stop_after: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A shop that keeps about a day and a half on the shelf and receives every morning at 06:00
    (until ``stop_after`` hours, when the supplier stops delivering)."""
    sold = demand(days=days, seed=7)
    stock = np.empty(sold.size)
    level = 80.0
    daily = sold.sum() / days
    for t in range(sold.size):
        if t % 24 == 6 and (stop_after is None or t < stop_after):
            level += daily
        sold[t] = min(sold[t], level)  # an empty shelf sells nothing
        level -= sold[t]
        stock[t] = level
    return sold, stock


def test_a_daily_delivery_rhythm_is_not_a_stockout_but_a_broken_one_is() -> None:
    sold, stock = just_in_time()
    now_stock = float(stock[-1])
    assert now_stock < sold.sum() / 28 * 2  # under two days on the shelf, all the time
    blind = stockout_risk(sold, stock=now_stock, seed=4)
    seen = stockout_risk(sold, stock=now_stock, stock_history=stock, seed=4)
    assert blind.probability > 0.9 and blind.restock_chance == 0.0 and blind.supply == "unknown"
    assert seen.probability < 0.2 and seen.restock_chance > 0.8 and seen.supply == "rhythm"
    # A new store: its stock known for 20 hours only (one delivery is no rhythm yet), but the 27 days
    # of sales before show the SKU kept in stock all along: a delivery is the norm, not the exception.
    short = stockout_risk(sold, stock=now_stock, stock_history=np.r_[np.full(sold.size - 20, np.nan), stock[-20:]], seed=4)
    assert short.supply == "unknown" and short.probability < 0.2 and short.restock_chance > 0.8
    # The supplier stopped three days ago: the rhythm is broken, nothing is assumed to come.
    sold, stock = just_in_time(stop_after=25 * 24)
    late = stockout_risk(sold, stock=max(float(stock[-1]), 20.0), stock_history=stock, seed=4)
    assert late.restock_chance == 0.0 and late.probability > 0.9 and late.supply == "overdue"
    # Known in-transit deliveries (ERP) replace the rhythm.
    told = stockout_risk(sold, stock=now_stock, stock_history=stock, in_transit=[(30, 1.0)], seed=4)
    assert told.restock_chance == 0.0 and told.supply == "announced"


def test_what_if_flags_metrics_leaving_their_band() -> None:
    rng = np.random.default_rng(1)
    daily = {"uv": rng.normal(10_000, 300, 28), "paid_orders": rng.normal(500, 20, 28)}
    daily["gmv"] = daily["paid_orders"] * 100
    daily["aov"] = daily["gmv"] / daily["paid_orders"] + rng.normal(0, 1, 28)
    hike = what_if(daily, price_change_pct=30, elasticity=-1.5)
    assert {"aov", "paid_orders"} <= set(hike.out_of_band) and "uv" not in hike.out_of_band
    campaign = what_if(daily, uplift_pct=50)
    assert {"uv", "paid_orders", "gmv"} <= set(campaign.out_of_band) and "aov" not in campaign.out_of_band
    assert what_if(daily, price_change_pct=1).out_of_band == []
    with pytest.raises(ValueError):
        what_if(daily, price_change_pct=-100)


def sku_history(sku: str, stock_now: float, seed: int) -> list[Point]:
    units = demand(seed=seed)
    start = NOW - timedelta(days=28)
    stock = stock_now + units[::-1].cumsum()[::-1]  # stock falls by what was sold, ending at stock_now
    return [Point(start + h * HOUR, "tmall", "tm-1", metric, float(value), sku)
            for h in range(28 * 24) for metric, value in (("units_sold", units[h]), ("stock", stock[h]))]


def test_prediction_endpoints(api: Any, clock: Any) -> None:
    clock.set(NOW)
    with api.service.sessions() as session:
        session.add(StoreRow(platform="tmall", store="tm-1", name="tm-1", timezone="Asia/Shanghai", currency="CNY",
                             created_at=START))
        session.add(CalendarRow(starts_at=NOW + timedelta(days=10), ends_at=NOW + timedelta(days=11), platform="tmall",
                                store="", name="大促", kind="promotion"))
        session.commit()
    upsert(api, sku_history("SKU-LOW", 40, 1) + sku_history("SKU-OK", 5000, 2))
    gmv = demand(rate=300, seed=9)
    upsert(api, [Point(NOW - timedelta(days=28) + h * HOUR, "tmall", "tm-1", "gmv", float(v)) for h, v in enumerate(gmv)])
    items = api.get("/api/v1/predictions/stockouts", params={"platform": "tmall", "store": "tm-1"}).json()["items"]
    assert [i["sku"] for i in items] == ["SKU-LOW", "SKU-OK"]
    assert items[0]["probability"] > 0.9 and items[1]["probability"] == 0.0
    assert items[0]["median_hours_to_stockout"] is not None and items[0]["median_hours_to_stockout"] < 30
    one = api.get("/api/v1/predictions/stockouts/tmall/tm-1/SKU-LOW", params={"in_transit": 500, "arrives_in_hours": 2}).json()
    assert one["probability"] < 0.05 and one["in_transit"] == 500 and "断货概率" in one["text_zh"]
    assert api.get("/api/v1/predictions/stockouts/tmall/tm-1/NOPE").status_code == 404
    sales = api.get("/api/v1/predictions/sales/tmall/tm-1").json()["items"]
    typical = gmv[-7 * 24:].sum() / 7
    assert len(sales) == 7 and all(s["low"] < s["forecast"] < s["high"] for s in sales)
    assert all(abs(s["forecast"] - typical) / typical < 0.15 for s in sales)
    r = api.post("/api/v1/predictions/what-if", json={"platform": "tmall", "store": "tm-1", "uplift_pct": 80})
    assert r.status_code == 200 and "gmv" in r.json()["out_of_band"]


def delivered(store: str, sku: str, arrivals: list[int], stock_now: float, hours: int = 12 * 168) -> list[Point]:
    """``hours`` of hourly sales (4/h) and stock before NOW, with 1,344-unit deliveries at the given
    hours before NOW, ending with ``stock_now`` on the shelf."""
    level = np.empty(hours)
    stock = stock_now + 4.0 * hours - 1344.0 * sum(1 for a in arrivals if 0 < a <= hours)
    for h in range(hours):
        if hours - h in arrivals:
            stock += 1344.0
        stock -= 4.0
        level[h] = stock
    start = NOW - hours * HOUR
    return [Point(start + h * HOUR, "tmall", store, metric, value, sku)
            for h in range(hours) for metric, value in (("units_sold", 4.0), ("stock", float(level[h])))]


def test_the_service_reads_months_of_stock_and_judges_a_late_truck_by_the_store_s_record(api: Any, clock: Any) -> None:
    clock.set(NOW)
    due = [358 + 336 * k for k in range(6)]  # every 14 days; the next was due 22 h ago
    for store, others in (("punctual", [[300 + 336 * k for k in range(6)], [200 + 336 * k for k in range(6)]]),
                          ("tardy", [[300, 636, 1044, 1380, 1764, 2000], [200, 590, 926, 1310, 1646, 1990]])):
        upsert(api, delivered(store, "SKU-DUE", due, 250.0))
        for i, arrivals in enumerate(others):
            upsert(api, delivered(store, f"SKU-{i}", arrivals, 3000.0))
    risk = {}
    for store in ("punctual", "tardy"):
        items = api.get("/api/v1/predictions/stockouts", params={"platform": "tmall", "store": store}).json()["items"]
        risk[store] = next(i for i in items if i["sku"] == "SKU-DUE")
        assert risk[store]["supply"] == "overdue" and risk[store]["stock"] == 250  # five deliveries in 12 weeks, now late
    assert risk["punctual"]["restock_chance"] < 0.1 and risk["punctual"]["probability"] > 0.9
    assert risk["tardy"]["restock_chance"] > 0.3  # trucks here come a day or two late
    assert risk["tardy"]["probability"] < risk["punctual"]["probability"] - 0.25
    one = api.get("/api/v1/predictions/stockouts/tmall/tardy/SKU-DUE").json()  # alone, judged by the same record
    assert (one["probability"], one["restock_chance"]) == (risk["tardy"]["probability"], risk["tardy"]["restock_chance"])


def test_before_any_delivery_is_seen_the_sales_history_says_whether_the_seller_keeps_the_sku_in_stock() -> None:
    """No stock history yet (a store connected an hour ago). A SKU that sold without a break for four
    weeks has been restocked in time again and again; one whose sales stopped for a day every week ran
    out each time — its seller does not restock in time, so the forecast assumes nothing comes."""
    sold, _ = just_in_time()
    unknown = np.r_[np.full(sold.size - 1, np.nan), 60.0]  # only the current level is known
    kept = stockout_risk(sold, stock=60.0, stock_history=unknown, seed=4)
    assert kept.supply == "unknown" and kept.probability < 0.2
    broken = sold.copy()
    for start in range(30, sold.size - 24, 80):  # every three or four days a day without a sale: out of stock
        broken[start:start + 24] = 0.0
    runs_out = stockout_risk(broken, stock=60.0, stock_history=unknown, seed=4)
    assert runs_out.supply == "unknown" and runs_out.probability > 0.5
    assert stockout_risk(sold, stock=60.0, seed=4).probability > 0.9  # no stock at all given: demand only
