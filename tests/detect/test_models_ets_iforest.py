"""Model detectors: ETS prediction interval (R3.4) and Isolation Forest (R3.5), through rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.models import WARMUP_HOURS, ets_forecast
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import parse_rules
from tests.detect.conftest import HOURS, LOCAL_SHAPE, START, StoreData, last_day

STORE = StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")

RULES = parse_rules(
    """
rules:
  - id: t.ets_down
    name: {zh: 访客ETS下跌, en: UV below ETS band}
    severity: warning
    when: {metric: uv, type: ets, direction: down, sigmas: 4}
  - id: t.ets_up
    name: {zh: 订单ETS上升, en: Orders above ETS band}
    severity: warning
    when: {metric: orders, type: ets, direction: up, sigmas: 4}
  - id: t.iforest
    name: {zh: 组合异常, en: Unusual metric mix}
    severity: info
    when: {metric: conversion_rate, type: isolation_forest, features: [conversion_rate, aov, payment_failure_rate]}
""",
    "models.yaml",
)


def evaluate(frame: pl.DataFrame, rule_ids: list[str], hours: int = HOURS, sensitivity: float | None = None) -> list:
    rules = [RULES.get(r) for r in rule_ids]
    if sensitivity is not None:
        rules = [r.model_copy(update={"when": r.when.model_copy(update={"sensitivity": sensitivity})}) for r in rules]
    panel = build_panel(frame, [STORE], [], default_catalog(), start=START, hours=hours)
    return evaluate_panel(panel, rules, default_catalog())


# --------------------------------------------------------------------------- ets_forecast
def test_ets_forecast_tracks_a_seasonal_series() -> None:
    rng = np.random.default_rng(0)
    hours = 24 * 14
    local_hour = (np.arange(hours) + 8) % 24
    y = (1000 * LOCAL_SHAPE[local_hour] + rng.normal(0, 10, hours))[:, None]
    f, s = ets_forecast(y, local_hour)
    assert np.isnan(f[:WARMUP_HOURS]).all()
    assert not np.isnan(f[WARMUP_HOURS:]).any()
    late = slice(hours - 48, hours)  # after two weeks the level and the daily season are learnt
    err = np.abs(f[late, 0] - y[late, 0])
    assert np.median(err) < 20  # the daily swing is 100 → 1000
    assert err.max() < 60
    assert np.median(s[late, 0]) < 30


def test_ets_forecast_survives_two_equal_first_values() -> None:
    rng = np.random.default_rng(0)
    hours = 24 * 14
    local_hour = (np.arange(hours) + 8) % 24
    y = (1000 * LOCAL_SHAPE[local_hour] + rng.normal(0, 10, hours))[:, None]
    y[1] = y[0]
    f, s = ets_forecast(y, local_hour)
    late = slice(hours - 48, hours)
    assert np.median(np.abs(f[late, 0] - y[late, 0])) < 20
    assert s[-1, 0] > 0


def test_ets_does_not_learn_an_outage() -> None:
    hours = 24 * 12
    local_hour = np.arange(hours) % 24
    y = (100 + 50 * np.sin(2 * np.pi * local_hour / 24))[:, None].astype(float)
    y_out = y.copy()
    y_out[24 * 10 : 24 * 10 + 6] = 0.0
    f, _ = ets_forecast(y, local_hour)
    f_out, _ = ets_forecast(y_out, local_hour)
    after = slice(24 * 10 + 6, hours)
    np.testing.assert_allclose(f_out[after], f[after], atol=1.0)


def test_ets_is_causal_and_skips_gaps() -> None:
    hours = 24 * 10
    local_hour = np.arange(hours) % 24
    y = (50 + 20 * np.cos(2 * np.pi * local_hour / 24))[:, None].astype(float)
    gappy = y.copy()
    gappy[200:210] = np.nan
    f, _ = ets_forecast(y, local_hour)
    f_gap, _ = ets_forecast(gappy, local_hour)
    np.testing.assert_array_equal(f[:201], f_gap[:201])  # nothing before the gap changes
    assert not np.isnan(f_gap[200:]).any()  # a gap leaves the last state, never a zero
    np.testing.assert_allclose(f_gap[210:], f[210:], atol=0.5)


# --------------------------------------------------------------------------- EtsDetector through a rule
def test_ets_rule_quiet_on_clean_store() -> None:
    d = StoreData(seed=3).funnel()
    assert evaluate(d.frame(), ["t.ets_down"]) == []


def test_ets_rule_quiet_on_clean_orders() -> None:
    d = StoreData(seed=3).funnel()
    assert d.get("orders")[0] == d.get("orders")[1]  # the trigger
    assert evaluate(d.frame(), ["t.ets_up"]) == []


def test_ets_rule_finds_traffic_crash() -> None:
    d = StoreData(seed=3).funnel()
    d.get("uv")[last_day(2, 6)] *= 0.3
    alerts = evaluate(d.frame(), ["t.ets_down"])
    assert len(alerts) == 1
    a = alerts[0]
    crash_start = START + timedelta(hours=HOURS - 24 + 2)
    assert a.start == crash_start
    assert a.end is not None and crash_start < a.end <= crash_start + timedelta(hours=6)
    assert a.value is not None and a.expected is not None and a.lower is not None
    assert a.value < a.lower < a.expected
    assert a.value == pytest.approx(d.get("uv")[HOURS - 24 + 2])


def test_ets_rule_direction_is_respected() -> None:
    d = StoreData(seed=3).funnel()
    d.get("uv")[last_day(3, 5)] *= 3  # a traffic burst is not a drop
    assert evaluate(d.frame(), ["t.ets_down"]) == []
    d.get("uv")[last_day(3, 5)] /= 9  # now a third of normal
    alerts = evaluate(d.frame(), ["t.ets_down"])
    assert [a.start for a in alerts] == [START + timedelta(hours=HOURS - 24 + 3)]


# --------------------------------------------------------------------------- Isolation Forest
IF_START = START
IF_HOURS = 24 * 36  # needs four weeks of history before it scores anything


def if_store(seed: int, inject: bool) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    shape = LOCAL_SHAPE[(np.arange(IF_HOURS) + 8) % 24]
    uv = rng.poisson(2000 * shape).astype(float)
    orders = rng.binomial(uv.astype(int), 0.05).astype(float)
    paid = rng.binomial(orders.astype(int), 0.9).astype(float)
    gmv = paid * rng.normal(120, 5, IF_HOURS)
    attempts = orders.copy()
    failures = rng.binomial(attempts.astype(int), 0.03).astype(float)
    if inject:  # AOV x6 and half of all payments failing for three hours
        bad = slice(IF_HOURS - 30, IF_HOURS - 27)
        gmv[bad] *= 6
        failures[bad] = np.round(attempts[bad] * 0.5)
    ts = [IF_START + timedelta(hours=i) for i in range(IF_HOURS)]
    series = {"uv": uv, "orders": orders, "paid_orders": paid, "gmv": gmv, "payment_attempts": attempts, "payment_failures": failures}
    return pl.concat(
        [pl.DataFrame({"ts": ts, "platform": "tmall", "store": "s1", "sku": "", "metric": m, "value": v}) for m, v in series.items()]
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def test_isolation_forest_quiet_on_clean_store() -> None:
    assert evaluate(if_store(4, inject=False), ["t.iforest"], hours=IF_HOURS) == []


def test_isolation_forest_needs_four_weeks() -> None:
    frame = if_store(4, inject=True).filter(pl.col("ts") < IF_START + timedelta(hours=24 * 28))
    assert evaluate(frame, ["t.iforest"], hours=24 * 28) == []


def test_isolation_forest_finds_unusual_metric_mix() -> None:
    alerts = evaluate(if_store(4, inject=True), ["t.iforest"], hours=IF_HOURS)
    assert len(alerts) == 1
    bad_start = IF_START + timedelta(hours=IF_HOURS - 30)
    assert bad_start <= alerts[0].start <= bad_start + timedelta(hours=3)


def test_isolation_forest_higher_sensitivity_finds_at_least_as_much() -> None:
    frame = if_store(4, inject=True)
    low = evaluate(frame, ["t.iforest"], hours=IF_HOURS, sensitivity=0.1)
    high = evaluate(frame, ["t.iforest"], hours=IF_HOURS, sensitivity=3.0)
    assert len(low) >= 1
    assert len(high) >= len(low)


def test_start_constant_matches_fixture() -> None:
    assert START == datetime(2026, 9, 1, tzinfo=UTC)
