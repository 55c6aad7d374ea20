"""Escalation: who is paged next when nobody acknowledges.

An :class:`EscalationPolicy` is a list of steps, each ``after_minutes`` from the moment the alert
fired (or from the next opening of business hours, when the policy only escalates in business
hours): step 0 pages the on-duty member of a role, later steps the supervisor, then the director.
An acknowledgement stops every step that was not due before it. :class:`OnCallSchedule` rotates a
role's members weekly (configurable) from a start date in a time zone.

>>> from datetime import UTC, datetime, timedelta
>>> policy = EscalationPolicy(name="store-ops", steps=[
...     EscalationStep(after_minutes=0, role="ops_lead"),
...     EscalationStep(after_minutes=15, role="cs_supervisor"),
...     EscalationStep(after_minutes=45, role="director")])
>>> t0 = datetime(2026, 11, 11, 2, tzinfo=UTC)
>>> [s.index for s in due_steps(policy, t0, None, t0 + timedelta(minutes=20), already_paged=0)]
[0, 1]
>>> due_steps(policy, t0, t0 + timedelta(minutes=5), t0 + timedelta(hours=1), already_paged=1)
[]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopsentinel.alerting.timeintervals import WEEKDAYS


class BusinessHours(BaseModel):
    """Working hours in a zone, e.g. Monday–Friday 09:00–18:00 Asia/Shanghai."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    weekdays: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: time = time(9)
    end: time = time(18)
    timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("business hours must end after they start")
        if any(d not in WEEKDAYS for d in self.weekdays):
            raise ValueError(f"weekdays must be among {', '.join(WEEKDAYS)}")
        return self

    def contains(self, when: datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.timezone))
        return WEEKDAYS[local.weekday()] in self.weekdays and self.start <= local.time() < self.end

    def next_opening(self, when: datetime) -> datetime:
        """``when`` itself inside business hours, else the next start of business hours."""
        if self.contains(when):
            return when
        zone = ZoneInfo(self.timezone)
        local = when.astimezone(zone)
        for days in range(8):
            day = (local + timedelta(days=days)).date()
            opening = datetime.combine(day, self.start, tzinfo=zone)
            if WEEKDAYS[day.weekday()] in self.weekdays and opening >= local:
                return opening.astimezone(when.tzinfo)
        raise ValueError("business hours have no working day")


class EscalationStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    after_minutes: int = Field(ge=0)
    role: str | None = None
    user: str | None = None

    @model_validator(mode="after")
    def _target(self) -> EscalationStep:
        if (self.role is None) == (self.user is None):
            raise ValueError("a step pages exactly one of role or user")
        return self


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    steps: list[EscalationStep] = Field(min_length=1)
    business_hours: BusinessHours | None = None

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[EscalationStep]) -> list[EscalationStep]:
        delays = [s.after_minutes for s in steps]
        if delays != sorted(delays):
            raise ValueError("steps must be in order of after_minutes")
        return steps


class OnCallSchedule(BaseModel):
    """Members of a role take turns: ``members[k]`` is on duty in rotation period ``k`` (mod n)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: str
    members: list[str] = Field(min_length=1)
    rotation_start: datetime
    rotation_days: int = Field(default=7, ge=1)
    timezone: str = "Asia/Shanghai"

    def on_duty(self, when: datetime) -> str:
        periods = (when - self.rotation_start) // timedelta(days=self.rotation_days)
        return self.members[periods % len(self.members)]


@dataclass(frozen=True, slots=True)
class StepDue:
    index: int
    step: EscalationStep
    due_at: datetime


def escalation_start(policy: EscalationPolicy, fired_at: datetime) -> datetime:
    return policy.business_hours.next_opening(fired_at) if policy.business_hours else fired_at


def due_steps(
    policy: EscalationPolicy, fired_at: datetime, acked_at: datetime | None, now: datetime, *, already_paged: int
) -> list[StepDue]:
    """Steps due at ``now`` that have not been paged yet (``already_paged`` counts the first
    steps done). A step due after the acknowledgement never fires."""
    start = escalation_start(policy, fired_at)
    due: list[StepDue] = []
    for index, step in enumerate(policy.steps):
        if index < already_paged:
            continue
        at = start + timedelta(minutes=step.after_minutes)
        if at > now or (acked_at is not None and acked_at <= at):
            break
        due.append(StepDue(index, step, at))
    return due


def step_target(step: EscalationStep, schedules: list[OnCallSchedule], members: dict[str, list[str]], now: datetime) -> list[str]:
    """Who a step pages: a user; the on-duty member of the role's schedule; else all its members."""
    if step.user is not None:
        return [step.user]
    for schedule in schedules:
        if schedule.role == step.role:
            return [schedule.on_duty(now)]
    return list(members.get(step.role or "", []))


__all__ = [
    "BusinessHours",
    "EscalationPolicy",
    "EscalationStep",
    "OnCallSchedule",
    "StepDue",
    "due_steps",
    "escalation_start",
    "step_target",
]
