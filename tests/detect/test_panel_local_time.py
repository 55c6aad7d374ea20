"""build_panel(): the hourly grid per store in its own time zone, gauges held only to their cadence,
sub-hourly points summed (counts) or last (gauges)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.panel import build_panel

LA = StoreInfo("la", "shopify", "la", "America/Los_Angeles")
SH = StoreInfo("sh", "tmall", "sh", "Asia/Shanghai")


def points(rows: list[tuple[datetime, str, str, str, float]], platform: str = "tmall") -> pl.DataFrame:
    """rows: (ts, store, metric, sku, value)."""
    return pl.DataFrame(
        {
            "ts": [r[0] for r in rows],
            "platform": [platform] * len(rows),
            "store": [r[1] for r in rows],
            "sku": [r[3] for r in rows],
            "metric": [r[2] for r in rows],
            "value": [r[4] for r in rows],
        },
        schema={"ts": pl.Datetime("us", "UTC"), "platform": pl.Utf8, "store": pl.Utf8, "sku": pl.Utf8, "metric": pl.Utf8, "value": pl.Float64},
    )


def test_local_hour_follows_zone_across_dst_end() -> None:
    start = datetime(2026, 10, 31, 12, tzinfo=UTC)
    panel = build_panel(pl.DataFrame(), [LA, SH], [], default_catalog(), start=start, hours=48)
    hours = panel.local_hour()
    # 2026-10-31 12:00 UTC = 05:00 PDT = 20:00 Shanghai
    assert hours[0, 0] == 5 and hours[0, 1] == 20
    assert panel.offsets[0, 0] == -7.0 and panel.offsets[0, 1] == 8.0
    # 2026-11-01 08:00 UTC = 01:00 PDT; 09:00 UTC = 01:00 PST (the repeated hour)
    i8 = int((datetime(2026, 11, 1, 8, tzinfo=UTC) - start) / timedelta(hours=1))
    assert hours[i8, 0] == 1 and hours[i8 + 1, 0] == 1 and hours[i8 + 2, 0] == 2
    assert panel.offsets[i8, 0] == -7.0 and panel.offsets[i8 + 1, 0] == -8.0
    # Shanghai keeps counting
    assert hours[i8, 1] == 16 and hours[i8 + 1, 1] == 17


def test_local_hour_across_dst_start_skips_two_am() -> None:
    start = datetime(2026, 3, 8, 8, tzinfo=UTC)  # 00:00 PST
    panel = build_panel(pl.DataFrame(), [LA], [], default_catalog(), start=start, hours=6)
    assert panel.local_hour()[:, 0].tolist() == [0, 1, 3, 4, 5, 6]


def test_unknown_store_and_out_of_range_points_are_ignored() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    df = points([
        (start, "sh", "uv", "", 5.0),
        (start, "ghost", "uv", "", 7.0),
        (start - timedelta(hours=1), "sh", "uv", "", 9.0),
        (start + timedelta(hours=3), "sh", "uv", "", 11.0),
    ])
    panel = build_panel(df, [SH], [], default_catalog(), start=start, hours=3)
    uv = panel.metrics["uv"]
    assert uv.values.shape == (3, 1)
    assert uv.values[0, 0] == 5.0
    assert np.isnan(uv.values[1:, 0]).all()  # a gap stays a gap
    assert panel.observed is not None and panel.observed[:, 0].tolist() == [True, False, False]


def test_sub_hourly_counts_are_summed_and_gauges_keep_the_latest() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    rows = []
    for q, (orders, stock) in enumerate([(1.0, 50.0), (2.0, 48.0), (3.0, 47.0), (4.0, 45.0)]):
        ts = start + timedelta(minutes=15 * q)
        rows.append((ts, "sh", "orders", "", orders))
        rows.append((ts, "sh", "stock", "SKU-1", stock))
    df = points(rows)
    df = df.sample(fraction=1.0, shuffle=True, seed=5)  # input order must not matter
    panel = build_panel(df, [SH], [], default_catalog(), start=start, hours=2)
    assert panel.metrics["orders"].values[0, 0] == 10.0
    assert panel.metrics["stock"].values[0, 0] == 45.0
    assert panel.metrics["stock"].skus == ["SKU-1"]
    assert np.isnan(panel.metrics["orders"].values[1, 0])


def test_daily_gauge_is_held_up_to_its_cadence_not_beyond() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    days = [0, 1, 2, 3, 6]  # reports on days 0-3, silent on days 4 and 5
    df = points([(start + timedelta(days=d), "sh", "dsr", "", 4.8 - 0.01 * d) for d in days])
    panel = build_panel(df, [SH], [], default_catalog(), start=start, hours=24 * 7)
    dsr = panel.metrics["dsr"]
    assert dsr.cadence_hours[0] == 24.0
    v = dsr.values[:, 0]
    assert np.allclose(v[0:24], 4.8)
    assert np.allclose(v[24 * 3 : 24 * 4], 4.77)
    assert np.isnan(v[24 * 4 : 24 * 6]).all()  # the silence is not papered over
    assert np.allclose(v[24 * 6 :], 4.74)


def test_daily_count_is_not_held() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    df = points([(start + timedelta(days=d), "sh", "orders", "", 10.0) for d in range(4)])
    panel = build_panel(df, [SH], [], default_catalog(), start=start, hours=24 * 4)
    v = panel.metrics["orders"].values[:, 0]
    assert np.count_nonzero(~np.isnan(v)) == 4
    assert v[0] == 10.0 and np.isnan(v[1])


def test_hourly_gauge_gap_is_not_filled() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    hours = [h for h in range(48) if not 10 <= h < 15]
    df = points([(start + timedelta(hours=h), "sh", "stock", "A", 100.0 - h) for h in hours])
    panel = build_panel(df, [SH], [], default_catalog(), start=start, hours=48)
    v = panel.metrics["stock"].values[:, 0]
    assert np.isnan(v[10:15]).all()
    assert v[15] == 85.0


def test_columns_per_store_and_sku() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    df = pl.concat([
        points([(start, "sh", "stock", "B", 2.0), (start, "sh", "stock", "A", 1.0)]),
        points([(start, "la", "stock", "A", 3.0)], platform="shopify"),
    ])
    panel = build_panel(df, [SH, LA], [], default_catalog(), start=start, hours=1)
    stock = panel.metrics["stock"]
    got = {(panel.stores[int(s)].store, k): stock.values[0, j] for j, (s, k) in enumerate(zip(stock.store_index, stock.skus, strict=True))}
    assert got == {("sh", "A"): 1.0, ("sh", "B"): 2.0, ("la", "A"): 3.0}


def test_calendar_events_apply_by_platform_and_store() -> None:
    start = datetime(2026, 11, 10, tzinfo=UTC)
    sale = CalendarEvent(start + timedelta(hours=2), start + timedelta(hours=4, minutes=30), "tmall", "", "双11", "promotion")
    other = CalendarEvent(start, start + timedelta(hours=1), "jd", "", "jd day", "promotion")
    panel = build_panel(pl.DataFrame(), [SH, LA], [sale, other], default_catalog(), start=start, hours=8)
    mask = panel.event_mask(("promotion",))
    assert mask[:, 0].tolist() == [False, False, True, True, True, False, False, False]
    assert not mask[:, 1].any()
    assert panel.event_mask(("promotion",), tail_hours=2)[:, 0].tolist() == [False, False, True, True, True, True, True, False]
    assert panel.event_mask(("holiday",)).sum() == 0
    assert panel.event_names(3, 0) == ["双11"]
