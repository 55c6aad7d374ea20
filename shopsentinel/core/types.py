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


KNOWN_PLATFORMS: tuple[str, ...] = ("tmall", "taobao", "jd", "douyin", "pdd", "amazon", "shopify", "kuaishou")

PLATFORM_NAMES_ZH: dict[str, str] = {
    "tmall": "天猫",
    "taobao": "淘宝",
    "jd": "京东",
    "douyin": "抖店",
    "pdd": "拼多多",
    "amazon": "亚马逊",
    "shopify": "Shopify",
    "kuaishou": "快手小店",
}


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
DEFAULT_TIMEZONES = {
    "tmall": "Asia/Shanghai",
    "taobao": "Asia/Shanghai",
    "jd": "Asia/Shanghai",
    "douyin": "Asia/Shanghai",
    "pdd": "Asia/Shanghai",
    "kuaishou": "Asia/Shanghai",
}


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
