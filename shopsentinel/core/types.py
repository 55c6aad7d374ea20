"""Shared types and canonical vocabularies everyone imports."""

from __future__ import annotations

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

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


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
