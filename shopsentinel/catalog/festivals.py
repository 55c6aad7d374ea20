"""A calendar that knows the year: Chinese statutory holidays (with their 调休 make-up working days
listed), overseas public holidays and the platform festivals, as calendar events to seed.

Chinese holidays come from ``chinese-calendar`` (the State Council's published arrangement, 调休
included) while it has the year, else from ``holidays`` (the statutory days by rule, without 调休).
Overseas holidays come from ``holidays`` for the countries asked, scoped to the platforms that sell
there. Platform festivals (双11, 618, 双12, 年货节, Black Friday / Cyber Monday, Prime Day) are the
days the platforms have held them; Prime Day and 年货节 move every year, so their names say to check
the platform's announcement. Events are whole local days, returned in UTC; seeding is explicit (an
API call or the calendar page's button), and every seeded event can be edited or deleted like any
other.

>>> events = seed_events(2026, countries=("US",))
>>> sorted({(e.start.isoformat(), e.platform) for e in events if e.name == "双11"})[:2]
[('2026-11-10T16:00:00+00:00', 'douyin'), ('2026-11-10T16:00:00+00:00', 'jd')]
>>> [e.name for e in events if e.kind == "holiday" and not e.platform and e.name.startswith("国庆")]
['国庆节（10月10日调休上班）']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays

from shopsentinel.core.types import CalendarEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
CN_PLATFORMS = ("tmall", "taobao", "jd", "douyin", "pdd", "kuaishou")
# Where an overseas country's holidays matter by default, and in which zone its days are counted.
COUNTRY_PLATFORMS: dict[str, tuple[tuple[str, ...], str]] = {
    "US": (("amazon", "shopify"), "America/New_York"),
    "GB": (("amazon", "shopify"), "Europe/London"),
    "DE": (("amazon", "shopify"), "Europe/Berlin"),
    "JP": (("amazon", "shopify"), "Asia/Tokyo"),
    "AU": (("amazon", "shopify"), "Australia/Sydney"),
}
CN_NAMES = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节", "National Day": "国庆节", "Mid-autumn Festival": "中秋节",
}


def _day_span(day: dt.date, days: int, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), zone)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=days)).astimezone(dt.UTC)


def _runs(days: Iterable[tuple[dt.date, str]]) -> list[tuple[dt.date, int, str]]:
    """Consecutive days with the same name as (first day, length, name)."""
    runs: list[tuple[dt.date, int, str]] = []
    for day, name in sorted(days):
        if runs and runs[-1][2] == name and runs[-1][0] + dt.timedelta(days=runs[-1][1]) == day:
            first, length, _ = runs[-1]
            runs[-1] = (first, length + 1, name)
        else:
            runs.append((day, 1, name))
    return runs


def china_holidays(year: int) -> list[CalendarEvent]:
    """The statutory holidays (every platform of the company), each 调休 working day named in its
    holiday (``国庆节（9月20日、10月10日调休上班）``)."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    try:
        days = chinese_calendar.get_holidays(first, last, include_weekends=False)
        named = [(d, CN_NAMES.get(str(chinese_calendar.get_holiday_detail(d)[1]), str(chinese_calendar.get_holiday_detail(d)[1])))
                 for d in days]
        workdays = [d for d in chinese_calendar.get_workdays(first, last, include_weekends=True) if d.weekday() >= 5]
    except NotImplementedError:  # the published arrangement is not in chinese-calendar yet: statutory days by rule
        table = holidays.country_holidays("CN", years=year, language="zh_CN")
        named = [(d, str(name)) for d, name in table.items()]
        workdays = []
    runs = _runs(named)

    def distance(workday: dt.date, run: tuple[dt.date, int, str]) -> int:
        first, length, _ = run
        return min(abs((workday - first).days), abs((workday - (first + dt.timedelta(days=length - 1))).days))

    owner = {w: min(runs, key=lambda run: distance(w, run)) for w in workdays if runs}  # each 调休 day to its holiday
    events = []
    for run in runs:
        day, length, name = run
        nearby = sorted(w for w, r in owner.items() if r == run and distance(w, run) <= 14)
        note = f"（{'、'.join(f'{w.month}月{w.day}日' for w in nearby)}调休上班）" if nearby else ""
        start, end = _day_span(day, length, SHANGHAI)
        events.append(CalendarEvent(start, end, "", "", f"{name}{note}", "holiday"))
    return events


def overseas_holidays(year: int, countries: Sequence[str]) -> list[CalendarEvent]:
    """Public holidays of ``countries`` (ISO codes), for the platforms that sell there."""
    events = []
    for code in countries:
        platforms, zone = COUNTRY_PLATFORMS.get(code.upper(), (("amazon", "shopify"), "UTC"))
        table = holidays.country_holidays(code.upper(), years=year)
        for day, length, name in _runs((d, str(n)) for d, n in table.items()):
            start, end = _day_span(day, length, ZoneInfo(zone))
            events += [CalendarEvent(start, end, p, "", f"{name} ({code.upper()})", "holiday") for p in platforms]
    return events


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    day = dt.date(year, month, 1)
    day += dt.timedelta(days=(weekday - day.weekday()) % 7)
    return day + dt.timedelta(weeks=n - 1)


def _spring_festival(year: int) -> dt.date | None:
    table = holidays.country_holidays("CN", years=year)
    found = sorted(d for d, name in table.items() if "Spring Festival" in str(name) or "Chinese New Year" in str(name))
    return found[0] if found else None


def platform_festivals(year: int) -> list[CalendarEvent]:
    """The platforms' own festivals (promotions), in the zone of their market."""
    events: list[CalendarEvent] = []

    def add(platforms: Sequence[str], day: dt.date, days: int, name: str, zone: ZoneInfo = SHANGHAI) -> None:
        start, end = _day_span(day, days, zone)
        events.extend(CalendarEvent(start, end, p, "", name, "promotion") for p in platforms)

    add(CN_PLATFORMS, dt.date(year, 6, 18), 1, "618")
    add(CN_PLATFORMS, dt.date(year, 11, 11), 1, "双11")
    add(("tmall", "taobao"), dt.date(year, 12, 12), 1, "双12")
    festival = _spring_festival(year)
    if festival is not None:  # roughly the three weeks before 春节, closing as couriers stop
        add(CN_PLATFORMS, festival - dt.timedelta(days=26), 20, "年货节（日期以平台公告为准）")
    eastern = ZoneInfo("America/New_York")
    black_friday = _nth_weekday(year, 11, 3, 4) + dt.timedelta(days=1)  # the day after the 4th Thursday
    add(("amazon", "shopify"), black_friday, 1, "Black Friday", eastern)
    add(("amazon", "shopify"), black_friday + dt.timedelta(days=3), 1, "Cyber Monday", eastern)
    add(("amazon",), _nth_weekday(year, 7, 1, 2), 2, "Prime Day（日期以亚马逊公告为准）", eastern)
    return events


def seed_events(year: int, countries: Sequence[str] = ("US",)) -> list[CalendarEvent]:
    """Everything to seed for ``year``: Chinese holidays, overseas holidays, platform festivals."""
    return [*china_holidays(year), *overseas_holidays(year, countries), *platform_festivals(year)]


__all__ = ["CN_PLATFORMS", "COUNTRY_PLATFORMS", "china_holidays", "overseas_holidays", "platform_festivals", "seed_events"]
