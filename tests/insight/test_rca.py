"""Root-cause analysis: the decomposition adds up, names the injected cause, and is served by the API
and printed in notifications."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from shopsentinel.core.types import Point
from shopsentinel.insight.rca import Target, analyze, lmdi
from shopsentinel.insight.rca_service import NOTES
from shopsentinel.notify.base import Notification
from shopsentinel.notify.templates import render_markdown, render_plain
from tests.insight.conftest import START, add_alert, funnel_points, sku_points, upsert

WINDOW = START + timedelta(days=21, hours=10)


def frame(points: list[Point]) -> pl.DataFrame:
    return pl.DataFrame({"ts": [p.ts for p in points], "platform": [p.platform for p in points],
                         "store": [p.store for p in points], "sku": [p.sku for p in points],
                         "metric": [p.metric for p in points], "value": [p.value for p in points]})


def in_window(h: int) -> bool:
    return 21 * 24 + 10 <= h < 21 * 24 + 16


@pytest.mark.parametrize("factors", [[("a", 2.0, 3.0), ("b", 5.0, 1.0)], [("a", 1.0, 1.0)], [("a", 4.0, 0.0), ("b", 1.0, 2.0)]])
def test_lmdi_effects_add_up_to_the_change(factors: list[tuple[str, float, float]]) -> None:
    effects = lmdi(factors)
    floor = 1e-6
    before = math.prod(max(b, floor) for _, b, _ in factors)
    after = math.prod(max(a, floor) for _, _, a in factors)
    assert sum(effects.values()) == pytest.approx(after - before, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("kind", "expected"), [("conversion", "order_conversion"), ("uv", "traffic"), ("aov", "aov")])
def test_gmv_drop_is_attributed_to_the_injected_factor(kind: str, expected: str) -> None:
    scale = {kind: (lambda h: 0.4 if in_window(h) else 1.0)}
    points = funnel_points("tmall", "tm-1", START, 22 * 24, **scale)  # type: ignore[arg-type]
    result = analyze(frame(points), Target("tmall", "tm-1", "gmv", WINDOW, WINDOW + timedelta(hours=6)))
    assert result.cause == expected
    assert result.change_pct < -40
    assert sum(c.effect for c in result.contributors) == pytest.approx(result.after - result.before, rel=1e-6)
    assert result.contributors[0].share > 0.8
    assert result.text_zh.startswith("GMV −") and "解释了" in result.text_zh
    assert result.text_en.startswith("GMV −") and "explains" in result.text_en


def test_an_unusual_small_move_outranks_a_routine_larger_one() -> None:
    # Traffic swings ±25% from week to week and is 30% down; payment success never moves, until it drops 20%.
    weekly = [1.0, 1.25, 0.75]
    traffic = {"uv": lambda h: 0.7 if in_window(h) else weekly[(h // 168) % 3],
               "payment": lambda h: 0.8 if in_window(h) else 1.0}
    points = funnel_points("tmall", "tm-1", START, 22 * 24, **traffic)  # type: ignore[arg-type]
    result = analyze(frame(points), Target("tmall", "tm-1", "gmv", WINDOW, WINDOW + timedelta(hours=6)))
    assert {c.factor for c in result.contributors[:2]} == {"payment", "traffic"}
    assert result.cause == "payment"


def test_sku_stock_out_and_price_error_are_told_apart() -> None:
    out = sku_points("tmall", "tm-1", "SKU-1", START, 22 * 24, stock_out_from=21 * 24 + 10)
    result = analyze(frame(out), Target("tmall", "tm-1", "stock", WINDOW - timedelta(hours=30), WINDOW + timedelta(hours=6), sku="SKU-1"))
    assert result.cause == "stock" and result.window_start == WINDOW
    cheap = sku_points("tmall", "tm-1", "SKU-1", START, 22 * 24, price=lambda h: 19.0 if in_window(h) else 99.0)
    result = analyze(frame(cheap), Target("tmall", "tm-1", "price", WINDOW, WINDOW + timedelta(hours=6), sku="SKU-1"))
    assert result.cause == "price" and result.contributors[0].change_pct < -75
    assert "SKU SKU-1" in result.text_zh and "售价" in result.text_zh


def test_other_platform_moving_too_is_linked() -> None:
    drop = {"uv": lambda h: 0.3 if in_window(h) else 1.0}
    here = funnel_points("tmall", "tm-1", START, 22 * 24, **drop)  # type: ignore[arg-type]
    there = funnel_points("jd", "jd-1", START, 22 * 24, seed=5, **drop)  # type: ignore[arg-type]
    calm = funnel_points("pdd", "pdd-1", START, 22 * 24, seed=6)
    result = analyze(frame(here), Target("tmall", "tm-1", "gmv", WINDOW, WINDOW + timedelta(hours=6)),
                     linked_frames=[frame(there), frame(calm)])
    assert [(m.platform, m.store) for m in result.linked] == [("jd", "jd-1")]
    assert "jd/jd-1" in result.text_zh


def test_rca_endpoints_and_notification_line(api: Any) -> None:
    upsert(api, funnel_points("tmall", "tm-1", START, 22 * 24, conversion=lambda h: 0.35 if in_window(h) else 1.0))
    add_alert(api, alert_id="a-gmv", metric="gmv", start=WINDOW, end=WINDOW + timedelta(hours=6), incident="inc-1")
    add_alert(api, alert_id="a-orders", metric="orders", start=WINDOW + timedelta(hours=1), incident="inc-1",
              category="sales", root_rank=6)
    r = api.get("/api/v1/alerts/a-orders/rca")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["metric"] == "gmv" and body["cause"] == "order_conversion"
    assert sum(c["effect"] for c in body["contributors"]) == pytest.approx(body["after"] - body["before"], rel=1e-6)
    assert api.get("/api/v1/incidents/inc-1/rca").json()["cause"] == "order_conversion"
    assert api.get("/api/v1/incidents/nope/rca").status_code == 404
    assert api.get("/api/v1/alerts/nope/rca").status_code == 404
    # The note is cached for the templates: the message gets a 原因分析 line.
    alert = {"id": "a-orders", "ts": "2026-12-01T11:00:00Z", "state": "firing", "platform": "tmall", "store": "tm-1",
             "metric": "orders", "rule": "r", "severity": "critical", "kind": "business", "value": 1, "expected": 2,
             "incident": "inc-1"}
    text = render_markdown(Notification(key="k", title="t", severity="critical", alerts=[alert]), "dingtalk")
    assert "**原因分析**：GMV −" in text and "下单转化率" in text
    english = render_plain(Notification(key="k", title="t", severity="critical", lang="en", alerts=[alert]))
    assert "Root cause analysis: GMV −" in english and "order conversion" in english
    other = render_plain(Notification(key="k", title="t", severity="critical", alerts=[{**alert, "id": "unknown"}]))
    assert "原因分析" not in other
    assert NOTES.get("a-orders", "zh") is not None


def test_service_tick_notes_the_rca_of_new_firing_alerts(api: Any, clock: Any) -> None:
    from shopsentinel.store.response_state import RcaNoteRow

    upsert(api, funnel_points("tmall", "tm-2", START, 22 * 24, uv=lambda h: 0.3 if in_window(h) else 1.0))
    add_alert(api, alert_id="tick-uv", metric="gmv", store="tm-2", start=WINDOW, incident="inc-tick")
    add_alert(api, alert_id="tick-old", metric="gmv", store="tm-2", start=WINDOW - timedelta(days=5), incident="inc-old")
    clock.set(WINDOW + timedelta(hours=6))
    api.service.notify()
    with api.service.sessions() as session:
        note = session.get(RcaNoteRow, "tick-uv")
        assert note is not None and note.cause == "traffic" and note.text_zh.startswith("GMV −")
        assert session.get(RcaNoteRow, "tick-old") is None  # older than the look-back: not analysed on the tick
    assert NOTES.get("tick-uv", "en") == note.text_en
