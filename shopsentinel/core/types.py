"""Shared types and canonical vocabularies everyone imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
