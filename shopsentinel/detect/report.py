"""``--report report.html``: every alert with a chart of its series, expected value and band.

Charts are inline SVG drawn here, so the report is one self-contained file that opens offline.
"""

from __future__ import annotations

import html
import math
from datetime import timedelta
from pathlib import Path

import numpy as np

from shopsentinel.catalog import Catalog, default_catalog
from shopsentinel.core.events import AlertEvent
from shopsentinel.detect.panel import Panel
from shopsentinel.detect.rules import RulePack
from shopsentinel.detect.series import SeriesResolver

WIDTH, HEIGHT, PAD = 640, 180, 30
CONTEXT = timedelta(hours=72)


def svg_chart(times: list[str], values: np.ndarray, expected: np.ndarray, lower: np.ndarray, upper: np.ndarray, alert_from: int, alert_to: int) -> str:
    finite = np.concatenate([a[np.isfinite(a)] for a in (values, expected, lower, upper)])
    if finite.size == 0:
        return "<p>无数据 / no data</p>"
    lo, hi = float(finite.min()), float(finite.max())
    if math.isclose(lo, hi):
        lo, hi = lo - 1, hi + 1
    n = len(values)

    def xy(i: int, v: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * i / max(n - 1, 1)
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - lo) / (hi - lo)
        return f"{x:.1f},{y:.1f}"

    def path(series: np.ndarray) -> str:
        parts, pen = [], "M"
        for i, v in enumerate(series):
            if np.isfinite(v):
                parts.append(f"{pen}{xy(i, float(v))}")
                pen = "L"
            else:
                pen = "M"
        return " ".join(parts)

    x0 = PAD + (WIDTH - 2 * PAD) * alert_from / max(n - 1, 1)
    x1 = PAD + (WIDTH - 2 * PAD) * alert_to / max(n - 1, 1)
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="chart">'
        f'<rect x="{x0:.1f}" y="{PAD}" width="{max(x1 - x0, 2):.1f}" height="{HEIGHT - 2 * PAD}" fill="#fde2e1"/>'
        f'<path d="{path(upper)}" stroke="#9bb" stroke-dasharray="4 3" fill="none"/>'
        f'<path d="{path(lower)}" stroke="#9bb" stroke-dasharray="4 3" fill="none"/>'
        f'<path d="{path(expected)}" stroke="#999" fill="none"/>'
        f'<path d="{path(values)}" stroke="#1f6feb" stroke-width="1.5" fill="none"/>'
        f'<text x="{PAD}" y="14" font-size="11">{html.escape(times[0])} → {html.escape(times[-1])}  max {hi:,.4g}  min {lo:,.4g}</text>'
        "</svg>"
    )


def chart_for(event: AlertEvent, panel: Panel, rules: RulePack, catalog: Catalog | None = None) -> str:
    catalog = catalog or default_catalog()
    try:
        rule = rules.get(event.rule)
    except KeyError:
        return ""
    from shopsentinel.detect.registry import REGISTRY, detect

    cond = rule.conditions()[0]
    if cond.type not in REGISTRY:
        return ""
    resolver = SeriesResolver(panel, catalog)
    view = resolver.view(cond.metric, cond.window, cond.demand_days, cond.exposure)
    if view is None:
        return ""
    cols = [j for j, (s, k) in enumerate(zip(view.store_index, view.skus, strict=True)) if panel.stores[int(s)].store == event.store and k == event.sku]
    if not cols:
        return ""
    decision = detect(view, cond, resolver, int(rule.event_tail))
    at = int((event.start - panel.start) // timedelta(hours=1))
    stop = int(((event.end or event.start) - panel.start) // timedelta(hours=1))
    a, b = max(0, at - 72), min(panel.hours, stop + 24)
    c = cols[0]
    times = [t.strftime("%m-%d %H:%M") for t in panel.times()[a:b]]
    return svg_chart(times, decision.value[a:b, c], decision.expected[a:b, c], decision.lower[a:b, c], decision.upper[a:b, c], at - a, stop - a)


def write_report(path: Path, events: list[AlertEvent], charts: dict[int, str], title: str = "ShopSentinel 回测报告") -> None:
    rows = []
    for i, e in enumerate(events):
        chart = charts.get(i, "")
        rows.append(
            f'<section class="alert {html.escape(str(e.severity))}"><h3>{html.escape(e.message)}</h3>'
            f"<p>{html.escape(e.message_en)}</p>"
            f"<p><code>{html.escape(e.rule)}</code> · {e.start:%Y-%m-%d %H:%M} UTC → {(e.end.strftime('%Y-%m-%d %H:%M') + ' UTC') if e.end else '仍在告警 / still firing'} · incident <code>{html.escape(e.incident)}</code></p>"
            f"{chart}</section>"
        )
    doc = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>' + html.escape(title) + "</title>"
        "<style>body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:2em;max-width:760px}"
        "section{border-left:4px solid #999;padding:0 1em;margin:1.5em 0}.critical{border-color:#d1242f}.fatal{border-color:#6e0b0b}"
        ".warning{border-color:#bf8700}.info{border-color:#0969da}h3{font-size:1em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{len(events)} 条告警 / alerts</p>" + "".join(rows) + "</body></html>"
    )
    Path(path).write_text(doc, encoding="utf-8")
