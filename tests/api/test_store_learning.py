"""``GET /api/v1/stores/{platform}/{store}/learning``: each rule's learning state for the store, so the
alert center can say "学习期：还需 2 天数据" instead of a silent warm-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

POINT = {"ts": "2026-11-10T00:00:00Z", "platform": "tmall", "store": "tm-1", "metric": "orders", "value": 12, "sku": ""}


def _states(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["rule"]: r for r in body["rules"]}


def test_learning_state_follows_the_stores_history(api: Any, clock: Any) -> None:
    assert api.post("/api/v1/points", json={"points": [POINT]}).status_code == 200
    assert api.get("/api/v1/stores/tmall/nope/learning").status_code == 404

    clock.advance(timedelta(days=1))
    body = api.get("/api/v1/stores/tmall/tm-1/learning").json()
    rules = _states(body)
    assert body["state"] == "learning" and body["history_days"] == 1.0
    longest = max(r["days_left"] for r in body["rules"] if r["state"] == "learning")
    assert body["message"] == f"学习期：还需 {longest} 天数据" and body["days_left"] >= longest
    # Fixed thresholds judge from the first point; baseline rules start after 3 days.
    assert rules["payment.failure_rate_high"]["state"] == "ready"
    assert rules["traffic.uv_drop_vs_yesterday"]["state"] == "learning"
    assert rules["traffic.uv_drop_vs_yesterday"]["days_left"] == 2
    assert rules["traffic.uv_drop_vs_yesterday"]["message"].startswith("学习期：还需 2 天数据")

    clock.advance(timedelta(days=4))  # 5 days: the baseline rules judge, with wide bands
    rules = _states(api.get("/api/v1/stores/tmall/tm-1/learning").json())
    assert rules["traffic.uv_drop_vs_yesterday"]["state"] == "partial"
    assert rules["orders.decline"]["days_left"] == 9  # a full week of days and two weeks for the weekly check

    clock.advance(timedelta(days=5))  # 10 days: every rule judges, some still with wide bands
    body = api.get("/api/v1/stores/tmall/tm-1/learning").json()
    assert body["state"] == "partial" and body["message"].startswith("历史较短")

    clock.advance(timedelta(days=30))
    body = api.get("/api/v1/stores/tmall/tm-1/learning").json()
    assert body["state"] == "ready" and body["days_left"] == 0
    assert {r["state"] for r in body["rules"]} == {"ready"}
