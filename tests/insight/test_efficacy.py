"""Efficacy: precision per rule from feedback, recall with recorded misses, MTTA/MTTR, fatigue per
recipient, the weak-spot heatmap, pre-promotion patterns and backtested rule suggestions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from shopsentinel.detect.rules import RulePack
from shopsentinel.insight.efficacy import adjust_rule
from shopsentinel.store.state import CalendarRow, ChannelRow, NotificationAttemptRow
from tests.insight.conftest import START, add_alert

RULES = {"version": 1, "rules": [{"id": "orders.too_low", "name": {"zh": "订单过低", "en": "Orders too low"},
                                  "severity": "warning", "when": {"metric": "orders", "type": "threshold", "below": 5}}]}


def test_adjust_rule_tightens_and_loosens() -> None:
    rule = RulePack.model_validate(RULES).rules[0]
    tight, zh, _ = adjust_rule(rule, tighten=True)
    loose, _, en = adjust_rule(rule, tighten=False)
    assert tight.when.below == 4 and tight.for_ == 2 and "收紧" in zh  # type: ignore[union-attr]
    assert loose.when.below == 6.25 and loose.for_ == 1 and "loosen" in en  # type: ignore[union-attr]


def test_efficacy_report(api: Any, clock: Any) -> None:
    clock.set(START + timedelta(days=10))
    day = timedelta(days=1)
    for n in range(3):
        add_alert(api, alert_id=f"low-{n}", rule="orders.too_low", metric="orders", start=START + n * day,
                  incident=f"inc-low-{n}")
    add_alert(api, alert_id="gmv-1", rule="gmv.drop", metric="gmv", start=START + 4 * day, incident="inc-gmv")
    add_alert(api, alert_id="uv-1", rule="uv.drop", metric="uv", category="traffic", start=START + 8 * day)
    for alert_id, verdict in (("low-0", "false_alarm"), ("low-1", "false_alarm"), ("low-2", "valid"), ("gmv-1", "valid")):
        assert api.post(f"/api/v1/alerts/{alert_id}/feedback", json={"verdict": verdict}).status_code == 201
    clock.set(START + 4 * day + timedelta(minutes=12))
    assert api.post("/api/v1/alerts/gmv-1/ack").status_code == 200
    clock.set(START + 4 * day + timedelta(minutes=90))
    assert api.post("/api/v1/alerts/gmv-1/resolve", json={}).status_code == 200
    missed = api.post("/api/v1/efficacy/missed-incidents", json={
        "platform": "tmall", "store": "tm-1", "metric": "refunds", "category": "sales",
        "starts_at": (START + 2 * day).isoformat(), "note": "退款激增未报警"})
    assert missed.status_code == 201
    with api.service.sessions() as session:
        session.add(ChannelRow(name="ding-wang", kind="dingtalk", medium="im", receiver="wang", settings={},
                               created_by="admin", created_at=START))
        for minute in range(5):
            session.add(NotificationAttemptRow(outbox_id=1, channel="ding-wang", ts=START + day + timedelta(minutes=minute),
                                               outcome="sent"))
        session.add(CalendarRow(starts_at=START + 5 * day, ends_at=START + 6 * day, platform="tmall", store="",
                                name="双11", kind="promotion"))
        session.commit()
    clock.set(START + 10 * day)
    body = api.get("/api/v1/efficacy", params={"days": 10, "fatigue_limit": 3}).json()
    by_rule = body["precision"]["by_rule"]
    assert by_rule["orders.too_low"]["precision"] == round(1 / 3, 3) and by_rule["gmv.drop"]["precision"] == 1.0
    assert body["precision"]["overall"] == 0.5
    assert body["recall"] == {"caught": 3, "missed": 1, "recall": 0.75}  # two false alarms are not catches
    assert body["mtta_minutes"]["median"] == 12.0 and body["mttr_minutes"]["median"] == 90.0
    assert body["fatigue"]["recipients"]["wang"]["max_per_day"] == 5
    assert [w["recipient"] for w in body["fatigue"]["warnings"]] == ["wang"]
    top = body["heatmap"][0]
    assert (top["store"], top["category"], top["false_alarms"], top["misses"]) == ("tm-1", "sales", 2, 1)
    pre = body["patterns"]["before_promotions"]
    assert pre["alerts_before_promotions"] == 4 and pre["lift"] > 1


def test_suggestion_is_backtested_over_stored_points(api: Any, clock: Any) -> None:
    assert api.put("/api/v1/rules", json=RULES).status_code == 200
    rng = np.random.default_rng(4)
    values = np.where(rng.random(7 * 24) < 0.15, rng.integers(0, 5, 7 * 24), rng.integers(20, 40, 7 * 24))
    points = [{"ts": f"{START + timedelta(hours=h):%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": "tm-1",
               "metric": "orders", "value": int(v)} for h, v in enumerate(values)]
    assert api.post("/api/v1/points", json={"points": points}).status_code == 200
    clock.set(START + timedelta(days=7))
    for n in range(3):
        add_alert(api, alert_id=f"s-{n}", rule="orders.too_low", metric="orders", start=START + timedelta(days=n + 1))
        api.post(f"/api/v1/alerts/s-{n}/feedback", json={"verdict": "false_alarm"})
    items = api.get("/api/v1/efficacy/suggestions", params={"days": 7}).json()["items"]
    assert [(s["rule"], s["direction"]) for s in items] == [("orders.too_low", "tighten")]
    backtest = items[0]["backtest"]
    assert backtest["fired_before"] > backtest["fired_after"] and backtest["stores"] == 1
    assert items[0]["proposed"]["when"]["below"] == 4 and items[0]["proposed"]["for"] == 2
