"""Shared types and canonical vocabularies everyone imports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo


class Severity(StrEnum):
    """Alert levels of the seeds: 致命 / 严重 / 警告 / 提示."""

    FATAL = "fatal"
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2, "fatal": 3}[self.value]

    @property
    def zh(self) -> str:
        return {"fatal": "致命", "critical": "严重", "warning": "警告", "info": "提示"}[self.value]


class AlertKind(StrEnum):
    BUSINESS = "business"
    DATA = "data"
    EXTERNAL = "external"  # from another monitoring system (Alertmanager / Grafana webhook intake)


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


# The one list of platforms: name → (Chinese name, default store time zone or None = UTC).
# Everything else derives from it; the connector registry (sources/registry.py) has exactly these keys.
_PLATFORM_TABLE: dict[str, tuple[str, str | None]] = {
    "tmall": ("天猫", "Asia/Shanghai"),
    "taobao": ("淘宝", "Asia/Shanghai"),
    "jd": ("京东", "Asia/Shanghai"),
    "douyin": ("抖店", "Asia/Shanghai"),
    "pdd": ("拼多多", "Asia/Shanghai"),
    "kuaishou": ("快手小店", "Asia/Shanghai"),
    "amazon": ("亚马逊", None),
    "shopify": ("Shopify", None),
    "generic": ("通用接口", None),  # any HTTP/JSON aggregator API (R1.3)
}

PLATFORMS: tuple[str, ...] = tuple(_PLATFORM_TABLE)

PLATFORM_NAMES_ZH: dict[str, str] = {name: zh for name, (zh, _) in _PLATFORM_TABLE.items()}


@dataclass(frozen=True, slots=True)
class Point:
    """One canonical observation: ``(ts UTC, platform, store, sku or "", metric, value)``."""

    ts: datetime
    platform: str
    store: str
    metric: str
    value: float
    sku: str = ""


# Standard order states of R1.5.
ORDER_STATES: tuple[str, ...] = ("待付款", "待发货", "在途", "已完成", "已取消", "退款中", "已退款")


# The store and calendar vocabulary every layer shares (read from stores.csv / calendar.csv, the API or
# the state database).
DEFAULT_TIMEZONES: dict[str, str] = {name: zone for name, (_, zone) in _PLATFORM_TABLE.items() if zone}


@dataclass(frozen=True)
class StoreInfo:
    store: str
    platform: str
    name: str
    timezone: str
    opening_hours: str = ""  # optional, local time: "mon-sat 09:00-18:00; sun closed" ("" = not declared)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def open_hours(self) -> tuple[tuple[bool, ...], ...] | None:
        """7 × 24 local (weekday Monday = 0, hour) → open, or None when no opening hours are declared."""
        return parse_opening_hours(self.opening_hours) if self.opening_hours.strip() else None


_DAY_NAMES: dict[str, int] = {
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: i for i, name in enumerate(("周一", "周二", "周三", "周四", "周五", "周六", "周日"))},
    "周天": 6,
}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _days(spec: str) -> list[int]:
    spec = spec.strip().lower()
    if spec in ("daily", "每天", "*"):
        return list(range(7))
    out: list[int] = []
    for part in re.split(r"[,，、]", spec):
        ends = [e.strip() for e in re.split(r"[-~–至]", part)]
        if len(ends) == 2 and ends[0] in _DAY_NAMES and ends[1] in _DAY_NAMES:
            a, b = _DAY_NAMES[ends[0]], _DAY_NAMES[ends[1]]
            out += [(a + k) % 7 for k in range((b - a) % 7 + 1)]
        elif len(ends) == 1 and ends[0] in _DAY_NAMES:
            out.append(_DAY_NAMES[ends[0]])
        else:
            raise ValueError(f"{part.strip()!r} is not a weekday or range like mon-fri / 周一-周五")
    return out


def _minute(text: str) -> int:
    match = _TIME.match(text.strip())
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        raise ValueError(f"{text.strip()!r} is not a time like 09:00")
    return int(match.group(1)) * 60 + int(match.group(2))


def parse_opening_hours(text: str) -> tuple[tuple[bool, ...], ...]:
    """Opening hours in the store's local time → 7 × 24 (weekday, hour) → open.

    ``"mon-fri 09:00-12:00,13:00-18:00; sat 10:00-16:00; sun closed"`` (周一-周五 works too; ``daily``
    or 每天 for every day). Days not named are closed; an hour is open when any of it is; a range past
    midnight (``18:00-02:00``) runs into the next day. Raises ValueError naming the bad part."""
    grid = [[False] * 24 for _ in range(7)]
    for entry in filter(None, (e.strip() for e in re.split(r"[;；]", text))):
        head, _, times = entry.partition(" ")
        days = _days(head)
        times = times.strip()
        if not times:
            raise ValueError(f"{entry!r} names no hours (e.g. 'mon-fri 09:00-18:00' or 'sun closed')")
        if times.lower() in ("closed", "休息", "不营业"):
            continue
        for span in re.split(r"[,，]", times):
            ends = span.split("-")
            if len(ends) != 2:
                raise ValueError(f"{span.strip()!r} is not a range like 09:00-18:00")
            lo, hi = _minute(ends[0]), _minute(ends[1])
            if hi <= lo:
                hi += 24 * 60
            for day in days:
                for hour in range(lo // 60, -(-hi // 60)):
                    grid[(day + hour // 24) % 7][hour % 24] = True
    return tuple(tuple(row) for row in grid)


@dataclass(frozen=True)
class CalendarEvent:
    start: datetime
    end: datetime
    platform: str
    store: str  # "" = every store of the platform ("" platform too = everyone)
    name: str
    kind: str

    def applies_to(self, platform: str, store: str) -> bool:
        return (not self.platform or self.platform == platform) and (not self.store or self.store == store)
