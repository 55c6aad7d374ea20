"""Alert lifecycle through the API on a manual clock: one alert per episode (never one per
evaluated hour), resolution with hysteresis, history, outbox, silences, hand actions, and a
restart that loses nothing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
from sqlalchemy import func, select

from shopsentinel.core.clock import ManualClock
from shopsentinel.store.state import AlertRow, OutboxRow

SCHEMA = json.loads((Path(__file__).parents[1] / "fixtures" / "alert.schema.json").read_text(encoding="utf-8"))

RULES = {
    "version": 1,
    "rules": [{
        "id": "orders.too_low",
        "name": {"zh": "订单过低", "en": "Orders too low"},
        "severity": "critical",
        "when": {"metric": "orders", "type": "threshold", "below": 5},
        "for": "2h",
        "keep_firing_for": "2h",
    }],
}


def push_hours(api: Any, clock: ManualClock, values: list[float], *, store: str = "tm-1") -> None:
    """One orders point per hour starting at the clock's hour; the clock ends after the last."""
    for value in values:
        ts = clock.now()
        r = api.post("/api/v1/points", json={"points": [
            {"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": store, "metric": "orders", "value": value}]})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        clock.advance(timedelta(hours=1))
        api.service.tick()


def alert_count(api: Any) -> int:
    with api.service.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AlertRow)) or 0)


def test_episode_fires_once_and_resolves_with_hysteresis(api: Any, clock: ManualClock) -> None:
    assert api.put("/api/v1/rules", json=RULES).status_code == 200
    push_hours(api, clock, [20, 21, 19, 3, 2, 1, 2])  # below 5 from the 4th hour on
    items = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    assert [(i["rule"], i["store"], i["starts_at"]) for i in items] == [("orders.too_low", "tm-1", "2026-11-10T04:00:00Z")]
    push_hours(api, clock, [1, 2, 1])  # still low: re-evaluated every hour, still one alert
    assert alert_count(api) == 1
    push_hours(api, clock, [30])  # one good hour is not enough (keep_firing_for 2h)
    assert api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    push_hours(api, clock, [31, 29])
    resolved = api.get("/api/v1/alerts", params={"state": "resolved"}).json()["items"]
    assert len(resolved) == 1 and resolved[0]["ends_at"] == "2026-11-10T11:00:00Z"
    assert resolved[0]["ts"] == resolved[0]["ends_at"]  # contract: ts is when this state began
    detail = api.get(f"/api/v1/alerts/{resolved[0]['id']}").json()
    assert [h["event"] for h in detail["history"]] == ["firing", "resolved"]
    assert detail["series"] and detail["series"][0]["lower"] == 5.0
    assert any(p["value"] == 3.0 for p in detail["series"])
    with api.service.sessions() as session:
        keys = sorted(session.scalars(select(OutboxRow.key)).all())
        sent = session.scalars(select(OutboxRow.sent_at)).all()
    assert [k.split(":")[1] for k in keys] == ["firing", "resolved"]
    assert all(s is not None for s in sent)  # the default dispatcher took them


def test_silence_mutes_notification_not_state(api: Any, clock: ManualClock) -> None:
    api.put("/api/v1/rules", json=RULES)
    ends = clock.now() + timedelta(days=1)
    r = api.post("/api/v1/silences", json={
        "matchers": [{"name": "store", "value": "tm-.*", "regex": True}, {"name": "severity", "value": "critical"}],
        "ends_at": f"{ends:%Y-%m-%dT%H:%M:%SZ}", "comment": "大促压测"})
    assert r.status_code == 201 and r.json()["active"] is True
    bad = api.post("/api/v1/silences", json={"matchers": [{"name": "store", "value": "("}], "ends_at": f"{ends:%Y-%m-%dT%H:%M:%SZ}"})
    assert bad.status_code == 422
    push_hours(api, clock, [20, 3, 2, 1], store="tm-9")
    push_hours(api, clock, [1, 1, 1], store="other-1")  # not matched by the silence
    firing = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    low = sorted(i["store"] for i in firing if i["rule"] == "orders.too_low")
    assert low == ["other-1", "tm-9"]  # state is never muted
    with api.service.sessions() as session:
        muted = {(o.payload["alerts"][0]["store"], o.muted) for o in session.scalars(select(OutboxRow)).all()}
    assert muted == {("tm-9", True), ("other-1", False)}


def test_hand_actions_are_recorded_and_audited(api: Any, clock: ManualClock) -> None:
    api.put("/api/v1/rules", json=RULES)
    push_hours(api, clock, [20, 3, 2, 1])
    alert_id = api.get("/api/v1/alerts").json()["items"][0]["id"]
    assert api.post(f"/api/v1/alerts/{alert_id}/ack").status_code == 200
    assert api.post(f"/api/v1/alerts/{alert_id}/assign", json={"assignee": "wang.ops"}).status_code == 200
    assert api.post(f"/api/v1/alerts/{alert_id}/comment", json={"body": "补货中"}).status_code == 201
    assert api.post(f"/api/v1/alerts/{alert_id}/feedback", json={"verdict": "valid"}).status_code == 201
    assert api.post(f"/api/v1/alerts/{alert_id}/feedback", json={"verdict": "maybe"}).status_code == 422
    assert api.post(f"/api/v1/alerts/{alert_id}/resolve", json={"note": "fixed"}).status_code == 200
    assert api.post(f"/api/v1/alerts/{alert_id}/resolve", json={}).status_code == 409
    push_hours(api, clock, [1, 1])  # still low: the hand-resolved alert is not re-created
    assert alert_count(api) == 1
    detail = api.get(f"/api/v1/alerts/{alert_id}").json()
    assert detail["state"] == "resolved" and detail["resolved_by"] == "manual"
    assert (detail["acked_by"], detail["assignee"]) == ("admin", "wang.ops")
    assert [c["body"] for c in detail["comments"]] == ["补货中"]
    assert [f["verdict"] for f in detail["feedback"]] == ["valid"]
    actions = [a["action"] for a in api.get("/api/v1/audit").json()]
    for action in ("rules.replace", "store.register", "alert.ack", "alert.assign", "alert.comment", "alert.feedback", "alert.resolve"):
        assert action in actions
    hand = [a for a in api.get("/api/v1/audit").json() if a["action"].startswith(("alert.", "rules.", "store."))]
    assert {a["actor"] for a in hand} == {"admin"}
    assert api.get("/api/v1/alerts/nope").status_code == 404


