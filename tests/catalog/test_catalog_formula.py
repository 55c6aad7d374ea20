"""The metric library: canonical names of DESIGN.md, derived formulas, custom metrics, safe formulas,
composite YAML and versions."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from shopsentinel.catalog import CANONICAL_METRICS, default_catalog
from shopsentinel.catalog.composite import parse_metric_file
from shopsentinel.catalog.formula import Formula
from shopsentinel.core.errors import CatalogError, InputError

BASE = ("uv pv orders paid_orders gmv payment_attempts payment_failures refunds refund_amount reviews "
        "negative_reviews dsr ad_spend ad_clicks ad_orders ad_gmv logistics_stale_orders "
        "cs_response_seconds bounces").split()
SKU_BASE = ["stock", "price", "units_sold"]
DERIVED = {
    "conversion_rate": ("orders / uv", 1),
    "pay_conversion_rate": ("paid_orders / uv", 1),
    "aov": ("gmv / paid_orders", 1),
    "order_value": ("gmv / orders", 1),
    "refund_rate": ("refunds / paid_orders", 24),
    "payment_failure_rate": ("payment_failures / payment_attempts", 1),
    "negative_review_rate": ("negative_reviews / reviews", 24),
    "ad_cpc": ("ad_spend / ad_clicks", 1),
    "ad_conversion_rate": ("ad_orders / ad_clicks", 1),
    "ad_roi": ("ad_gmv / ad_spend", 1),
    "bounce_rate": ("bounces / uv", 1),
}


def test_every_canonical_metric_is_present_exactly_once() -> None:
    ids = [m.id for m in CANONICAL_METRICS]
    assert len(ids) == len(set(ids))
    expected = set(BASE) | set(SKU_BASE) | set(DERIVED) | {"stock_cover_days", "sell_through_rate"}
    assert expected <= set(ids)
    catalog = default_catalog()
    for name in expected:
        assert name in catalog
        assert catalog.get(name).custom is False


@pytest.mark.parametrize("metric", [m.id for m in CANONICAL_METRICS])
def test_definition_is_complete(metric: str) -> None:
    m = default_catalog().get(metric)
    assert m.name_zh and m.name_en and m.definition and m.unit
    assert any("\u4e00" <= ch <= "\u9fff" for ch in m.name_zh), m.name_zh
    assert m.name_en.isascii()
    assert m.kind in ("count", "money", "ratio", "gauge", "duration")
    assert m.level in ("strategic", "operational", "basic")
    assert m.good_direction in ("up", "down", "neutral")
    assert m.version == 1


def test_known_names_units_and_directions() -> None:
    c = default_catalog()
    assert (c.get("uv").name_zh, c.get("uv").kind, c.get("uv").good_direction) == ("访客数", "count", "up")
    assert (c.get("gmv").kind, c.get("gmv").level) == ("money", "strategic")
    assert c.get("refund_rate").good_direction == "down"
    assert c.get("payment_failures").good_direction == "down"
    assert c.get("dsr").kind == "gauge"
    assert c.get("stock").scope == "sku" and c.get("price").scope == "sku" and c.get("units_sold").scope == "sku"
    assert c.get("uv").scope == "store"
    assert c.get("cs_response_seconds").kind == "duration"


@pytest.mark.parametrize(("metric", "formula_window"), DERIVED.items())
def test_derived_formulas_and_windows(metric: str, formula_window: tuple[str, int]) -> None:
    m = default_catalog().get(metric)
    formula, window = formula_window
    assert m.derived
    assert m.formula == formula
    assert m.window_hours == window
    assert m.kind == "ratio"
    assert m.inputs() == [p.strip() for p in formula.split("/")]


def test_stock_cover_uses_a_demand_forecast() -> None:
    m = default_catalog().get("stock_cover_days")
    assert m.formula is not None and "forecast_daily(units_sold)" in m.formula.replace(" ", "")
    assert default_catalog().get("sell_through_rate").derived


def test_aggregation_follows_kind() -> None:
    c = default_catalog()
    assert c.get("orders").aggregation == "sum"
    assert c.get("gmv").aggregation == "sum"
    assert c.get("stock").aggregation == "last"
    assert c.get("cs_response_seconds").aggregation == "last"
    assert c.get("conversion_rate").aggregation == "mean"


def test_unknown_metric_is_accepted_as_custom() -> None:
    c = default_catalog()
    m = c.get("livestream_viewers")
    assert m.custom is True
    assert m.id == "livestream_viewers"
    assert m.non_negative is False
    assert "livestream_viewers" not in c
    assert c.get("uv").non_negative is True


def test_catalog_define_versions() -> None:
    c = default_catalog()
    at = datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)
    new = replace(c.get("aov"), formula="gmv / orders")
    saved = c.define(new, author="dana", at=at)
    assert (saved.version, saved.author, saved.changed_at) == (2, "dana", "2026-11-02T03:04:05Z")
    same = c.define(replace(new, author="eve"), author="eve", at=datetime(2026, 11, 3, tzinfo=UTC))
    assert same is saved
    assert [h.version for h in c.history("aov")] == [1, 2]
    assert c.get("aov").formula == "gmv / orders"
    assert default_catalog().get("aov").formula == "gmv / paid_orders"  # no shared state


# --------------------------------------------------------------------------- Formula
def test_formula_names_and_evaluation() -> None:
    f = Formula("pay_conversion_rate * (1 - refund_rate)")
    assert f.names() == ["pay_conversion_rate", "refund_rate"]
    assert f.evaluate({"pay_conversion_rate": 0.5, "refund_rate": 0.2}) == pytest.approx(0.4)
    arr = f.evaluate({"pay_conversion_rate": np.array([0.1, 0.2]), "refund_rate": np.array([0.0, 0.5])})
    np.testing.assert_allclose(arr, [0.1, 0.1])


def test_formula_division_by_zero_is_nan() -> None:
    out = Formula("orders / uv").evaluate({"orders": np.array([1.0, 2.0, 0.0]), "uv": np.array([0.0, 4.0, 0.0])})
    assert math.isnan(out[0]) and out[1] == 0.5 and math.isnan(out[2])


def test_formula_functions() -> None:
    assert Formula("max(a, b) - min(a, b) + abs(-c)").evaluate({"a": 3.0, "b": 5.0, "c": 2.0}) == 4.0
    assert Formula("-a + +b").evaluate({"a": 1.0, "b": 3.0}) == 2.0
    with pytest.raises(CatalogError, match="engine"):
        Formula("stock / forecast_daily(units_sold)").evaluate({"stock": 1.0, "units_sold": 1.0})
    got = Formula("stock / forecast_daily(units_sold)").evaluate(
        {"stock": 10.0, "units_sold": 1.0}, {"forecast_daily": lambda name: 4.0 if name == "units_sold" else 0.0}
    )
    assert got == 2.5


def test_formula_missing_data_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="'uv'"):
        Formula("orders / uv").evaluate({"orders": 1.0})


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "__import__('os').system('true')",
        "uv.__class__",
        "orders.real",
        "().__class__.__bases__[0]",
        "uv[0]",
        "open('/etc/passwd')",
        "eval('1')",
        "(lambda: 1)()",
        "[x for x in uv]",
        "uv ** 1000",
        "uv // 2",
        "uv % 2",
        "uv if orders else gmv",
        "uv > 1",
        "abs(x=uv)",
        "min.__call__(uv, 1)",
        "uv; orders",
        "import os",
        "orders / ",
    ],
)
def test_formula_refuses_code(text: str) -> None:
    with pytest.raises(CatalogError):
        Formula(text)


def test_formula_string_constant_cannot_be_evaluated() -> None:
    with pytest.raises(CatalogError, match="numbers"):
        Formula("'abc'").evaluate({})


# --------------------------------------------------------------------------- composite YAML
ORDER_HEALTH = """
metrics:
  - id: order_health
    name: {zh: 订单健康度, en: Order health}
    formula: "pay_conversion_rate * (1 - refund_rate)"
    unit: score
    level: strategic
    good_direction: up
    window_hours: 24
