"""Ads on a budget: the platform spends the daily budget as usual while each click costs more and
converts worse. The ad rules watch cost per click, ad conversion and ROI, whatever spend does."""

from __future__ import annotations

import numpy as np

from shopsentinel.detect.messages import format_value
from tests.detect.conftest import StoreData
from tests.detect.test_seed_rules import _ads_store, fired


def _budget(cpc: float, conversion: float, scale: float = 1.0) -> StoreData:
    data = _ads_store(1.0, 1.0 / conversion, cpc_factor=cpc)
    if scale != 1.0:  # a tiny account: a few clicks an hour
        for metric in ("ad_clicks", "ad_orders"):
            data.set(metric, np.round(data.get(metric) * scale))
        data.set("ad_spend", data.get("ad_clicks") * 1.5)
        data.set("ad_spend", np.where(np.arange(data.get("ad_spend").size) >= data.get("ad_spend").size - 24,
                                      data.get("ad_spend") * cpc, data.get("ad_spend")))
    data.set("ad_gmv", data.get("ad_orders") * 150.0)
    return data


def test_budget_capped_spend_flat_cpc_up_conversion_down_pages() -> None:
    data = _budget(cpc=1.8, conversion=1.8)
    spend = data.get("ad_spend")
    assert abs(spend[-24:-14].sum() / spend[-48:-38].sum() - 1) < 0.25  # spend did not move
    assert fired(data, "ads.cost_up_conversion_down")
    assert fired(data, "ads.roi_collapse")
    assert not fired(data, "ads.spend_runaway")  # spend did not run away


def test_the_message_quotes_cost_per_click_and_ad_conversion_with_units() -> None:
    data = _budget(cpc=1.8, conversion=1.8)
    alert = next(e for e in data.evaluate("ads.cost_up_conversion_down") if e.start.day == 28)
    assert "平均点击花费" in alert.message and "广告转化率" in alert.message
    assert "¥" in alert.message and "%" in alert.message and "近6小时" in alert.message
    assert alert.metric == "ad_cpc" and alert.value is not None and alert.expected is not None
    assert format_value(alert.value, "元") in alert.message and alert.value >= 1.5 * alert.expected


def test_near_misses_stay_quiet() -> None:
    assert not fired(_budget(cpc=1.2, conversion=1.8), "ads.cost_up_conversion_down")  # CPC up only 20%
    assert not fired(_budget(cpc=1.8, conversion=1.05), "ads.cost_up_conversion_down")  # conversion holds
    assert not fired(_budget(cpc=1.05, conversion=1.05), "ads.roi_collapse")


def test_a_tiny_account_does_not_page() -> None:
    """A few clicks an hour: the volume guard (clicks, spend in the window) keeps it quiet."""
    data = _budget(cpc=1.8, conversion=1.8, scale=0.02)
    assert np.convolve(data.get("ad_clicks")[-48:], np.ones(6), "valid").max() < 50  # under the guard
    assert not fired(data, "ads.cost_up_conversion_down")
    assert not fired(data, "ads.roi_collapse")


def test_spend_running_away_is_still_covered() -> None:
    assert fired(_ads_store(2.0, 0.5), "ads.spend_runaway")
    assert fired(_ads_store(1.6, 0.3), "ads.spend_up_conversion_collapse")
