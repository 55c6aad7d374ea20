"""clean(): duplicates, conflicting duplicates, missing values and impossible values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.ingest.clean import clean

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def frame(rows: list[tuple[int, str, float | None]], *, sku: str = "", store: str = "s1") -> pl.DataFrame:
    """rows: (hour, metric, value); line numbers are 2, 3, … in the given order."""
    return pl.DataFrame(
        {
            "line": [i + 2 for i in range(len(rows))],
            "ts": [T0 + timedelta(hours=h) for h, _, _ in rows],
            "platform": ["tmall"] * len(rows),
            "store": [store] * len(rows),
            "sku": [sku] * len(rows),
            "metric": [m for _, m, _ in rows],
            "value": [v for _, _, v in rows],
        },
        schema={"line": pl.Int64, "ts": pl.Datetime("us", "UTC"), "platform": pl.Utf8, "store": pl.Utf8,
                "sku": pl.Utf8, "metric": pl.Utf8, "value": pl.Float64},
    )


def values_by_hour(df: pl.DataFrame, metric: str) -> dict[int, float]:
    sub = df.filter(pl.col("metric") == metric).sort("ts")
    return {int((t - T0) / timedelta(hours=1)): v for t, v in zip(sub.get_column("ts"), sub.get_column("value"), strict=True)}


def test_exact_duplicates_dropped_silently() -> None:
    df = frame([(0, "uv", 10.0), (1, "uv", 11.0), (0, "uv", 10.0), (0, "uv", 10.0)])
    out, report = clean(df, default_catalog())
    assert values_by_hour(out, "uv") == {0: 10.0, 1: 11.0}
    assert report.exact_duplicates == 2
    assert report.conflicts == 0
    assert report.rows_in == 4 and report.rows_out == 2
    assert [f.kind for f in report.findings] == []


def test_conflicting_duplicate_keeps_last_line_and_reports_dropped_line() -> None:
    df = frame([(0, "uv", 10.0), (1, "uv", 11.0), (0, "uv", 99.0), (2, "uv", 12.0)])
    out, report = clean(df, default_catalog())
    assert values_by_hour(out, "uv") == {0: 99.0, 1: 11.0, 2: 12.0}
    assert report.conflicts == 1
    conflicts = [f for f in report.findings if f.kind == "conflict"]
    assert len(conflicts) == 1
    assert conflicts[0].line == 2
    assert conflicts[0].value == 10.0
    assert "line 2" in conflicts[0].detail
    assert conflicts[0].ts == T0


def test_conflict_among_three_lines_keeps_the_last() -> None:
    df = frame([(0, "orders", 1.0), (0, "orders", 2.0), (0, "orders", 3.0)])
    out, report = clean(df, default_catalog())
    assert values_by_hour(out, "orders") == {0: 3.0}
    assert sorted(f.line for f in report.findings if f.kind == "conflict") == [2, 3]


def test_conflict_a_b_a_keeps_value_of_last_line() -> None:
    df = frame([(0, "uv", 5.0), (0, "uv", 7.0), (0, "uv", 5.0)])
    out, report = clean(df, default_catalog())
    assert values_by_hour(out, "uv") == {0: 5.0}
    assert report.conflicts >= 1


def test_same_ts_different_sku_or_metric_is_not_a_duplicate() -> None:
    df = pl.concat([frame([(0, "stock", 5.0)], sku="A"), frame([(0, "stock", 6.0)], sku="B"), frame([(0, "price", 5.0)], sku="A")])
    out, report = clean(df, default_catalog())
    assert out.height == 3
    assert report.conflicts == 0 and report.exact_duplicates == 0


def test_empty_values_are_findings_not_zeros() -> None:
    df = frame([(0, "orders", 4.0), (1, "orders", None), (2, "orders", 5.0)])
    out, report = clean(df, default_catalog())
    assert values_by_hour(out, "orders") == {0: 4.0, 2: 5.0}
    assert report.missing_values == 1
    missing = [f for f in report.findings if f.kind == "missing_value"]
    assert [(f.line, f.metric, f.value) for f in missing] == [(3, "orders", None)]


@pytest.mark.parametrize("metric", ["orders", "uv", "gmv", "refunds", "stock"])
def test_negative_counts_amounts_and_stock_quarantined(metric: str) -> None:
    df = frame([(0, metric, 3.0), (1, metric, -2.0), (2, metric, 4.0)], sku="SKU-1" if metric == "stock" else "")
    out, report = clean(df, default_catalog())
    assert values_by_hour(out, metric) == {0: 3.0, 2: 4.0}
    assert report.quarantined == 1
    bad = [f for f in report.findings if f.kind == "impossible"]
    assert len(bad) == 1 and bad[0].value == -2.0 and bad[0].line == 3
    assert "negative" in bad[0].detail


def test_negative_custom_metric_is_kept() -> None:
    df = frame([(h, "temperature_delta", -5.0 + h) for h in range(5)])
    out, report = clean(df, default_catalog())
    assert report.quarantined == 0
    assert values_by_hour(out, "temperature_delta")[0] == -5.0


def test_dsr_outside_range_quarantined() -> None:
    df = frame([(0, "dsr", 4.8), (1, "dsr", 48.0), (2, "dsr", 4.7)])
    out, report = clean(df, default_catalog())
    assert values_by_hour(out, "dsr") == {0: 4.8, 2: 4.7}
    assert report.quarantined == 1


def _hourly(n: int, value: float, metric: str = "gmv") -> list[tuple[int, str, float | None]]:
    return [(h, metric, value) for h in range(n)]


def test_far_outside_previous_month_quarantined_and_absent() -> None:
    rows = _hourly(200, 100.0, metric="orders")
    rows[150] = (150, "orders", 100.0 * 20 + 1)  # > 20 × the largest of the past
    out, report = clean(frame(rows), default_catalog())
    got = values_by_hour(out, "orders")
    assert 150 not in got
    assert len(got) == 199
    assert report.quarantined == 1
    finding = next(f for f in report.findings if f.kind == "impossible")
    assert finding.value == 2001.0 and finding.line == 152
    assert "20" in finding.detail


def test_a_custom_metrics_huge_spike_is_kept_for_the_auto_detector() -> None:
    """Nothing says what a custom KPI can be: its 50× spike is news for ``auto``, not a typo."""
    rows = _hourly(200, 100.0, metric="tweet_volume")
    rows[150] = (150, "tweet_volume", 5000.0)
    out, report = clean(frame(rows), default_catalog())
    assert report.quarantined == 0 and values_by_hour(out, "tweet_volume")[150] == 5000.0


def test_at_most_twenty_times_is_believable() -> None:
    rows = _hourly(200, 100.0)
    rows[150] = (150, "gmv", 1999.0)  # a promotion peak: under 20×
    rows[160] = (160, "gmv", 2000.0)  # exactly 20×: not "more than"
    out, report = clean(frame(rows), default_catalog())
    got = values_by_hour(out, "gmv")
    assert got[150] == 1999.0 and got[160] == 2000.0
    assert report.quarantined == 0


def test_far_outside_uses_only_the_past_month() -> None:
    # the first day (fewer than 24 points of history) is never judged "far outside"; a big value
    # stays in the history for about a month (720 hourly points) and then drops out of it
    rows = _hourly(800, 100.0)
    rows[5] = (5, "gmv", 1_000_000.0)
    rows[99] = (99, "gmv", 1_000_000.0)  # the month before contains 1e6: believable
    rows[790] = (790, "gmv", 1_000_000.0)  # hour 99 is within the previous 720 points
    rows[799] = (799, "gmv", 5_000_000.0)  # 5x the previous month's largest value
    out, report = clean(frame(rows), default_catalog())
    got = values_by_hour(out, "gmv")
    assert got[5] == 1_000_000.0
    assert got[99] == 1_000_000.0
    assert got[790] == 1_000_000.0
    assert got[799] == 5_000_000.0
    assert report.quarantined == 0
    rows[99] = (99, "gmv", 100.0)
    rows[799] = (799, "gmv", 100.0)
    out, report = clean(frame(rows), default_catalog())
    got = values_by_hour(out, "gmv")
    assert 790 not in got  # hour 5 is more than a month back
    assert report.quarantined == 1


def test_history_is_per_series() -> None:
    big = frame(_hourly(60, 10_000.0), store="big")
    small = frame(_hourly(60, 10.0), store="small")
    small = small.with_columns(pl.when(pl.col("ts") == T0 + timedelta(hours=50)).then(5_000.0).otherwise(pl.col("value")).alias("value"))
    out, report = clean(pl.concat([big, small]), default_catalog())
    assert report.quarantined == 1
    assert [f.store for f in report.findings if f.kind == "impossible"] == ["small"]
    assert out.filter(pl.col("store") == "big").height == 60


def test_two_consecutive_far_outside_values_are_both_quarantined() -> None:
    rows = _hourly(100, 100.0)
    rows[60] = (60, "gmv", 1_000_000.0)
    rows[61] = (61, "gmv", 1_000_000.0)
    out, report = clean(frame(rows), default_catalog())
    got = values_by_hour(out, "gmv")
    assert 60 not in got and 61 not in got
    assert report.quarantined == 2


def test_summary_counts() -> None:
    rows = [(0, "uv", 1.0), (0, "uv", 1.0), (1, "uv", None), (2, "uv", -1.0), (3, "uv", 2.0), (3, "uv", 3.0)]
    _, report = clean(frame(rows), default_catalog())
    assert report.summary() == {
        "rows_in": 6, "rows_out": 2, "exact_duplicates": 1, "conflicting_duplicates": 1,
        "missing_values": 1, "quarantined": 1,
    }