"""


def test_parse_composite_metric() -> None:
    (m,) = parse_metric_file(ORDER_HEALTH, "health.yaml")
    assert (m.id, m.name_zh, m.name_en, m.unit, m.level, m.good_direction) == (
        "order_health", "订单健康度", "Order health", "score", "strategic", "up")
    assert m.formula == "pay_conversion_rate * (1 - refund_rate)"
    assert m.window_hours == 24
    assert m.derived and m.custom is False
    assert m.inputs() == ["pay_conversion_rate", "refund_rate"]
    catalog = default_catalog()
    saved = catalog.define(m, author="ops")
    assert catalog.get("order_health") == saved and saved.version == 1


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        ("metrics:\n  - id: x\n    name: {zh: a}\n", "name.en", "'x'"),
        ("metrics:\n  - id: X-bad\n    name: {zh: a, en: b}\n", "id", "X-bad"),
        ("metrics:\n  - id: x\n    name: {zh: a, en: b}\n    level: tactical\n", "level", "'x'"),
        ("metrics:\n  - id: x\n    name: {zh: a, en: b}\n    colour: red\n", "colour", "'x'"),
        ("metrics:\n  - id: x\n    name: {zh: a, en: b}\n    formula: \"__import__('os')\"\n", "formula", "__import__"),
        ("metrics:\n  - id: x\n    name: {zh: a, en: b}\n    formula: \"uv.real\"\n", "formula", "Attribute"),
        ("metrics:\n  - id: x\n    name: {zh: a, en: b}\n    window_hours: 0\n", "window_hours", "'x'"),
    ],
)
def test_composite_errors_name_file_metric_and_field(text: str, field: str, needle: str) -> None:
    with pytest.raises(InputError) as info:
        parse_metric_file(text, "mine.yaml")
    assert info.value.file == "mine.yaml"
    assert info.value.field == field
    assert needle in str(info.value)
    assert str(info.value).startswith("mine.yaml")


def test_composite_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(InputError) as info:
        parse_metric_file("metrics:\n  - id: x\n    name: {zh: a, en: b\n    unit: y\n", "bad.yaml")
    assert info.value.file == "bad.yaml"
    assert info.value.line == 4


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "metrics: 3\n", "other: []\n"])
def test_composite_file_shape(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_metric_file(text, "shape.yaml")
    assert (info.value.file, info.value.line) == ("shape.yaml", 1)
