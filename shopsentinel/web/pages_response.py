"""The response loop's measurements and predictions: 效果评估 (precision, recall, MTTA/MTTR, fatigue,
the weak-spot heatmap, patterns and the stock-out forecasts' track record), the backtested rule
suggestions on their own page (they are expensive, so never on page load), and 预测 (stock-out risk
per SKU, the 7-day sales forecast and a what-if check for one store)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from shopsentinel.insight import efficacy, track_record
from shopsentinel.insight.predict import WhatIfResult
from shopsentinel.insight.predict_service import sales_forecast, store_stockouts, store_what_if
from shopsentinel.runtime.suggestions import rule_suggestions
from shopsentinel.store.repository import list_stores
from shopsentinel.web.charts import Line, line_chart
from shopsentinel.web.core import Viewer, Web, render, templates

router = APIRouter(include_in_schema=False)

HIGH_RISK = 0.85
HEAT_MEASURES = ("alerts", "false_alarms", "misses", "weak_score")


def format_pct(value: float | None, digits: int = 0) -> str:
    """A share as a percentage: ``0.75`` → ``75%``; ``—`` for none.

    >>> format_pct(0.75), format_pct(0.8567, 1), format_pct(None)
    ('75%', '85.7%', '—')
    """
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * 100:.{digits}f}%"


templates.env.filters["pct"] = format_pct


# --- 效果评估 ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeatCell:
    value: int
    alerts: int
    false_alarms: int
    misses: int
    style: str  # inline background shaded by the value (empty for zero)


@dataclass(frozen=True)
class Heatmap:
    measure: str
    categories: list[str]
    rows: list[tuple[str, str, list[HeatCell | None]]]  # platform, store, a cell per category
    peak: int


def shade(value: int, peak: int) -> str:
    """Inline style of a heatmap cell: the blue's opacity grows with the value (white text once dark).

    >>> shade(0, 4), shade(4, 4)
    ('', 'background: rgba(29, 95, 209, 0.85); color: #fff')
    """
    if value <= 0 or peak <= 0:
        return ""
    alpha = round(0.12 + 0.73 * value / peak, 2)
    return f"background: rgba(29, 95, 209, {alpha}); color: {'#fff' if alpha >= 0.5 else 'inherit'}"


def heatmap_grid(cells: list[dict[str, Any]], measure: str) -> Heatmap:
    """The report's heatmap cells as a store × category grid (weakest stores first)."""
    categories = sorted({c["category"] for c in cells})
    by_store: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for c in cells:
        by_store.setdefault((c["platform"], c["store"]), {})[c["category"]] = c
    peak = max((int(c[measure]) for c in cells), default=0)
    order = sorted(by_store, key=lambda k: (-sum(c["weak_score"] for c in by_store[k].values()),
                                            -sum(c["alerts"] for c in by_store[k].values()), k))
    rows = []
    for key in order:
        row: list[HeatCell | None] = []
        for category in categories:
            cell = by_store[key].get(category)
            row.append(None if cell is None else HeatCell(int(cell[measure]), cell["alerts"], cell["false_alarms"],
                                                          cell["misses"], shade(int(cell[measure]), peak)))
        rows.append((key[0], key[1], row))
    return Heatmap(measure, categories, rows, peak)


@router.get("/efficacy")
def efficacy_page(request: Request, user: Viewer, web: Web, days: int = Query(default=30, ge=1, le=365),
                  fatigue_limit: int = Query(default=30, ge=1, le=10_000), heat: str = "alerts") -> Response:
    now = web.service.clock.now()
    since = now - timedelta(days=days)
    measure = heat if heat in HEAT_MEASURES else "alerts"
    with web.service.sessions() as session:
        data = efficacy.report(session, since, now, fatigue_limit=fatigue_limit)
        record = track_record.report(session, since, now)
    over = {w["recipient"] for w in data["fatigue"]["warnings"]}
    recipients = [(who, e, who in over, round(sum(e["days"].values()) / days, 1))
                  for who, e in sorted(data["fatigue"]["recipients"].items(), key=lambda kv: -kv[1]["max_per_day"])]
    return render(request, "efficacy.html", days=days, fatigue_limit=fatigue_limit, data=data, record=record,
                  recipients=recipients, heatmap=heatmap_grid(data["heatmap"], measure), measures=HEAT_MEASURES)


