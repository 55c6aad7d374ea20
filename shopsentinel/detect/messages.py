"""Alert texts, zh-CN first with an English twin.

A message quotes the figures that made the rule fire — those of the window the condition judged
(a 6-hour refund count, not the last hour's), every part of a compound condition, with the unit of
the metric (31.8%, ¥1,280, 3,400 人) — and nothing else: :func:`format_value` is the one formatter,
so a test can check that the text quotes exactly the alert's own numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shopsentinel.catalog import Catalog
from shopsentinel.core.types import PLATFORM_NAMES_ZH
from shopsentinel.detect.detectors import EvidencePoint

if TYPE_CHECKING:
    from shopsentinel.core.events import AlertEvent
    from shopsentinel.detect.rules import Rule

_MONEY = {"元": "¥"}
_SPACED_UNITS = {"人", "次", "单", "条", "件", "天", "分", "秒", "倍"}


def _number(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}".rstrip("0").rstrip(".")


def format_value(x: float | None, unit: str = "", lang: str = "zh") -> str:
    """``x`` with its unit: ``0.318, "%"`` → ``31.8%``, ``1280, "元"`` → ``¥1,280``, ``12, "单"`` → ``12 单``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if unit == "%":
        return f"{x * 100:.1f}%"
    if unit in _MONEY:
        return f"{'-' if x < 0 else ''}{_MONEY[unit]}{_number(abs(x))}"
    if unit in _SPACED_UNITS and lang == "zh":
        return f"{_number(x)} {unit}"
    return _number(x)


def _window_zh(window: int) -> str:
    return "本小时" if window <= 1 else f"近{window}小时"


def _window_en(window: int) -> str:
    return "this hour" if window <= 1 else f"last {window} h"


def _change(value: float, expected: float) -> float | None:
    if math.isnan(value) or math.isnan(expected) or expected == 0:
        return None
    pct = (value - expected) / abs(expected) * 100
    return None if math.isnan(pct) else pct


def _bound(point: EvidencePoint) -> float | None:
    """The line that was crossed (the band edge on the side the value left it)."""
    for edge in (point.upper, point.lower):
        if not math.isnan(edge) and (
            (edge == point.upper and point.value >= edge) or (edge == point.lower and point.value <= edge)
        ):
            return edge
    return None


def _evidence_text(point: EvidencePoint, catalog: Catalog) -> tuple[str, str]:
    metric = catalog.get(point.metric)
    unit = metric.unit
    zh_v, en_v = format_value(point.value, unit), format_value(point.value, unit, "en")
    zh_e, en_e = format_value(point.expected, unit), format_value(point.expected, unit, "en")
    if point.type == "beyond_history":
        times = point.value / point.expected if point.expected and not math.isnan(point.expected) else float("nan")
        days = point.history_days or 0
        if point.largest_unit and metric.formula:
            units = catalog.get(metric.inputs()[-1])
            count = format_value(point.volume or 0.0, units.unit)
            return (f"{_window_zh(point.window)}最大一笔订单约 {zh_v}，为近 {days} 天最大单笔 {zh_e} 的 {_number(times)} 倍"
                    f"（{units.name_zh} {count}）",
                    f"largest order {_window_en(point.window)} about {en_v}, {_number(times)}× the largest of the last "
                    f"{days} days ({en_e}; {_number(point.volume or 0.0)} {units.name_en.lower()})")
        zh = f"{_window_zh(point.window)}{metric.name_zh} {zh_v} 为近 {days} 天最高值 {zh_e} 的 {_number(times)} 倍"
        en = f"{metric.name_en} {_window_en(point.window)} {en_v} is {_number(times)}× the highest of the last {days} days ({en_e})"
        if point.volume is not None and metric.formula:
            denominator = catalog.get(metric.inputs()[-1])
            zh += f"，{denominator.name_zh}正常（{format_value(point.volume, denominator.unit)}）"
            en += f", {denominator.name_en.lower()} normal ({_number(point.volume)})"
        return zh, en
    if metric.id == "stock_cover_days":
        return (f"可售 {_number(point.value)} 天，日均需求 {_number(point.expected)} 件",
                f"{_number(point.value)} days of cover, demand {_number(point.expected)}/day")
    zh = f"{_window_zh(point.window)}{metric.name_zh} 当前 {zh_v}"
    en = f"{metric.name_en} {_window_en(point.window)} {en_v}"
    if not math.isnan(point.expected):
        zh += f"，预期 {zh_e}"
        en += f", expected {en_e}"
        pct = _change(point.value, point.expected)
        if pct is not None:
            zh += f"，较基线{'上升' if pct > 0 else '下降'} {abs(pct):.0f}%"
            en += f", {'up' if pct > 0 else 'down'} {abs(pct):.0f}% vs baseline"
    bound = _bound(point)
    if bound is not None:
        side = point.value >= bound
        zh += f"，{'告警线 ≥' if side else '告警线 ≤'} {format_value(bound, unit)}"
        en += f", {'alert line ≥' if side else 'alert line ≤'} {format_value(bound, unit, 'en')}"
    return zh, en


def describe(event: AlertEvent, rule: Rule, catalog: Catalog,
             evidence: list[EvidencePoint] | None = None) -> tuple[str, str]:
    """(zh, en) text of an alert; ``evidence`` are the figures of the conditions that fired (by
    default the event's own value and expected, judged on one hour)."""
    sku_zh = f" SKU {event.sku}" if event.sku else ""
    where_zh = f"{PLATFORM_NAMES_ZH.get(event.platform, event.platform)} {event.store}{sku_zh}"
    where_en = f"{event.platform} {event.store}{' SKU ' + event.sku if event.sku else ''}"
    if not evidence:
        nan = float("nan")
        evidence = [EvidencePoint(
            event.metric, "", 1, nan if event.value is None else event.value,
            nan if event.expected is None else event.expected, nan if event.lower is None else event.lower,
            nan if event.upper is None else event.upper,
        )]
    texts = [_evidence_text(point, catalog) for point in evidence]
    zh_body = "；".join(t[0] for t in texts)
    en_body = "; ".join(t[1] for t in texts)
    severity = event.severity
    zh = f"【{severity.zh}】{where_zh}：{rule.name.zh}（{zh_body}）"
    en = f"[{severity.value}] {where_en}: {rule.name.en} ({en_body})"
    if rule.description is not None:
        zh += f"——{rule.description.zh}"
        en += f" — {rule.description.en}"
    return zh, en
