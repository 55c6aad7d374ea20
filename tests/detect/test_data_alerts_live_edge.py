"""What silence means for data alerts (issue 13 items 1 and 2, issue 12 item 7).

Pure panels first: the backtest reports every historic whole-store outage of 2 hours or more; the
live view judges freshness at the live edge only (a store fresh at its previous evaluation and
silent for the tolerance now fires; a past gap or a store never seen fresh does not; an open alert
is kept while silent and resolved when data is back); "stopped reporting" is only for a store-level
flow that always had data — never a per-SKU series, never a snapshot that did not change.
Then the live service on SQLite and PostgreSQL: a 2-hour whole-store silence at the live edge fires
``data.store_silent`` and the next hour's data resolves it; the tolerance is a setting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from shopsentinel.catalog import default_catalog
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings
from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.panel import Panel, build_panel
from shopsentinel.detect.quality import live_silent_store_alerts, silent_metric_alerts, silent_store_alerts
from shopsentinel.sources.hourly import POINT_SCHEMA

T0 = datetime(2026, 11, 2, tzinfo=UTC)
H = timedelta(hours=1)
STORE = StoreInfo("s1", "jd", "s1", "Asia/Shanghai")
KEY = ("jd", "s1")


def panel(rows: list[tuple[int, str, str, float]], hours: int) -> Panel:
    """A one-store panel of ``hours`` from ``T0``; rows are (hour index, metric, sku, value)."""
    frame = pl.DataFrame([(T0 + i * H, "jd", "s1", sku, m, v) for i, m, sku, v in rows], schema=POINT_SCHEMA, orient="row")
    return build_panel(frame, [STORE], [], default_catalog(), start=T0, hours=hours)


def hourly(metric: str, hours: range, value: float = 100.0, sku: str = "") -> list[tuple[int, str, str, float]]:
    return [(i, metric, sku, value) for i in hours]


# ---------------------------------------------------------------- the backtest's view


def test_every_historic_outage_of_two_hours_is_one_alert_and_one_hour_is_none() -> None:
    rows = hourly("uv", range(0, 10)) + hourly("uv", range(12, 20)) + hourly("uv", range(21, 30))  # 2 h, then 1 h
    [alert] = silent_store_alerts(panel(rows, 30))
    assert (alert.rule, alert.kind, alert.start, alert.end) == ("data.store_silent", "data", T0 + 11 * H, T0 + 12 * H)
    assert "北京时间 2026-11-02 18:00" in alert.message  # 10:00 UTC, as the operations lead reads it
    assert silent_store_alerts(panel(rows, 30), hours=3) == []


def test_a_store_that_reports_daily_is_silent_only_after_two_missed_reports() -> None:
    days = [0, 1, 2, 3, 4, 5, 6, 9, 10, 11]  # one report a day at the same hour; days 7 and 8 missed
    rows = [(24 * d + 18, "orders", "", 40.0) for d in days]
    first, alert = silent_store_alerts(panel(rows, 24 * 12))  # the 23 silent hours after each report are its rhythm
    assert first.start == T0 + 20 * H  # after the very first report no rhythm is known yet: hourly is assumed
    begin = T0 + (24 * 6 + 19) * H  # the hour after day 6's report
    assert (alert.start, alert.end) == (begin + 47 * H, T0 + (24 * 9 + 18) * H)
    assert "48 小时" in alert.message
    hourly_rows = [(i, "orders", "", 4.0) for i in range(0, 100) if not 50 <= i < 53]
    [gap] = silent_store_alerts(panel(hourly_rows, 100))  # an hourly store: 3 hours without data is news
    assert gap.start == T0 + 51 * H


def test_a_daily_store_at_the_live_edge_is_not_silent_between_its_reports() -> None:
    rows = [(24 * d + 18, "orders", "", 40.0) for d in range(8)]  # the last report at hour 186
    between = panel(rows, 24 * 8 + 20)  # 25 closed hours since: its usual rhythm
    assert live_silent_store_alerts(between, hours=2, previous_end={KEY: T0 + 200 * H}, open_since={}) == []
    missed = panel(rows, 24 * 10)  # 53 silent hours: two reports missed
    [alert] = live_silent_store_alerts(missed, hours=2, previous_end={KEY: T0 + 230 * H}, open_since={})
    assert alert.start == T0 + (186 + 48) * H


# ---------------------------------------------------------------- the live view


def test_a_store_fresh_at_its_previous_evaluation_and_silent_for_two_hours_now_fires() -> None:
    p = panel(hourly("uv", range(0, 10)), 12)  # hours 10 and 11 closed without data
    [alert] = live_silent_store_alerts(p, hours=2, previous_end={KEY: T0 + 11 * H}, open_since={})
    assert (alert.rule, alert.start, alert.end, alert.severity) == ("data.store_silent", T0 + 11 * H, None, "critical")
    assert "已连续 2 小时以上没有收到" in alert.message and "北京时间 2026-11-02 18:00" in alert.message
    one_hour = panel(hourly("uv", range(0, 11)), 12)
    assert live_silent_store_alerts(one_hour, hours=2, previous_end={KEY: T0 + 11 * H}, open_since={}) == []
    assert live_silent_store_alerts(p, hours=3, previous_end={KEY: T0 + 11 * H}, open_since={}) == []


def test_a_gap_of_the_past_or_a_store_never_seen_fresh_raises_nothing() -> None:
    backfilled_so_far = panel(hourly("uv", range(0, 72)), 24 * 28)  # three days of history, weeks before now
    assert live_silent_store_alerts(backfilled_so_far, hours=2, previous_end={}, open_since={}) == []
    assert live_silent_store_alerts(backfilled_so_far, hours=2, previous_end={KEY: T0 + 24 * 28 * H},
                                    open_since={}) == []
    gap_filled = panel(hourly("uv", range(0, 5)) + hourly("uv", range(9, 20)), 20)  # the past gap is not news
    assert live_silent_store_alerts(gap_filled, hours=2, previous_end={KEY: T0 + 19 * H}, open_since={}) == []


def test_an_open_alert_is_kept_while_silent_and_resolved_when_data_is_back() -> None:
    opened = T0 + 11 * H
    still = panel(hourly("uv", range(0, 10)), 15)
    [kept] = live_silent_store_alerts(still, hours=2, previous_end={KEY: T0 + 14 * H}, open_since={KEY: opened})
    assert (kept.start, kept.end) == (opened, None)
    back = panel(hourly("uv", range(0, 10)) + hourly("uv", range(14, 16)), 16)
    [closed] = live_silent_store_alerts(back, hours=2, previous_end={KEY: T0 + 15 * H}, open_since={KEY: opened})
    assert (closed.start, closed.end) == (opened, T0 + 14 * H)
    backfilled = panel(hourly("uv", range(0, 16)), 16)  # the gap was filled afterwards: it still ends
    [ended] = live_silent_store_alerts(backfilled, hours=2, previous_end={KEY: T0 + 15 * H}, open_since={KEY: opened})
    assert ended.start == opened and ended.end is not None and ended.end > opened


# ---------------------------------------------------------------- stopped reporting


def test_only_a_store_level_flow_that_always_had_data_is_stopped_reporting() -> None:
    rows = hourly("uv", range(48)) + hourly("orders", range(30), 5)  # orders stop at hour 30, UV goes on
    rows += hourly("units_sold", range(0, 48, 5), 2, sku="SKU-1")  # sells now and then: not a stopped feed
    rows += hourly("price", range(0, 10), 99.0, sku="SKU-1") + hourly("stock", range(0, 10), 40, sku="SKU-1")
    rows += hourly("stock", range(0, 20), 40, sku="SKU-2")  # a per-SKU series that stops: not a data alert
    rows += hourly("dsr", range(0, 20), 4.8)  # a snapshot that did not change is not sent again
    rows += [(i, "refunds", "", 1.0) for i in range(0, 40) if i % 3]  # comes and goes: did not stop now
    alerts = silent_metric_alerts(panel(rows, 48))
    assert [(a.rule, a.metric, a.sku, a.start) for a in alerts] == [("data.metric_silent", "orders", "", T0 + 32 * H)]
    assert "下单数(orders)" in alerts[0].message and "北京时间 2026-11-03 14:00" in alerts[0].message


# ---------------------------------------------------------------- the live service


def _push(api: Any, clock: ManualClock, hours: int) -> None:
    for _ in range(hours):  # each hour's figures arrive as the hour closes
        clock.advance(H)
        ts = clock.now() - H
        points = [{"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "jd", "store": "jd-1", "metric": m, "value": v}
                  for m, v in (("uv", 100), ("orders", 5))]
        assert api.post("/api/v1/points", json={"points": points}).status_code == 200
        api.service.tick()


def _data_alerts(api: Any) -> list[tuple[str, str]]:
    items = api.get("/api/v1/alerts", params={"store": "jd-1", "limit": 1000}).json()["items"]
    return sorted((a["rule"], a["state"]) for a in items if a["kind"] == "data")


def test_a_two_hour_silence_at_the_live_edge_fires_and_fresh_data_resolves_it(api: Any, clock: ManualClock) -> None:
    _push(api, clock, 6)
    clock.advance(H)  # one closed hour without data: within the tolerance
    api.service.tick()
    assert _data_alerts(api) == []
    clock.advance(H)  # the second one
    api.service.tick()
    assert _data_alerts(api) == [("data.store_silent", "firing")]
    [alert] = api.get("/api/v1/alerts", params={"state": "firing", "store": "jd-1"}).json()["items"]
    assert alert["kind"] == "data" and alert["severity"] == "critical"
    clock.advance(H)
    api.service.tick()  # still silent: the same alert
    assert _data_alerts(api) == [("data.store_silent", "firing")]
    _push(api, clock, 1)  # data is back
    assert _data_alerts(api) == [("data.store_silent", "resolved")]


def test_the_tolerance_is_a_setting(database_url: str, clock: ManualClock, api_factory: Any) -> None:
    assert Settings(database_url="sqlite://", _env_file=None).store_silent_hours == 2  # type: ignore[call-arg]
    api = api_factory(database_url, clock, store_silent_hours=3)
    _push(api, clock, 6)
    clock.advance(2 * H)
    api.service.tick()
    assert _data_alerts(api) == []
    clock.advance(H)
    api.service.tick()
    assert _data_alerts(api) == [("data.store_silent", "firing")]
