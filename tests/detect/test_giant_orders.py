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
    # Deliberate (issue 12): the figure judged and quoted is the hour's implied largest order, not its average.
    assert msg.startswith("【严重】天猫 s1：疑似天价订单（本小时最大一笔订单约 ")
    assert f"为近 28 天最大单笔 {format_value(alert.expected, '元')} 的" in msg
    assert format_value(alert.value, "元") in msg and "倍" in msg
    assert "（支付订单数 " in msg and "请核对是否改价错误、数量误填或刷单" in msg


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
    assert "本小时最大一笔订单约" in alerts[0].message and "（下单数 " in alerts[0].message


def test_one_giant_order_does_not_hide_the_next() -> None:
    data = _store(70)
    data.get("gmv")[AT - 72] += 70 * float(np.mean(data.get("gmv")[AT - 240:AT - 72]))
    assert len(_alerts(data)) == 2


def _busy_store(giant_baskets: float, *, basket_cv: float = 0.9, seed: int = 5) -> StoreData:
    """About 20 orders an hour at the evening peak, each order's value gamma-distributed around ¥150."""
    data = StoreData(seed=seed, level=400.0).funnel()
    paid = data.get("paid_orders")
    shape = np.where(paid > 0, paid / basket_cv**2, 1.0)
    data.get("gmv")[:] = np.where(paid > 0, np.round(data.rng.gamma(shape, 150.0 * basket_cv**2), 2), 0.0)
    busiest = AT - 24 + int(np.argmax(paid[AT - 24:AT]))  # the peak hour of the last day
    data.get("gmv")[busiest] += giant_baskets * 150.0
    data.get("paid_orders")[busiest] += 1
    data.get("orders")[busiest] += 1
    return data


def test_a_giant_order_in_a_busy_hour_is_not_diluted_by_the_others() -> None:
    """One order of 60 baskets among ~20 ordinary ones lifts the hour's AOV about 4×, short of 3× the
    28-day high of quiet night hours (1–3 orders): the average missed it, the largest order does not."""
    data = _busy_store(60)
    busiest = int(np.argmax(data.get("gmv")[AT - 24:AT])) + AT - 24
    aov = data.get("gmv") / np.where(data.get("paid_orders") > 0, data.get("paid_orders"), np.nan)
    assert aov[busiest] < 3 * np.nanmax(aov[: busiest - busiest % 24])  # what the average saw
    alerts = _alerts(data)
    assert [a.start for a in alerts] == [START + timedelta(hours=busiest)]


def test_lumpy_baskets_without_a_giant_order_stay_quiet() -> None:
    """Heavy-tailed ordinary orders (a wholesaler's, coefficient of variation 1.6) and a 5-basket order:
    within what the store's biggest orders of four weeks already reached."""
    assert _alerts(_busy_store(0, basket_cv=1.6)) == []
    assert _alerts(_busy_store(5, basket_cv=1.6)) == []