def test_restart_keeps_open_alerts_and_pending_outbox(database_url: str, clock: ManualClock, api_factory: Any) -> None:
    class Down:
        def dispatch(self, notification: Any, *, muted: bool) -> None:
            raise ConnectionError("channel down")

    first = api_factory(database_url, clock)
    first.service.dispatcher = Down()
    first.put("/api/v1/rules", json=RULES)
    push_hours(first, clock, [20, 3, 2, 1])
    before = first.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    assert len(before) == 1
    first.service.close()

    second = api_factory(database_url, clock)  # same database, new process state
    with second.service.sessions() as session:
        pending = session.scalars(select(OutboxRow).where(OutboxRow.sent_at.is_(None))).all()
        assert [o.key.split(":")[1] for o in pending] == ["firing"]
        assert pending[0].attempts >= 1 and "channel down" in pending[0].last_error
    push_hours(second, clock, [2, 1])  # the same episode goes on: nothing new
    after = second.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    assert [a["id"] for a in after] == [a["id"] for a in before]
    assert alert_count(second) == 1
    with second.service.sessions() as session:
        outbox = session.scalars(select(OutboxRow)).all()
        assert [(o.key.split(":")[1], o.sent_at is not None) for o in outbox] == [("firing", True)]


def test_list_filters_and_contract_shape(api: Any, clock: ManualClock) -> None:
    api.put("/api/v1/rules", json=RULES)
    push_hours(api, clock, [20, 3, 2, 1], store="tm-a")
    push_hours(api, clock, [30, 31, 30], store="tm-a")  # resolves
    push_hours(api, clock, [20, 3, 2, 1], store="tm-b")
    items = api.get("/api/v1/alerts").json()["items"]
    for item in items:
        jsonschema.validate(item, SCHEMA)
    low = [i for i in items if i["rule"] == "orders.too_low"]
    assert sorted((i["store"], i["state"]) for i in low) == [("tm-a", "resolved"), ("tm-b", "firing")]
    assert {i["store"] for i in api.get("/api/v1/alerts", params={"store": "tm-b"}).json()["items"]} == {"tm-b"}
    assert api.get("/api/v1/alerts", params={"severity": "fatal"}).json()["items"] == []
    assert api.get("/api/v1/alerts", params={"platform": "jd"}).json()["items"] == []
    since = low[0]["starts_at"] if low[0]["store"] == "tm-b" else low[1]["starts_at"]
    recent = api.get("/api/v1/alerts", params={"since": since}).json()["items"]
    assert ("tm-a", "orders.too_low") not in {(i["store"], i["rule"]) for i in recent}  # ended before `since`
    assert ("tm-b", "orders.too_low") in {(i["store"], i["rule"]) for i in recent}
    everything = api.get("/api/v1/alerts", params={"since": "2026-11-01T00:00:00Z"}).json()["items"]
    assert len(everything) == len(items)
    assert api.get("/api/v1/alerts", params={"state": "paused"}).status_code == 422
    assert api.get("/api/v1/alerts", params={"since": "2026-11-10T00:00:00"}).status_code == 422


def test_a_condition_holding_less_than_its_for_is_pending_then_fires_and_notifies_only_then(api: Any, clock: ManualClock) -> None:
    rule = {"id": "traffic.slow_crash", "name": {"zh": "流量持续偏低", "en": "traffic low"}, "severity": "warning",
            "when": {"metric": "uv", "type": "threshold", "below": 50}, "for": "3h"}
    assert api.put("/api/v1/rules", json={"rules": [rule]}).status_code == 200

    def hour(uv: float) -> list[dict[str, Any]]:
        clock.advance(timedelta(hours=1))
        ts = clock.now() - timedelta(hours=1)
        api.post("/api/v1/points", json={"points": [
            {"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": "tm-p", "metric": "uv", "value": uv}]})
        api.service.tick()
        return [(a["state"], a["starts_at"]) for a in api.get("/api/v1/alerts", params={"store": "tm-p"}).json()["items"]]

    hour(500)
    assert hour(20) == [("pending", f"{clock.now() - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}")]
    since = clock.now() - timedelta(hours=1)
    assert hour(10) == [("pending", f"{since:%Y-%m-%dT%H:%M:%SZ}")]  # still the same pending series
    assert api.get("/api/v1/notifications").json()["items"] == [] and api.get("/api/v1/outbox").json()["items"] == []
    fired = hour(8)
    assert [s for s, _ in fired] == ["firing"]  # the pending row gave way to the alert
    assert len(api.get("/api/v1/outbox").json()["items"]) == 1
    for uv in (600, 610, 620):
        hour(uv)
    assert "pending" in [s for s, _ in hour(20)]  # holding again for an hour: pending once more …
    assert "pending" not in [s for s, _ in hour(700)]  # … and gone when it stops, without ever paging
    assert len(api.get("/api/v1/outbox").json()["items"]) == 2  # the one firing and its resolution
