"""Escalation: steps fire after N minutes unacknowledged and stop on acknowledgement; weekly
on-call rotation per role; business hours delay the escalation clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shopsentinel.alerting.escalation import (
    BusinessHours,
    EscalationPolicy,
    EscalationStep,
    OnCallSchedule,
    due_steps,
    step_target,
)

T0 = datetime(2026, 11, 11, 2, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
POLICY = EscalationPolicy(name="store-ops", steps=[
    EscalationStep(after_minutes=0, role="ops_lead"),
    EscalationStep(after_minutes=15, role="cs_supervisor"),
    EscalationStep(after_minutes=45, role="director"),
])  # fmt: skip


def walk(policy: EscalationPolicy, fired: datetime, acked: datetime | None, minutes: int) -> list[tuple[int, int]]:
    """(minute, step index) of every page while ticking each minute."""
    paged, pages = 0, []
    for minute in range(minutes + 1):
        for due in due_steps(policy, fired, acked, fired + timedelta(minutes=minute), already_paged=paged):
            pages.append((minute, due.index))
            paged = due.index + 1
    return pages


def test_steps_fire_after_n_minutes_unacknowledged() -> None:
    assert walk(POLICY, T0, None, 120) == [(0, 0), (15, 1), (45, 2)]


def test_acknowledging_stops_escalation() -> None:
    assert walk(POLICY, T0, T0 + timedelta(minutes=10), 120) == [(0, 0)]
    assert walk(POLICY, T0, T0 + timedelta(minutes=20), 120) == [(0, 0), (15, 1)]


def test_late_tick_catches_up_on_every_overdue_step_once() -> None:
    due = due_steps(POLICY, T0, None, T0 + timedelta(hours=2), already_paged=1)
    assert [d.index for d in due] == [1, 2]
    assert due[1].due_at == T0 + timedelta(minutes=45)


def test_business_hours_delay_the_escalation_clock() -> None:
    hours = BusinessHours()  # Mon–Fri 09:00–18:00 Shanghai
    policy = POLICY.model_copy(update={"business_hours": hours})
    friday_night = datetime(2026, 11, 13, 21, tzinfo=ZoneInfo("Asia/Shanghai"))
    monday_nine = datetime(2026, 11, 16, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert due_steps(policy, friday_night, None, monday_nine - timedelta(minutes=1), already_paged=0) == []
    assert [d.index for d in due_steps(policy, friday_night, None, monday_nine + timedelta(minutes=15), already_paged=0)] == [0, 1]
    assert [d.index for d in due_steps(policy, T0, None, T0, already_paged=0)] == [0]  # inside hours: at once


def test_weekly_rotation_per_role() -> None:
    schedule = OnCallSchedule(role="ops_lead", members=["wang", "li", "zhao"], rotation_start=T0)
    duty = [schedule.on_duty(T0 + timedelta(days=7 * week, hours=1)) for week in range(4)]
    assert duty == ["wang", "li", "zhao", "wang"]
    assert schedule.on_duty(T0 + timedelta(days=6, hours=23)) == "wang"
    members = {"director": ["boss"], "cs_supervisor": ["sun", "zhou"]}
    assert step_target(POLICY.steps[0], [schedule], members, T0 + timedelta(days=8)) == ["li"]
    assert step_target(POLICY.steps[1], [schedule], members, T0) == ["sun", "zhou"]  # no schedule: everyone
    assert step_target(EscalationStep(after_minutes=0, user="ma"), [], members, T0) == ["ma"]


def test_invalid_policies_are_rejected() -> None:
    with pytest.raises(ValidationError):
        EscalationPolicy(name="x", steps=[EscalationStep(after_minutes=30, role="director"),
                                          EscalationStep(after_minutes=5, role="ops_lead")])
    with pytest.raises(ValidationError):
        EscalationStep(after_minutes=0, role="director", user="boss")
    with pytest.raises(ValidationError):
        BusinessHours(start=datetime(2026, 1, 1, 18).time(), end=datetime(2026, 1, 1, 9).time())
