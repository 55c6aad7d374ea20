"""Recurring mute windows (nights, weekends, maintenance) in a given time zone.

A :class:`TimeInterval` is a :class:`~shopsentinel.alerting.mute.Muter`: it answers
``mutes(alert, now) -> bool`` (an alert row or its labels) like a
:class:`~shopsentinel.alerting.silences.Silence`, so one mute stage asks every muting source the
same question. Times are local to ``timezone``; a range whose end is not after its start crosses
midnight, and the weekday it is checked against is the day the window *opened*: "weeknights
Mon–Fri 22:00–08:00" mutes Saturday 03:00 (Friday's night) but not Monday 03:00 (Sunday's).

>>> from datetime import UTC, datetime
>>> nights = TimeInterval(name="nights", times=[TimeRange(start="22:00", end="08:00")], timezone="Asia/Shanghai")
>>> nights.mutes({"store": "tm-1"}, datetime(2026, 11, 10, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
True
>>> nights.mutes({"store": "tm-1"}, datetime(2026, 11, 10, 4, 0, tzinfo=UTC))    # 12:00 in Shanghai
False
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shopsentinel.alerting.labels import labels_of
from shopsentinel.alerting.routing import LabelMatcher
from shopsentinel.store.state import AlertRow

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TimeRange(BaseModel):
    """``start``–``end`` local time, end exclusive; ``end <= start`` crosses midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


class TimeInterval(BaseModel):
    """A named recurring window: on ``weekdays`` (empty: every day), during ``times`` (empty:
    all day), optionally only between ``from_date`` and ``until_date`` (local dates, inclusive),
    muting the alerts its ``matchers`` select (empty: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    weekdays: list[str] = Field(default_factory=list)
    times: list[TimeRange] = Field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    from_date: date | None = None
    until_date: date | None = None
    matchers: list[LabelMatcher] = Field(default_factory=list)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, days: list[str]) -> list[str]:
        bad = [d for d in days if d.lower() not in WEEKDAYS]
        if bad:
            raise ValueError(f"weekdays must be among {', '.join(WEEKDAYS)}")
        return [d.lower() for d in days]

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return name

    def _day_ok(self, day: date) -> bool:
        if self.weekdays and WEEKDAYS[day.weekday()] not in self.weekdays:
            return False
        if self.from_date is not None and day < self.from_date:
            return False
        return self.until_date is None or day <= self.until_date

    def active(self, now: datetime) -> bool:
        """Whether the window is open at ``now`` (timezone-aware)."""
        local = now.astimezone(ZoneInfo(self.timezone))
        today, clock_time = local.date(), local.time().replace(tzinfo=None)
        if not self.times:
            return self._day_ok(today)
        for window in self.times:
            if not window.crosses_midnight:
                if window.start <= clock_time < window.end and self._day_ok(today):
                    return True
            elif clock_time >= window.start:
                if self._day_ok(today):
                    return True
            elif clock_time < window.end and self._day_ok(today - timedelta(days=1)):
                return True
        return False

    def mutes(self, alert: AlertRow | Mapping[str, str], now: datetime) -> bool:
        if not self.active(now):
            return False
        labels = labels_of(alert)
        return all(m.matches(labels) for m in self.matchers)

    def reason(self, alert: AlertRow | Mapping[str, str], now: datetime) -> str | None:
        return f"静默时段 {self.name} / muted by time interval {self.name}" if self.mutes(alert, now) else None


def nights(timezone: str = "Asia/Shanghai", start: str = "22:00", end: str = "08:00") -> TimeInterval:
    return TimeInterval(name="nights", times=[TimeRange.model_validate({"start": start, "end": end})], timezone=timezone)


def weekends(timezone: str = "Asia/Shanghai") -> TimeInterval:
    return TimeInterval(name="weekends", weekdays=["sat", "sun"], timezone=timezone)


__all__ = ["WEEKDAYS", "TimeInterval", "TimeRange", "nights", "weekends"]
