"""Issue 12, third round: a refund rate is judged against the orders its refunds come from.

Refunds follow the orders of the days before them. After two days of livestream sales the quiet
day's refunds are the stream days', and "refunds in 24 h ÷ paid orders in 24 h" doubles with no
surge at all. ``exposure: 72h`` on the default refund-rate rule reads the denominator over the last
three days (per 24 h): the quiet day keeps the busy days' orders in view, while refunds tripling against
those orders still alert.
"""

from __future__ import annotations

import numpy as np
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import Rule, default_rules
from shopsentinel.detect.series import SeriesResolver
from tests.detect.conftest import HOURS, START, StoreData

RULE = "refunds.rate_double_monthly"
LOCAL_DAY = (np.arange(HOURS) + 8) // 24  # Shanghai day number
BUSY_DAYS = (5, 6, 16, 17, 25, 26)  # livestream sales on no weekly rhythm
REFUND_RATE = 0.03
LAG = range(12, 49)  # a paid order is refunded 12–48 hours later


def _stream_seller(surge_factor: float = 1.0, seed: int = 11) -> tuple[StoreData, slice]:
    """Four weeks of paid orders, five times the usual level on a few pairs of stream days; 3% of them
    refunded 12–48 h later. On the last day, the quiet day after two stream days, refunds run at
    ``surge_factor`` × that."""
    data = StoreData(seed=seed, level=400.0)
    busy = np.isin(LOCAL_DAY, BUSY_DAYS)
    paid = data.rng.poisson(0.05 * data.level * data.shape * np.where(busy, 5.0, 1.0)).astype(float)
    exposure = np.zeros(HOURS)
    for lag in LAG:
        exposure[lag:] += paid[:-lag] / len(LAG)
    quiet = np.nonzero(LOCAL_DAY == 27)[0]
    factor = np.ones(HOURS)
    factor[quiet] = surge_factor
    refunds = data.rng.poisson(REFUND_RATE * exposure * factor).astype(float)
    data.set("paid_orders", paid)
    data.set("orders", paid)
    data.set("refunds", refunds)
    return data, slice(int(quiet[0]), int(quiet[-1]) + 1)


def _quiet_alerts(data: StoreData, quiet: slice, rule: Rule | None = None) -> list[int]:
    if rule is None:
        found = data.evaluate(RULE)
    else:
        catalog = default_catalog()
        store = StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")
        panel = build_panel(data.frame(), [store], [], catalog, start=START, hours=HOURS)
        found = [e for e in evaluate_panel(panel, [rule], catalog) if e.rule == RULE]
    hours = [int((e.start - START).total_seconds() // 3600) for e in found]
    return [h for h in hours if quiet.start <= h < quiet.stop + 12]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_the_quiet_day_after_busy_days_is_no_refund_surge(seed: int) -> None:
    data, quiet = _stream_seller(seed=seed)
    assert _quiet_alerts(data, quiet) == []


def test_without_the_exposure_the_stream_days_refunds_read_as_a_surge() -> None:
    """The same data judged on 24 h of orders alone (the rule before this round) alerts: the test
    above can fail."""
    rule = default_rules().get(RULE)
    leaf = rule.when.model_copy(update={"exposure": None})
    data, quiet = _stream_seller(seed=11)
    assert _quiet_alerts(data, quiet, rule.model_copy(update={"when": leaf})) != []


def test_refunds_tripling_against_the_recent_orders_still_alert() -> None:
    data, quiet = _stream_seller(surge_factor=3.0)
    assert _quiet_alerts(data, quiet) != []


def test_the_exposure_denominator_is_the_last_three_days_per_window() -> None:
    data, _ = _stream_seller()
    catalog = default_catalog()
    panel = build_panel(data.frame(), [StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")], [], catalog, start=START, hours=HOURS)
    resolver = SeriesResolver(panel, catalog)
    plain = resolver.view("refund_rate", 1)
    exposed = resolver.view("refund_rate", 1, exposure=72)
    assert plain is not None and exposed is not None and exposed.denominator is not None
    paid = data.get("paid_orders")
    t = HOURS - 1
    assert exposed.denominator[t, 0] == pytest.approx(paid[t - 71 : t + 1].sum() / 3)
    assert plain.denominator is not None and plain.denominator[t, 0] == pytest.approx(paid[t - 23 : t + 1].sum())
    assert np.array_equal(exposed.numerator, plain.numerator, equal_nan=True)
