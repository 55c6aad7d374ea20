"""A user-defined composite metric (订单健康度) is computed by the engine and can carry a rule."""

from __future__ import annotations

import numpy as np

from shopsentinel.catalog import default_catalog
from shopsentinel.catalog.composite import parse_metric_file
from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import parse_rules
from shopsentinel.detect.series import SeriesResolver
from tests.detect.conftest import HOURS, START, StoreData, last_day

METRICS = """
metrics:
  - id: order_health
    name: {zh: 订单健康度, en: Order health}
    formula: "pay_conversion_rate * (1 - payment_failure_rate)"
    unit: score
    level: strategic
"""
RULE = """
rules:
  - id: health.low
    name: {zh: 订单健康度过低, en: Order health low}
    severity: warning
    when: {metric: order_health, type: threshold, below: 0.02}
    for: 2h
"""


def _panel(data: StoreData):  # type: ignore[no-untyped-def]
    catalog = default_catalog()
    catalog.extend(parse_metric_file(METRICS, "metrics.yaml"), author="test")
    panel = build_panel(data.frame(), [StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")], [], catalog, start=START, hours=HOURS)
    return catalog, panel


def test_composite_formula_is_computed_from_its_parts() -> None:
    data = StoreData().funnel()
    catalog, panel = _panel(data)
    view = SeriesResolver(panel, catalog).view("order_health", 1)
    assert view is not None
    t = HOURS - 10
    uv, paid = data.get("uv")[t], data.get("paid_orders")[t]
    failures, attempts = data.get("payment_failures")[t], data.get("payment_attempts")[t]
    assert np.isclose(view.values[t, 0], paid / uv * (1 - failures / attempts))


def test_a_rule_on_a_composite_metric_fires_only_when_it_drops() -> None:
    quiet = StoreData().funnel()
    broken = StoreData().funnel()
    broken.get("payment_failures")[last_day(2, 8)] = broken.get("payment_attempts")[last_day(2, 8)] * 0.8
    rules = parse_rules(RULE).rules
    fired = {}
    for name, data in (("quiet", quiet), ("broken", broken)):
        catalog, panel = _panel(data)
        fired[name] = [e for e in evaluate_panel(panel, rules, catalog) if e.start.day == 28]
    assert fired["broken"] and not fired["quiet"]


def test_a_derived_metric_delivered_as_data_is_used_when_its_inputs_are_missing() -> None:
    data = StoreData()
    rate = np.full(HOURS, 0.05)
    rate[last_day(2, 8)] = 0.01
    data.set("conversion_rate", rate)
    catalog, panel = _panel(data)
    view = SeriesResolver(panel, catalog).view("conversion_rate", 1)
    assert view is not None and view.kind == "continuous"
    assert np.isclose(view.values[HOURS - 20, 0], 0.01)
