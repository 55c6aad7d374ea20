"""Predictive stock-out alerts in the live service: a SKU likely to sell out within 72 h raises one
warning (with probability, time and safety stock) before it is empty; a restock resolves it; the
forecast is judged once per closed hour."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from shopsentinel.core.types import Point
from shopsentinel.store.state import AlertRow
from tests.insight.conftest import HOUR, upsert


def _selling(store: str, sku: str, end: Any, days: int, final_stock: float, seed: int = 5) -> list[Point]:
    """Hourly sales around 6/h for ``days`` before ``end``, stock counting down to ``final_stock``."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    sold = rng.poisson(6, hours).astype(float)
    stock = final_stock + np.cumsum(sold[::-1])[::-1] - sold  # stock after each hour's sales ends at final_stock
    start = end - hours * HOUR
    return [p for h in range(hours) for p in (Point(start + h * HOUR, "tmall", store, "units_sold", float(sold[h]), sku),
                                               Point(start + h * HOUR, "tmall", store, "stock", float(stock[h]), sku))]


def test_a_sku_about_to_sell_out_warns_once_and_a_restock_resolves_it(api: Any, clock: Any) -> None:
    now = clock.now()
    upsert(api, _selling("tm-1", "SKU-LOW", now, 28, final_stock=150))     # ~430 wanted in 72 h: will sell out
    upsert(api, _selling("tm-1", "SKU-DEEP", now, 28, final_stock=5000))   # plenty
    api.service.notify()
    [alert] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    assert (alert["rule"], alert["sku"], alert["severity"]) == ("predict.stockout_72h", "SKU-LOW", "warning")
    assert alert["value"] >= 0.85 and "售罄" in alert["message"] and "建议安全库存" in alert["message"]
    outbox = api.get("/api/v1/outbox").json()["items"]
    assert [e["alert_id"] for e in outbox] == [alert["id"]]  # announced like any alert

    api.service.notify()  # the same hour again: judged once, nothing new
    assert len(api.get("/api/v1/alerts").json()["items"]) == 1

    clock.advance(HOUR)  # the next hour: still selling, still short → the same alert keeps firing
    upsert(api, [Point(now, "tmall", "tm-1", "units_sold", 6.0, "SKU-LOW"), Point(now, "tmall", "tm-1", "stock", 144.0, "SKU-LOW")])
    api.service.notify()
    assert [a["id"] for a in api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]] == [alert["id"]]

    clock.advance(HOUR)  # restocked: the risk is gone
    upsert(api, [Point(now + HOUR, "tmall", "tm-1", "units_sold", 6.0, "SKU-LOW"),
                 Point(now + HOUR, "tmall", "tm-1", "stock", 3000.0, "SKU-LOW")])
    api.service.notify()
    assert api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"] == []
    [resolved] = api.get("/api/v1/alerts", params={"state": "resolved"}).json()["items"]
    assert resolved["id"] == alert["id"] and resolved["ends_at"] == f"{now + 2 * HOUR - timedelta(0):%Y-%m-%dT%H:%M:%SZ}"


def test_an_hours_round_is_spread_over_ticks(api: Any, clock: Any) -> None:
    now = clock.now()
    for i in range(5):
        upsert(api, _selling(f"s{i}", "SKU-LOW", now, 10, final_stock=150, seed=i))
    predictive = api.service.response.predictive
    predictive.stores_per_tick = 2
    fired = [len(predictive.tick(api.service, now)) for _ in range(4)]
    assert fired == [2, 2, 1, 0]  # five stores at risk, two per tick, then the round is done until the next hour
    predictive.seconds_per_tick = 0.0  # a spent time budget: one store per tick, never none
    left = []
    for _ in range(5):
        predictive.tick(api.service, now + HOUR)
        left.append(predictive.pending)
    assert left == [4, 3, 2, 1, 0]


def test_only_stores_with_recent_sku_sales_are_judged(api: Any, clock: Any) -> None:
    from shopsentinel.insight.predictive import stores_with_sales

    now = clock.now()
    upsert(api, _selling("selling", "SKU-A", now, 3, final_stock=500))
    upsert(api, _selling("stopped", "SKU-B", now - 72 * HOUR, 3, final_stock=500))  # last sale three days ago
    upsert(api, [Point(now - h * HOUR, "tmall", "store-level", "units_sold", 9.0) for h in range(1, 30)])  # no SKU
    upsert(api, [Point(now - HOUR, "tmall", "stopped", "uv", 100.0)])  # still reporting, but not selling SKUs
    with api.service.sessions() as session:
        assert stores_with_sales(session, now - 24 * HOUR) == [("tmall", "selling")]
        assert stores_with_sales(session, now - 100 * HOUR) == [("tmall", "selling"), ("tmall", "stopped")]


def test_an_overdue_delivery_is_named_in_the_warning(api: Any, clock: Any) -> None:
    from tests.insight.test_predict import NOW, delivered

    clock.set(NOW)
    upsert(api, delivered("tm-9", "SKU-DUE", [358 + 336 * k for k in range(6)], 250.0))  # due 22 h ago
    for i, offset in enumerate((300, 200)):
        upsert(api, delivered("tm-9", f"SKU-{i}", [offset + 336 * k for k in range(6)], 3000.0))  # punctual trucks
    api.service.notify()
    [alert] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    assert alert["sku"] == "SKU-DUE"
    assert "上次到货已过 358 小时（通常每 336 小时一批）" in alert["message"] and "请向供应商确认" in alert["message"]
    detail = api.get(f"/api/v1/alerts/{alert['id']}").json()
    assert "last delivery 358 h ago (usually every 336 h)" in detail["message_en"]


def test_a_stores_skus_at_risk_are_one_incident_riskiest_first_and_a_later_one_joins_it(api: Any, clock: Any) -> None:
    now = clock.now()
    for i, stock in enumerate((60, 90, 120, 150)):
        upsert(api, _selling("tm-1", f"SKU-{i}", now, 28, final_stock=stock, seed=i))
    upsert(api, _selling("tm-2", "SKU-X", now, 28, final_stock=60))  # another store: another problem
    api.service.notify()
    alerts = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    mine = sorted((a for a in alerts if a["store"] == "tm-1"), key=lambda a: a["sku"])
    assert [a["sku"] for a in mine] == ["SKU-0", "SKU-1", "SKU-2", "SKU-3"]
    assert len({a["incident"] for a in mine}) == 1 and mine[0]["incident"]
    [other] = [a for a in alerts if a["store"] == "tm-2"]
    assert other["incident"] and other["incident"] != mine[0]["incident"]
    with api.service.sessions() as session:
        ranks = {r.sku: (r.root_rank, r.value) for r in session.scalars(select(AlertRow).where(AlertRow.store == "tm-1"))}
    by_risk = sorted(ranks, key=lambda s: ranks[s][0])
    assert [ranks[s][1] for s in by_risk] == sorted((ranks[s][1] for s in by_risk), reverse=True)  # riskiest first

    clock.advance(HOUR)  # an hour later a fifth SKU runs short: it joins the open incident
    upsert(api, _selling("tm-1", "SKU-4", now + HOUR, 28, final_stock=70, seed=9))
    api.service.notify()
    [late] = [a for a in api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"] if a["sku"] == "SKU-4"]
    assert late["incident"] == mine[0]["incident"]
