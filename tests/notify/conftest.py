"""Shared fixtures for the notification tests: a manual clock, sample alerts, a sender."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.notify.base import DeliveryResult, Notification, Notifier

T0 = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)

TRAFFIC_INCIDENT: list[dict[str, Any]] = [
    {"ts": "2026-11-11T02:05:00Z", "state": "firing", "platform": "tmall", "store": "tm-flagship", "sku": "",
     "metric": "orders", "rule": "orders_drop", "severity": "warning", "kind": "business", "value": 12,
     "expected": 48, "lower": 30, "upper": 70, "incident": "inc-1", "message": "订单数骤降", "id": "a-2"},
    {"ts": "2026-11-11T02:00:00Z", "state": "firing", "platform": "tmall", "store": "tm-flagship", "sku": "",
     "metric": "uv", "rule": "uv_drop", "severity": "critical", "kind": "business", "value": 1200,
     "expected": 4800, "lower": 3500, "upper": 6000, "incident": "inc-1", "message": "访客数骤降 75%", "id": "a-1"},
    {"ts": "2026-11-11T01:00:00Z", "state": "firing", "platform": "jd", "store": "jd-main", "sku": "SKU-8841",
     "metric": "stock", "rule": "stock_low", "severity": "warning", "kind": "business", "value": 3,
     "expected": 40, "lower": 10, "upper": None, "incident": "inc-2", "message": "库存即将售罄", "id": "a-3"},
]  # fmt: skip


def make_notification(**overrides: Any) -> Notification:
    fields: dict[str, Any] = {
        "key": "tm-flagship/inc-1",
        "title": "天猫旗舰店流量骤降",
        "severity": "critical",
        "alerts": TRAFFIC_INCIDENT,
        "id": "a-1",
        "detail_url": "https://sentinel.example.com/alerts/a-1",
        "ack_url": "https://sentinel.example.com/actions/ack?token=t0k",
        "muted_note": "已抑制 3 条由流量骤降引起的告警",
    }
    fields.update(overrides)
    return Notification(**fields)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def notification() -> Callable[..., Notification]:
    return make_notification


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    # Building an httpx client loads the CA bundle (~50 ms); share one context across tests.
    return ssl.create_default_context()


@pytest.fixture
def deliver(tls_context: ssl.SSLContext) -> Callable[..., DeliveryResult]:
    """Send one notification over a fresh httpx client (a real event loop per call)."""

    def run(notifier: Notifier, notification: Notification, *, timeout: float = 5.0) -> DeliveryResult:
        async def go() -> DeliveryResult:
            async with httpx.AsyncClient(timeout=timeout, verify=tls_context) as client:
                return await notifier.send(notification, client)

        return asyncio.run(go())

    return run
