"""Builders for small, realistic single-store datasets used by the detection tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import default_rules

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 28
HOURS = DAYS * 24
# Daily shape in Shanghai local time (UTC+8): trough at night, peaks late morning and evening.
LOCAL_SHAPE = np.array([0.3, 0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.7, 0.9, 1.0, 0.95,
                        0.85, 0.8, 0.85, 0.9, 0.8, 0.75, 0.8, 0.9, 1.0, 1.0, 0.8, 0.5])


class StoreData:
    """Hourly series of one Shanghai store with Poisson noise; tests edit slices and evaluate."""

    def __init__(self, seed: int = 1, level: float = 2000.0) -> None:
        self.rng = np.random.default_rng(seed)
        local_hour = (np.arange(HOURS) + 8) % 24
        self.shape = LOCAL_SHAPE[local_hour]
        self.level = level
        self.series: dict[tuple[str, str], np.ndarray] = {}

    def poisson(self, scale: float) -> np.ndarray:
        return self.rng.poisson(self.level * scale * self.shape).astype(float)

    def funnel(self) -> StoreData:
        uv = self.poisson(1.0)
        self.series[("uv", "")] = uv
        self.series[("orders", "")] = self.rng.binomial(uv.astype(int), 0.05).astype(float)
        self.series[("paid_orders", "")] = self.rng.binomial(self.series[("orders", "")].astype(int), 0.9).astype(float)
        self.series[("gmv", "")] = self.series[("paid_orders", "")] * 120.0
        attempts = self.series[("orders", "")].copy()
        self.series[("payment_attempts", "")] = attempts
        self.series[("payment_failures", "")] = self.rng.binomial(attempts.astype(int), 0.03).astype(float)
        return self

    def set(self, metric: str, values: np.ndarray | float, sku: str = "") -> None:
        self.series[(metric, sku)] = np.broadcast_to(np.asarray(values, dtype=float), (HOURS,)).copy()

    def get(self, metric: str, sku: str = "") -> np.ndarray:
        return self.series[(metric, sku)]

    def frame(self) -> pl.DataFrame:
        ts = [START + timedelta(hours=i) for i in range(HOURS)]
        parts = [
            pl.DataFrame({"ts": ts, "platform": "tmall", "store": "s1", "sku": sku, "metric": metric, "value": values})
            for (metric, sku), values in self.series.items()
        ]
        return pl.concat(parts).with_columns(pl.col("ts").dt.cast_time_unit("us"))

    def evaluate(self, rule_id: str, calendar: list[CalendarEvent] | None = None) -> list[AlertEvent]:
        catalog = default_catalog()
        rule = default_rules().get(rule_id)
        store = StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")
        panel = build_panel(self.frame(), [store], calendar or [], catalog, start=START, hours=HOURS)
        return [e for e in evaluate_panel(panel, [rule], catalog) if e.rule == rule_id]


def last_day(hour_from: int, hour_to: int) -> slice:
    """Rows of the last day between two UTC hours (UTC 2–6 = Shanghai 10–14)."""
    base = HOURS - 24
    return slice(base + hour_from, base + hour_to)


@pytest.fixture
def store() -> Callable[..., StoreData]:
    return StoreData
