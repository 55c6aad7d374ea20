"""Inhibition: the root cause of an incident mutes its symptoms' notifications (state is kept),
and the message says which root did it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from shopsentinel.core.clock import ManualClock
from shopsentinel.store.state import OutboxRow


def _rule(rule_id: str, metric: str, below: float) -> dict[str, Any]:
    return {"id": rule_id, "name": {"zh": rule_id, "en": rule_id}, "severity": "critical",
            "when": {"metric": metric, "type": "threshold", "below": below}, "for": "1h"}


def test_traffic_crash_mutes_the_orders_drop_it_explains(api: Any, clock: ManualClock) -> None:
    api.put("/api/v1/rules", json={"rules": [_rule("traffic.crash", "uv", 50), _rule("orders.low", "orders", 5)]})
    # (uv, orders) per hour: in tm-1 uv crashes first and orders follow; in tm-2 only orders drop
    series = {"tm-1": [(500, 30), (20, 25), (10, 2), (8, 1)], "tm-2": [(500, 30), (480, 31), (490, 2), (500, 1)]}
    for hour in range(4):
        ts = f"{clock.now():%Y-%m-%dT%H:%M:%SZ}"
        points = [
            {"ts": ts, "platform": "tmall", "store": store, "metric": metric, "value": value}
            for store, values in series.items()
            for metric, value in zip(("uv", "orders"), values[hour], strict=True)
        ]
        assert api.post("/api/v1/points", json={"points": points}).json()["accepted"] == 4
        clock.advance(timedelta(hours=1))
        api.service.tick()
    firing = {(a["store"], a["rule"]): a for a in api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]}
    assert set(firing) == {("tm-1", "traffic.crash"), ("tm-1", "orders.low"), ("tm-2", "orders.low")}
    assert firing[("tm-1", "traffic.crash")]["incident"] == firing[("tm-1", "orders.low")]["incident"]
    with api.service.sessions() as session:
        entries = {(o.payload["alerts"][0]["store"], o.payload["alerts"][0]["rule"]): o for o in session.scalars(select(OutboxRow))}
    assert entries[("tm-1", "traffic.crash")].muted is False
    symptom = entries[("tm-1", "orders.low")]
    assert symptom.muted is True and "traffic.crash" in symptom.payload["muted_note"]
    assert entries[("tm-2", "orders.low")].muted is False  # no root cause in that store