@router.get("/efficacy/suggestions")
def suggestions_page(request: Request, user: Viewer, web: Web, days: int = Query(default=30, ge=1, le=120)) -> Response:
    """The backtested suggestions, computed when asked for (the same as ``/api/v1/efficacy/suggestions``)."""
    now = web.service.clock.now()
    with web.service.sessions() as session:
        found = rule_suggestions(session, web.service, now, days)
    items = [(s, yaml.safe_dump(s.proposed, allow_unicode=True, sort_keys=False, width=100)) for s in found]
    return render(request, "suggestions.html", days=days, items=items)


# --- 预测 -------------------------------------------------------------------------------------------

class BadInput(ValueError):
    """A what-if value that is not a number in its range: the page says which."""

    def __init__(self, field: str, raw: str) -> None:
        super().__init__(field)
        self.field, self.raw = field, raw


def number(params: Any, name: str, default: float, lo: float, hi: float, *, lo_open: bool = False) -> float:
    """A query parameter as a finite number within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); empty → default.

    >>> number({"x": " 12.5 "}, "x", 0, -100, 100), number({}, "x", 3, 0, 5)
    (12.5, 3)
    """
    raw = str(params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(name, raw) from None
    if not math.isfinite(value) or value > hi or value < lo or (lo_open and value == lo):
        raise BadInput(name, raw)
    return value


@dataclass(frozen=True)
class WhatIfForm:
    price_change: float = 0.0
    uplift: float = 0.0
    elasticity: float = -1.5
    asked: bool = False


def what_if_form(params: Any) -> WhatIfForm:
    asked = any(params.get(k) not in (None, "") for k in ("price_change", "uplift", "elasticity"))
    return WhatIfForm(number(params, "price_change", 0.0, -100, 1000, lo_open=True), number(params, "uplift", 0.0, -100, 10_000),
                      number(params, "elasticity", -1.5, -10, 0), asked)


def _page(request: Request, stores: list[tuple[str, str, str]], chosen: str, *, status_code: int = 200,
          form: WhatIfForm | None = None, **context: Any) -> Response:
    context.setdefault("notice", None)
    context.setdefault("bad", None)
    return render(request, "predictions.html", status_code=status_code, stores=stores, chosen=chosen,
                  form=form or WhatIfForm(), high_risk=HIGH_RISK, **context)


@router.get("/predictions")
def predictions_page(request: Request, user: Viewer, web: Web, store: str = "") -> Response:
    """``store`` is ``platform/store``; without it only the store picker shows."""
    service = web.service
    now = service.clock.now()
    with service.sessions() as session:
        stores = [(s.platform, s.store, s.name or s.store) for s in list_stores(session)]
    chosen = store.strip()
    if not chosen:
        return _page(request, stores, "")
    platform, _, name = chosen.partition("/")
    if (platform, name) not in {(p, s) for p, s, _ in stores}:
        return _page(request, stores, chosen, status_code=404, notice=("pred.unknown_store", chosen))
    try:
        form = what_if_form(request.query_params)
    except BadInput as exc:
        return _page(request, stores, chosen, status_code=422, bad=exc)
    with service.sessions() as session:
        risks = store_stockouts(session, service.points, platform, name, now,
                                calibration=track_record.fit(session, now))
        sales = sales_forecast(session, service.points, platform, name, now, metric="gmv")
    result: WhatIfResult | None = None
    if form.asked:
        result = store_what_if(service.points, platform, name, now, price_change_pct=form.price_change,
                               uplift_pct=form.uplift, elasticity=form.elasticity)
    return _page(request, stores, chosen, form=form, platform=platform, store=name, risks=risks, sales=sales,
                 chart=_sales_chart(sales), result=result, now=now)


def _sales_chart(sales: list[Any]) -> Markup | None:
    if not sales:
        return None
    return line_chart([Line("forecast", [d.forecast for d in sales], "value", "forecast")],
                      lower=[d.low for d in sales], upper=[d.high for d in sales],
                      x_labels=[(i, d.date[5:]) for i, d in enumerate(sales)], height=200, title="gmv forecast",
                      chart_id="sales-chart")


def hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


templates.env.filters["hours"] = hours


__all__ = ["format_pct", "heatmap_grid", "number", "router", "shade"]
