"""A small fleet for the alert-center tests, fed through the real ingest API: two weeks of hourly
traffic, orders and GMV with a daily cycle for three stores, then a traffic crash in the last hours
of ``tm-1`` (and an orders drop it causes), evaluated by a real scheduler tick."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from shopsentinel.core.clock import ManualClock

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 14
NOW = START + timedelta(days=DAYS)
STORES = (("tmall", "tm-1"), ("jd", "jd-1"), ("pdd", "pdd-1"))
CRASH_HOURS = 5


def rule(rule_id: str, metric: str, below: float, name: str, severity: str = "critical") -> dict[str, Any]:
    return {"id": rule_id, "name": {"zh": name, "en": rule_id}, "severity": severity, "category": "traffic",
            "when": {"metric": metric, "type": "threshold", "below": below}, "for": "1h"}


RULES = {"rules": [rule("traffic.crash", "uv", 50, "流量骤降"), rule("orders.low", "orders", 2, "订单骤降", "warning")]}


def uv_at(ts: datetime) -> float:
    local = (ts.hour + 8) % 24  # Asia/Shanghai
    return round(260 + 180 * math.sin((local - 9) / 24 * 2 * math.pi))  # ~80 at night, ~440 in the afternoon


def points(crash_store: str = "tm-1") -> list[dict[str, Any]]:
    out = []
    for h in range(DAYS * 24):
        ts = START + timedelta(hours=h)
        crashed = h >= DAYS * 24 - CRASH_HOURS
        for platform, store in STORES:
            uv = uv_at(ts)
            if crashed and store == crash_store:
                uv = 8 + h % 3
            orders = max(0, round(uv * 0.04))
            stamp = f"{ts:%Y-%m-%dT%H:%M:%SZ}"
            for metric, value in (("uv", uv), ("orders", orders), ("paid_orders", orders), ("gmv", orders * 128.0)):
                out.append({"ts": stamp, "platform": platform, "store": store, "metric": metric, "value": value})
    return out


def seed(api: Any, clock: ManualClock) -> None:
    """Rules in, points in (one request per store), one evaluation tick at ``NOW``."""
    assert clock.now() == NOW
    response = api.put("/api/v1/rules", json=RULES)
    assert response.status_code == 200, response.text
    batch = points()
    for _platform, store in STORES:
        mine = [p for p in batch if p["store"] == store]
        response = api.post("/api/v1/points", json={"points": mine})
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == len(mine)
    api.service.tick()
