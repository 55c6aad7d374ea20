"""Grouping timers with an injected clock: group_wait, group_interval, repeat_interval; one
message per store group, root cause first, inhibited symptoms counted; one firing and one recovery
message per problem (incident), re-sent only on the repeat interval or a severity rise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shopsentinel.alerting.grouping import GroupedAlert, GroupState, flush_due
from shopsentinel.alerting.routing import RouteMatch

T0 = datetime(2026, 11, 11, 2, tzinfo=UTC)
ROUTE = RouteMatch("ops", ("platform", "store"), timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))


def alert(alert_id: str, store: str = "tm-1", *, state: str = "firing", rank: int = 0, rule: str = "traffic.crash",
          severity: str = "critical", muted_by: str | None = None, at: datetime = T0,
          incident: str = "inc-1") -> GroupedAlert:
    labels = {"platform": "tmall", "store": store, "rule": rule, "severity": severity}
    return GroupedAlert(alert_id, labels, state, at, rank, incident, {"id": alert_id, "rule": rule}, muted_by, title=rule)


def run(alerts: list[GroupedAlert], states: dict[str, GroupState], at: datetime) -> tuple[list[str], dict[str, GroupState]]:
    messages, states = flush_due(ROUTE, alerts, states, at)
    return [",".join(a.id for a in m.alerts) for m in messages], states


def test_group_wait_collects_alerts_of_one_store_into_one_message() -> None:
    sent, states = run([alert("uv")], {}, T0)
    assert sent == []
    sent, states = run([alert("uv"), alert("gmv", rank=1, rule="gmv.drop")], states, T0 + timedelta(seconds=29))
    assert sent == []
    sent, states = run([alert("gmv", rank=1, rule="gmv.drop"), alert("uv")], states, T0 + timedelta(seconds=30))
    assert sent == ["uv,gmv"]  # one message, the root cause first


def test_stores_are_separate_groups() -> None:
    alerts = [alert("a", "tm-1"), alert("b", "tm-2")]
    _, states = run(alerts, {}, T0)
    sent, _ = run(alerts, states, T0 + timedelta(seconds=30))
    assert sorted(sent) == ["a", "b"]


def test_group_interval_batches_new_problems_and_quiet_groups_stay_quiet() -> None:
    _, states = run([alert("uv")], {}, T0)
    sent, states = run([alert("uv")], states, T0 + timedelta(seconds=30))
    assert sent == ["uv"]
    later = [alert("uv"), alert("stock", rule="stock.sold_out", incident="inc-2"),
             alert("price", rule="price.below_floor", incident="inc-3")]
    sent, states = run(later, states, T0 + timedelta(minutes=3))
    assert sent == []  # group_interval (5 min) not over since the first message
    sent, states = run(later, states, T0 + timedelta(seconds=30, minutes=5))
    assert sent == ["price,stock"]  # the two new problems in one message, without the one already told
    sent, states = run(later, states, T0 + timedelta(seconds=30, minutes=10))
    assert sent == []  # nothing new: no message until repeat_interval


def test_an_alert_joining_a_told_problem_sends_nothing_and_recovers_with_it() -> None:
    _, states = run([alert("uv")], {}, T0)
    sent, states = run([alert("uv")], states, T0 + timedelta(seconds=30))
    assert sent == ["uv"]
    joined = [alert("uv"), alert("orders", rank=1, rule="orders.drop")]  # same incident, no worse
    for minutes in (6, 11, 16):
        sent, states = run(joined, states, T0 + timedelta(minutes=minutes))
        assert sent == []
    half = [alert("uv", state="resolved"), alert("orders", rank=1, rule="orders.drop")]
    sent, states = run(half, states, T0 + timedelta(minutes=21))
    assert sent == []  # the problem is not over while one of its alerts still fires
    over = [alert("uv", state="resolved"), alert("orders", rank=1, rule="orders.drop", state="resolved")]
    messages, states = flush_due(ROUTE, over, states, T0 + timedelta(minutes=26))
    assert [[(a.id, a.state) for a in m.alerts] for m in messages] == [[("uv", "resolved"), ("orders", "resolved")]]
    assert states == {}


def test_a_severity_rise_inside_a_told_problem_is_sent_again() -> None:
    _, states = run([alert("uv", severity="warning")], {}, T0)
    _, states = run([alert("uv", severity="warning")], states, T0 + timedelta(seconds=30))
    same = [alert("uv", severity="warning"), alert("conv", rule="conversion.drop", severity="warning")]
    sent, states = run(same, states, T0 + timedelta(minutes=6))
    assert sent == []
    worse = [*same, alert("orders", rank=1, rule="orders.drop", severity="critical")]
    messages, states = flush_due(ROUTE, worse, states, T0 + timedelta(minutes=11))
    assert [(m.severity, [a.id for a in m.alerts]) for m in messages] == [
        ("critical", ["conv", "uv", "orders"])]  # the whole problem, root causes (rank 0) first
    assert flush_due(ROUTE, worse, states, T0 + timedelta(minutes=16))[0] == []


def test_one_problem_recovering_does_not_announce_another_still_firing() -> None:
    both = [alert("uv"), alert("stock", rule="stock.sold_out", incident="inc-2")]
    _, states = run(both, {}, T0)
    sent, states = run(both, states, T0 + timedelta(seconds=30))
    assert sent == ["stock,uv"]
    messages, states = flush_due(ROUTE, [alert("uv"), alert("stock", rule="stock.sold_out", incident="inc-2",
                                                            state="resolved")], states, T0 + timedelta(minutes=6))
    assert [[(a.id, a.state) for a in m.alerts] for m in messages] == [[("stock", "resolved")]]
    assert list(states)  # uv still fires: the group goes on


def test_repeat_interval_resends_a_still_firing_group() -> None:
    _, states = run([alert("uv")], {}, T0)
    _, states = run([alert("uv")], states, T0 + timedelta(seconds=30))
    messages, _ = flush_due(ROUTE, [alert("uv")], states, T0 + timedelta(hours=3, minutes=59))
    assert messages == []
    # the group is checked every group_interval, so the repeat goes out at the first check past 4 h
    at = T0
    for _ in range(60):
        at += timedelta(minutes=5)
        messages, states = flush_due(ROUTE, [alert("uv")], states, at)
        if messages:
            break
    assert [(m.repeat, m.title) for m in messages] == [(True, "【仍未恢复】traffic.crash")]
    assert timedelta(hours=4) <= at - (T0 + timedelta(seconds=30)) < timedelta(hours=4, minutes=5)


def test_resolution_is_announced_once_and_the_group_ends() -> None:
    _, states = run([alert("uv")], {}, T0)
    _, states = run([alert("uv")], states, T0 + timedelta(seconds=30))
    messages, states = flush_due(ROUTE, [alert("uv", state="resolved")], states, T0 + timedelta(minutes=6))
    assert [[a.state for a in m.alerts] for m in messages] == [["resolved"]]
    assert states == {}
    assert flush_due(ROUTE, [alert("uv", state="resolved")], states, T0 + timedelta(minutes=20))[0] == []


def test_inhibited_symptoms_are_counted_not_listed_and_never_start_a_group() -> None:
    symptom = alert("orders", rank=1, rule="orders.drop", muted_by="traffic.crash")
    assert run([symptom], {}, T0) == ([], {})
    _, states = run([alert("uv"), symptom], {}, T0)
    messages, _ = flush_due(ROUTE, [alert("uv"), symptom], states, T0 + timedelta(seconds=30))
    [message] = messages
    assert [a.id for a in message.alerts] == ["uv"] and message.muted_count == 1
    assert message.muted_note == "已抑制 1 条由 traffic.crash 引起的告警（orders.drop）"


def test_group_state_survives_a_json_round_trip() -> None:
    _, states = run([alert("uv")], {}, T0)
    _, states = run([alert("uv")], states, T0 + timedelta(seconds=30))
    restored = {k: GroupState.from_json(v.to_json()) for k, v in states.items()}
    assert restored == states
    assert run([alert("uv")], restored, T0 + timedelta(minutes=6))[0] == []
