"""Recurring mute windows in Asia/Shanghai: nights across midnight, weekends, maintenance."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shopsentinel.alerting.routing import LabelMatcher
from shopsentinel.alerting.silences import Matcher, Silence
from shopsentinel.alerting.timeintervals import TimeInterval, TimeRange, nights, weekends

SH = ZoneInfo("Asia/Shanghai")
LABELS = {"platform": "tmall", "store": "tm-1", "severity": "warning"}


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai local time in November 2026 (the 13th is a Friday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def test_night_window_crosses_midnight() -> None:
    window = nights()
    assert window.mutes(LABELS, sh(12, 22, 0))
    assert window.mutes(LABELS, sh(12, 23, 59))
    assert window.mutes(LABELS, sh(13, 0, 30))
    assert window.mutes(LABELS, sh(13, 7, 59))
    assert not window.mutes(LABELS, sh(13, 8, 0))  # end is exclusive
    assert not window.mutes(LABELS, sh(12, 21, 59))
    assert not window.mutes(LABELS, sh(12, 14, 0))


def test_window_is_judged_in_its_zone_not_utc() -> None:
    # 15:00 UTC is 23:00 in Shanghai; 23:00 UTC is 07:00 the next morning there
    assert nights().mutes(LABELS, datetime(2026, 11, 12, 15, tzinfo=ZoneInfo("UTC")))
    assert not nights(timezone="Europe/London").mutes(LABELS, datetime(2026, 11, 12, 15, tzinfo=ZoneInfo("UTC")))


def test_weekends_in_shanghai() -> None:
    window = weekends()
    assert not window.mutes(LABELS, sh(13, 23, 59))  # Friday night
    assert window.mutes(LABELS, sh(14, 0, 0))  # Saturday starts
    assert window.mutes(LABELS, sh(15, 23, 59))  # Sunday
    assert not window.mutes(LABELS, sh(16, 0, 0))  # Monday
    # Friday 16:30 UTC is already Saturday 00:30 in Shanghai
    assert window.mutes(LABELS, datetime(2026, 11, 13, 16, 30, tzinfo=ZoneInfo("UTC")))


def test_weeknight_across_midnight_belongs_to_the_day_it_opened() -> None:
    weeknights = TimeInterval(name="weeknights", weekdays=["mon", "tue", "wed", "thu", "fri"],
                              times=[TimeRange(start=time(22), end=time(8))])
    assert weeknights.mutes(LABELS, sh(14, 3))  # Saturday 03:00 is Friday's night
    assert not weeknights.mutes(LABELS, sh(14, 23))  # Saturday night is not a weeknight
    assert not weeknights.mutes(LABELS, sh(16, 3))  # Monday 03:00 is Sunday's night
    assert weeknights.mutes(LABELS, sh(16, 23))


def test_maintenance_window_with_matchers_and_dates() -> None:
    maintenance = TimeInterval(
        name="jd-maintenance", weekdays=["tue"], times=[TimeRange(start=time(2), end=time(4))],
        from_date=datetime(2026, 11, 1).date(), until_date=datetime(2026, 11, 30).date(),
        matchers=[LabelMatcher(name="platform", value="jd")],
    )
    jd = {**LABELS, "platform": "jd"}
    assert maintenance.mutes(jd, sh(17, 3))  # Tuesday 03:00
    assert not maintenance.mutes(LABELS, sh(17, 3))  # other platform
    assert not maintenance.mutes(jd, sh(17, 4))
    assert not maintenance.mutes(jd, datetime(2026, 12, 1, 3, tzinfo=SH))  # after until_date


def test_one_interface_for_every_kind_of_muting() -> None:
    silence = Silence([Matcher(name="store", value="tm-1")], sh(12, 0), sh(20, 0))
    muters = [silence, nights()]
    assert [m.mutes(LABELS, sh(12, 23)) for m in muters] == [True, True]
    assert [m.mutes(LABELS, sh(21, 23)) for m in muters] == [False, True]


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValidationError):
        TimeInterval(name="x", timezone="Mars/Base")
    with pytest.raises(ValidationError):
        TimeInterval(name="x", weekdays=["someday"])
