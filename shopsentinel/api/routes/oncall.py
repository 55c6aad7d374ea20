"""The on-call schedule (值班表): ``GET /api/v1/oncall`` (every role's schedule and who is on duty
now) and ``PUT /api/v1/oncall`` (replace the schedules of the roles given; ``members: []`` and no
shifts removes a role's schedule). Times are UTC ISO-8601; people are usernames of the directory."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from shopsentinel.alerting.routing import ROLES
from shopsentinel.api.deps import DbSession, Editor, Now, Reader
from shopsentinel.api.provisioned import refuse_if_provisioned
from shopsentinel.core.errors import InputError
from shopsentinel.store import oncall, provisioned
from shopsentinel.store.repository import audit

router = APIRouter(prefix="/api/v1/oncall", tags=["routing"])


class ShiftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str
    starts_at: datetime
    ends_at: datetime


class ScheduleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description=f"one of {', '.join(ROLES)}")
    members: list[str] = Field(default_factory=list, description="rotation order")
    rotation_start: datetime | None = Field(default=None, description="when members[0]'s first period starts (UTC)")
    rotation_days: int = Field(default=7, ge=1, le=366)
    timezone: str = "Asia/Shanghai"
    shifts: list[ShiftBody] = Field(default_factory=list, description="explicit shifts; they win over the rotation")


class SchedulePublic(ScheduleBody):
    on_duty: str | None = Field(description="who is on duty now")
    next_change: datetime | None
    provisioned_from: str | None = Field(default=None, description="the provisioning file that manages it (read-only)")


class OnCallBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedules: list[ScheduleBody]


class OnCallPublic(BaseModel):
    now: datetime
    schedules: list[SchedulePublic]


def _public(session: DbSession, now: datetime) -> OnCallPublic:
    managed = provisioned.sources(session, "oncall")
    items = [SchedulePublic(role=s.role, members=s.members, rotation_start=s.rotation_start, rotation_days=s.rotation_days,
                            timezone=s.timezone, shifts=[ShiftBody(**x.as_json()) for x in s.shifts],  # type: ignore[arg-type]
                            on_duty=s.on_duty(now), next_change=s.next_change(now), provisioned_from=managed.get(s.role))
             for s in oncall.list_schedules(session)]
    return OnCallPublic(now=now, schedules=items)


@router.get("", response_model=OnCallPublic)
def get_oncall(session: DbSession, _reader: Reader, now: Now) -> OnCallPublic:
    return _public(session, now)


@router.put("", response_model=OnCallPublic)
def put_oncall(body: OnCallBody, session: DbSession, principal: Editor, now: Now) -> OnCallPublic:
    for item in body.schedules:
        refuse_if_provisioned(session, "oncall", item.role)
    for item in body.schedules:
        if not item.members and not item.shifts:
            oncall.delete_schedule(session, item.role)
            audit(session, principal.user, "oncall.delete", item.role, now)
            continue
        spec = oncall.OnCallSpec(item.role, list(item.members), item.rotation_start or now, item.rotation_days,
                                 item.timezone, [oncall.Shift(s.user, s.starts_at, s.ends_at) for s in item.shifts])
        try:
            oncall.put_schedule(session, spec, roles=ROLES, actor=principal.user, now=now)
        except InputError as exc:
            session.rollback()
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, exc.reason) from None
        audit(session, principal.user, "oncall.put", item.role, now, members=len(spec.members), shifts=len(spec.shifts))
    session.commit()
    return _public(session, now)
