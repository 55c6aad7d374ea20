"""The on-call schedule (值班表): who is on duty for a functional role (运营负责人, 客服主管 …).

One schedule per role: a rotation of ``members`` every ``rotation_days`` days from ``rotation_start``
(a moment read in ``timezone``, Beijing time by default, stored UTC), and explicit ``shifts`` that win
over the rotation while they last. The role names themselves belong to the routing layer, so callers
pass the roles they accept; people must be in the user directory.

>>> from datetime import UTC, datetime, timedelta
>>> start = datetime(2026, 11, 2, 1, tzinfo=UTC)  # Monday 09:00 Beijing time
>>> spec = OnCallSpec("ops_lead", ["alice", "bob"], start, 7,
...                   shifts=[Shift("carol", start + timedelta(days=9), start + timedelta(days=10))])
>>> [spec.on_duty(start + timedelta(days=d)) for d in (0, 6, 7, 9, 14)]
['alice', 'alice', 'bob', 'carol', 'alice']
>>> spec.on_duty(start - timedelta(days=1)) is None
True
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.core.errors import InputError
from shopsentinel.store.state import OnCallRow, UserRow

DEFAULT_ZONE = "Asia/Shanghai"
MAX_SHIFTS = 500


def _aware(value: datetime) -> datetime:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class Shift:
    """An explicit shift: ``user`` is on duty from ``starts_at`` until (not including) ``ends_at``."""

    user: str
    starts_at: datetime
    ends_at: datetime

    def covers(self, when: datetime) -> bool:
        return _aware(self.starts_at) <= _aware(when) < _aware(self.ends_at)

    def as_json(self) -> dict[str, str]:
        return {"user": self.user, "starts_at": _aware(self.starts_at).isoformat(),
                "ends_at": _aware(self.ends_at).isoformat()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Shift:
        return cls(str(raw["user"]), _aware(datetime.fromisoformat(str(raw["starts_at"]))),
                   _aware(datetime.fromisoformat(str(raw["ends_at"]))))


@dataclass(frozen=True)
class OnCallSpec:
    """One role's schedule (see the module docstring)."""

    role: str
    members: list[str]
    rotation_start: datetime
    rotation_days: int = 7
    timezone: str = DEFAULT_ZONE
    shifts: list[Shift] = field(default_factory=list)

    def shift_at(self, when: datetime) -> Shift | None:
        return next((s for s in self.shifts if s.covers(when)), None)

    def on_duty(self, when: datetime) -> str | None:
        """The shift covering ``when``, else the rotation's member of that period, else None
        (no shift and no rotation yet)."""
        shift = self.shift_at(when)
        if shift is not None:
            return shift.user
        start = _aware(self.rotation_start)
        if not self.members or _aware(when) < start:
            return None
        periods = (_aware(when) - start) // timedelta(days=self.rotation_days)
        return self.members[periods % len(self.members)]

    def next_change(self, when: datetime) -> datetime | None:
        """When the person on duty may next change (end of the shift or rotation period)."""
        shift = self.shift_at(when)
        candidates = [_aware(s.starts_at) for s in self.shifts if _aware(s.starts_at) > _aware(when)]
        if shift is not None:
            candidates.append(_aware(shift.ends_at))
        elif self.members:
            start, period = _aware(self.rotation_start), timedelta(days=self.rotation_days)
            if _aware(when) < start:
                candidates.append(start)
            else:
                candidates.append(start + ((_aware(when) - start) // period + 1) * period)
        return min(candidates) if candidates else None


def validate(spec: OnCallSpec, *, roles: Collection[str], users: Collection[str]) -> None:
    """Unknown role, unknown people, bad zone, empty or inverted shifts: :class:`InputError`
    naming the field, Chinese first."""
    if spec.role not in roles:
        raise InputError(f"role: 未知角色 {spec.role!r}，可选：{', '.join(roles)} / unknown role; known: {', '.join(roles)}",
                         field="role")
    unknown = sorted({m for m in spec.members if m not in users} | {s.user for s in spec.shifts if s.user not in users})
    if unknown:
        raise InputError(f"members: 用户不存在：{', '.join(unknown)} / no such user: {', '.join(unknown)}", field="members")
    if not spec.members and not spec.shifts:
        raise InputError("members: 至少需要一位轮值人员或一个班次 / at least one member or one shift", field="members")
    if len(set(spec.members)) != len(spec.members):
        raise InputError("members: 轮值人员重复 / a member is listed twice", field="members")
    if not 1 <= spec.rotation_days <= 366:
        raise InputError("rotation_days: 轮换周期应为 1–366 天 / the rotation is 1–366 days", field="rotation_days")
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"timezone: 未知时区 {spec.timezone!r} / unknown time zone", field="timezone") from None
    if len(spec.shifts) > MAX_SHIFTS:
        raise InputError(f"shifts: 最多 {MAX_SHIFTS} 个班次 / at most {MAX_SHIFTS} shifts", field="shifts")
    for i, shift in enumerate(spec.shifts, 1):
        if _aware(shift.ends_at) <= _aware(shift.starts_at):
            raise InputError(f"shifts[{i}]: 结束时间须晚于开始时间 / a shift must end after it starts", field="shifts")


def _spec(row: OnCallRow) -> OnCallSpec:
    return OnCallSpec(row.role, [str(m) for m in row.members or []], _aware(row.rotation_start), row.rotation_days,
                      row.timezone, [Shift.from_json(s) for s in row.shifts or []])


def list_schedules(session: Session) -> list[OnCallSpec]:
    return [_spec(r) for r in session.scalars(select(OnCallRow).order_by(OnCallRow.role)).all()]


def get_schedule(session: Session, role: str) -> OnCallSpec | None:
    row = session.scalars(select(OnCallRow).where(OnCallRow.role == role)).first()
    return _spec(row) if row is not None else None


def known_users(session: Session) -> set[str]:
    return set(session.scalars(select(UserRow.username)).all())


def put_schedule(session: Session, spec: OnCallSpec, *, roles: Collection[str], actor: str, now: datetime) -> OnCallSpec:
    """Create or replace the schedule of ``spec.role`` (validated first); the caller commits."""
    validate(spec, roles=roles, users=known_users(session))
    row = session.scalars(select(OnCallRow).where(OnCallRow.role == spec.role)).first()
    shifts = [s.as_json() for s in sorted(spec.shifts, key=lambda s: _aware(s.starts_at))]
    if row is None:
        row = OnCallRow(role=spec.role, updated_by=actor, updated_at=now)
        session.add(row)
    row.members, row.rotation_start, row.rotation_days = list(spec.members), _aware(spec.rotation_start), spec.rotation_days
    row.timezone, row.shifts, row.updated_by, row.updated_at = spec.timezone, shifts, actor, now
    session.flush()
    return _spec(row)


def delete_schedule(session: Session, role: str) -> bool:
    row = session.scalars(select(OnCallRow).where(OnCallRow.role == role)).first()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def on_duty_now(session: Session, now: datetime) -> dict[str, str | None]:
    """Role → who is on duty at ``now`` (None when the schedule covers nobody then)."""
    return {s.role: s.on_duty(now) for s in list_schedules(session)}


__all__ = ["OnCallSpec", "Shift", "delete_schedule", "get_schedule", "known_users", "list_schedules", "on_duty_now",
           "put_schedule", "validate"]
