"""Detection is causal: a decision at hour t uses only data up to t. Evaluating a panel truncated at
t gives exactly the episodes the full panel has before t."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import default_rules, parse_rules
from tests.detect.conftest import HOURS, START, StoreData, last_day

STORE = StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")
EXTRA = parse_rules(
    """
rules:
  - id: t.ets
    name: {zh: 访客ETS, en: UV ETS}
    severity: warning
    when: {metric: uv, type: ets, direction: down}
  - id: t.band
    name: {zh: 订单季节带, en: Orders seasonal band}
    severity: warning
    when: {metric: orders, type: seasonal_band, direction: both, sigmas: 4, history: 3}
""",
    "extra.yaml",
).rules
RULES = default_rules().enabled() + EXTRA
CALENDAR = [CalendarEvent(START + timedelta(days=10), START + timedelta(days=11), "tmall", "", "大促", "promotion")]


def incident_store() -> pl.DataFrame:
    d = StoreData(seed=5).funnel()
    rng = np.random.default_rng(5)
    d.set("refunds", rng.poisson(3.0 * d.shape).astype(float))
    d.set("reviews", rng.poisson(6.0 * d.shape).astype(float))
    d.set("negative_reviews", rng.poisson(0.3 * d.shape).astype(float))
    stock = np.maximum(400 - np.cumsum(rng.poisson(0.8 * d.shape)), 0).astype(float)
    d.set("stock", stock, sku="SKU-1")
    d.set("units_sold", rng.poisson(0.8 * d.shape).astype(float), sku="SKU-1")
    d.set("price", 99.0, sku="SKU-1")
    # the incidents: a traffic crash with its funnel, a payment failure wave, a refund surge, a price error
    for m in ("uv", "orders", "paid_orders", "gmv", "payment_attempts"):
        d.get(m)[last_day(2, 7)] *= 0.25
    fails = d.get("payment_failures")
    fails[last_day(10, 14)] = np.round(d.get("payment_attempts")[last_day(10, 14)] * 0.4)
    d.get("refunds")[HOURS - 60 : HOURS - 50] *= 6
    d.get("price", "SKU-1")[HOURS - 40 : HOURS - 30] = 9.9
    # the promotion boosts orders (muted) and leaves a gap in the data
    d.get("orders")[24 * 10 : 24 * 11] *= 2
    frame = d.frame()
    gap = (pl.col("ts") >= START + timedelta(hours=HOURS - 100)) & (pl.col("ts") < START + timedelta(hours=HOURS - 96))
    return frame.filter(~(gap & (pl.col("metric") == "uv")))


def run(frame: pl.DataFrame, hours: int) -> list[AlertEvent]:
    sub = frame.filter(pl.col("ts") < START + timedelta(hours=hours))
    panel = build_panel(sub, [STORE], CALENDAR, default_catalog(), start=START, hours=hours)
    return evaluate_panel(panel, RULES, default_catalog())


def key(e: AlertEvent) -> tuple[str, str, str, datetime]:
    return (e.rule, e.sku, e.metric, e.start)


def _num(x: float | None) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), 9)


def facts(e: AlertEvent, end: datetime | None) -> tuple[object, ...]:
    return (end, _num(e.value), _num(e.expected), _num(e.lower), _num(e.upper), str(e.severity), e.kind)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return incident_store()


@pytest.fixture(scope="module")
def full(frame: pl.DataFrame) -> list[AlertEvent]:
    return run(frame, HOURS)


def test_incidents_are_found_at_all(full: list[AlertEvent]) -> None:
    """Guard: the comparison below is only meaningful if the full run raises several alerts."""
    rules = {e.rule for e in full}
    assert {"traffic.uv_drop_vs_yesterday", "payment.failure_rate_high", "price.below_floor"} <= rules
    assert len(full) >= 5


@pytest.mark.parametrize("cut", [HOURS - 24 + 3, HOURS - 24 + 5, HOURS - 24 + 12, HOURS - 55, HOURS - 35, HOURS - 98, 24 * 10 + 6])
def test_truncated_panel_gives_the_same_episodes_before_t(frame: pl.DataFrame, full: list[AlertEvent], cut: int) -> None:
    t = START + timedelta(hours=cut)
    want = {
        key(e): facts(e, e.end if e.end is not None and e.end < t else None)
        for e in full
        if e.start < t
    }
    got = {key(e): facts(e, e.end) for e in run(frame, cut)}
    assert got == want
