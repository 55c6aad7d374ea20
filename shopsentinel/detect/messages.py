"""Alert texts, zh-CN first with an English twin."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shopsentinel.catalog import Catalog
from shopsentinel.core.types import PLATFORM_NAMES_ZH

if TYPE_CHECKING:
    from shopsentinel.core.events import AlertEvent
    from shopsentinel.detect.rules import Rule


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if unit == "%":
        return f"{x * 100:.1f}%"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}".rstrip("0").rstrip(".")


def describe(event: AlertEvent, rule: Rule, catalog: Catalog) -> tuple[str, str]:
    metric = catalog.get(event.metric)
    sku_zh = f" SKU {event.sku}" if event.sku else ""
    where_zh = f"{PLATFORM_NAMES_ZH.get(event.platform, event.platform)} {event.store}{sku_zh}"
    where_en = f"{event.platform} {event.store}{' SKU ' + event.sku if event.sku else ''}"
    value, expected = _fmt(event.value, metric.unit), _fmt(event.expected, metric.unit)
    change = ""
    change_en = ""
    if event.value is not None and event.expected and not math.isnan(event.expected) and event.expected != 0 and metric.id != "stock_cover_days":
        pct = (event.value - event.expected) / abs(event.expected) * 100
        if not math.isnan(pct):
            change = f"，较基线{'上升' if pct > 0 else '下降'} {abs(pct):.0f}%"
            change_en = f", {'up' if pct > 0 else 'down'} {abs(pct):.0f}% vs baseline"
    severity = event.severity
    if metric.id == "stock_cover_days":
        zh = f"【{severity.zh}】{where_zh}：{rule.name.zh}（可售 {value} 天，日均需求 {expected} 件）"
        en = f"[{severity.value}] {where_en}: {rule.name.en} ({value} days of cover, demand {expected}/day)"
    else:
        zh = f"【{severity.zh}】{where_zh}：{rule.name.zh}（{metric.name_zh} 当前 {value}，预期 {expected}{change}）"
        en = f"[{severity.value}] {where_en}: {rule.name.en} ({metric.name_en} {value}, expected {expected}{change_en})"
    return zh, en
