"""Giant orders (天价订单): an hour whose order value is far beyond anything the store has sold, with
a normal number of orders, is a business alert — never swallowed by cleaning, never silent."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.messages import format_value
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import default_rules
from shopsentinel.ingest.clean import clean
from tests.detect.conftest import HOURS, START, StoreData

RULE = "orders.giant_order"
AT = HOURS - 20


def _store(multiple_of_usual_hour: float, *, paid: bool = True) -> StoreData:
    data = StoreData().funnel()
    gmv = data.get("gmv")
    # Ordinary order values vary (±40%), as real baskets do.
    gmv[:] = np.round(data.get("paid_orders") * 120.0 * data.rng.lognormal(0, 0.2, HOURS), 2)
    gmv[AT] += multiple_of_usual_hour * float(np.mean(gmv[AT - 168:AT]))
    if not paid:
        del data.series[("paid_orders", "")]
    return data


def _alerts(data: StoreData, frame: pl.DataFrame | None = None) -> list:
    catalog = default_catalog()
    store = StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")
    panel = build_panel(data.frame() if frame is None else frame, [store], [], catalog, start=START, hours=HOURS)
    return evaluate_panel(panel, [default_rules().get(RULE)], catalog)


def test_one_order_worth_70_hours_fires_with_an_actionable_chinese_message() -> None:
    alerts = _alerts(_store(70))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind == "business" and alert.severity.value == "critical"
    assert alert.start == START + timedelta(hours=AT)
    assert alert.metric == "aov" and alert.value is not None and alert.expected is not None
    assert alert.upper is not None and alert.value >= alert.upper == 3 * alert.expected
    msg = alert.message
    assert msg.startswith("【严重】天猫 s1：疑似天价订单（本小时客单价 ")
    assert f"为近 28 天最高值 {format_value(alert.expected, '元')} 的" in msg
    assert format_value(alert.value, "元") in msg and "倍" in msg
    assert "支付订单数正常（" in msg and "请核对是否改价错误、数量误填或刷单" in msg


def test_ordinary_big_hours_and_order_bursts_stay_quiet() -> None:
    assert _alerts(_store(2)) == []  # a big hour, not beyond what the store sells
    burst = _store(0)
    burst.get("orders")[AT] *= 4
    burst.get("paid_orders")[AT] *= 4
    burst.get("gmv")[AT] *= 4  # many more orders of usual value: a burst, not a giant order
    assert _alerts(burst) == []


def test_cleaning_does_not_swallow_it() -> None:
    data = _store(70)
    cleaned, report = clean(data.frame(), default_catalog())
    assert not [f for f in report.findings if f.metric == "gmv"]
    assert len(_alerts(data, cleaned)) == 1


def test_a_unit_slip_of_a_whole_series_is_still_quarantined() -> None:
    """×1000 (元 read as 厘, every order of the hour) is beyond any order: a data finding."""
    data = _store(0)
    data.get("gmv")[AT] *= 1000
    _, report = clean(data.frame(), default_catalog())
    assert [f.kind for f in report.findings if f.metric == "gmv"] == ["impossible"]


def test_works_from_orders_when_paid_orders_are_not_reported() -> None:
    alerts = _alerts(_store(70, paid=False))
    assert len(alerts) == 1 and alerts[0].metric == "order_value"
    assert "本小时笔单价" in alerts[0].message and "下单数正常" in alerts[0].message


def test_one_giant_order_does_not_hide_the_next() -> None:
    data = _store(70)
    data.get("gmv")[AT - 72] += 70 * float(np.mean(data.get("gmv")[AT - 240:AT - 72]))
    assert len(_alerts(data)) == 2
