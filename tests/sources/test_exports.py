"""Seller-console exports: each console's own column names, value formats, zones, and rejection."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from shopsentinel.core.errors import ImportFileError
from shopsentinel.ingest.folder import import_exports
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sources.exports import CONSOLES, read_export
from shopsentinel.sources.exports.values import BadValue, parse_value

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exports"
SH = "Asia/Shanghai"


def value(frame: pl.DataFrame, metric: str, ts: datetime, sku: str = "") -> float:
    hit = frame.filter(pl.col("metric") == metric, pl.col("ts") == ts, pl.col("sku") == sku)["value"]
    assert hit.len() == 1, (metric, ts, sku)
    return float(hit[0])


def test_sycm_hourly_csv_with_title_lines_money_and_percent() -> None:
    result = read_export(FIXTURES / "sycm_hourly.csv", platform="tmall", store="tm-1", timezone=SH)
    frame = result.frame
    first = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 2026-11-01 00:00 in Shanghai
    assert result.console == "sycm" and result.hourly and result.rows == 4  # the 合计 row is skipped
    assert value(frame, "uv", first) == 1024 and value(frame, "gmv", first) == 2345.6
    assert value(frame, "platform_pay_conversion_rate", first) == pytest.approx(0.0205)
    assert value(frame, "bounces", first) == round(0.4512 * 1024)  # 跳失率 × 访客数
    assert value(frame, "gmv", datetime(2026, 11, 1, 12, tzinfo=UTC)) == 12876.4  # 20:00 local
    third = datetime(2026, 10, 31, 18, tzinfo=UTC)
    assert frame.filter(pl.col("ts") == third, pl.col("metric") == "gmv").height == 0  # "-" is not zero
    assert set(frame["platform"]) == {"tmall"} and set(frame["store"]) == {"tm-1"}


def test_jd_daily_gbk_csv_maps_store_uv_column_to_uv() -> None:
    result = read_export(FIXTURES / "jd_shangzhi_daily.csv", platform="jd", store="jd-1", timezone=SH)
    day = datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert result.console == "jd_shangzhi" and not result.hourly
    assert value(result.frame, "uv", day) == 8650 and value(result.frame, "pv", day) == 25310
    assert value(result.frame, "paid_orders", day) == 212 and value(result.frame, "gmv", day) == 31002.5


def test_douyin_compass_xlsx_with_typed_cells() -> None:
    result = read_export(FIXTURES / "douyin_compass_hourly.xlsx", platform="douyin", store="dy-1", timezone=SH)
    hour = datetime(2026, 11, 1, 11, tzinfo=UTC)  # 19:00 local
    assert result.console == "douyin_compass" and result.hourly
    assert value(result.frame, "uv", hour) == 15230  # 观看人次 → uv
    assert value(result.frame, "product_exposure_users", hour) == 8840
    assert value(result.frame, "platform_pay_conversion_rate", hour) == pytest.approx(0.0926)  # a 0.00% cell
    assert value(result.frame, "gmv", datetime(2026, 11, 1, 13, tzinfo=UTC)) == 13310.5  # "¥13,310.50" text cell


def test_sycm_daily_xlsx_durations_and_unmapped_columns() -> None:
    result = read_export(FIXTURES / "sycm_daily.xlsx", platform="taobao", store="tb-1", timezone=SH)
    day = datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert value(result.frame, "avg_stay_seconds", day) == 65 and value(result.frame, "cs_response_seconds", day) == 28
    assert value(result.frame, "bounces", day) == round(0.4415 * 20480)
    assert result.unmapped_columns == ["老客复购率"]  # reported, not silently mapped


def test_pdd_goods_export_is_per_sku() -> None:
    result = read_export(FIXTURES / "pdd_qingbao_goods.csv", platform="pdd", store="pdd-1", timezone=SH)
    day = datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert value(result.frame, "uv", day, "635127743210") == 2310
    assert value(result.frame, "ad_spend", day, "635127743211") == 198.0
    assert set(result.frame["sku"]) == {"635127743210", "635127743211"}


def test_amazon_business_report_dollars_and_dst_aware_days() -> None:
    result = read_export(FIXTURES / "amazon_business_report.csv", platform="amazon", store="amz-1",
                         timezone="America/Los_Angeles")
    before, after = datetime(2026, 11, 1, 7, tzinfo=UTC), datetime(2026, 11, 2, 8, tzinfo=UTC)  # PDT, then PST
    assert value(result.frame, "gmv", before) == 1234.5 and value(result.frame, "uv", before) == 1870
    assert value(result.frame, "unit_session_percentage", after) == 2.96  # percent points, as the connector
    assert value(result.frame, "units_ordered", after) == 49


def test_each_layout_maps_to_known_platforms() -> None:
    assert {p for c in CONSOLES.values() for p in c.platforms} == {"tmall", "taobao", "jd", "douyin", "pdd", "amazon"}
    with pytest.raises(ImportFileError, match="no amazon export layout"):
        read_export(FIXTURES / "jd_shangzhi_daily.csv", platform="amazon", store="x", timezone=SH)
    with pytest.raises(ImportFileError, match="belong to jd"):
        read_export(FIXTURES / "jd_shangzhi_daily.csv", platform="pdd", store="x", timezone=SH, console="jd_shangzhi")


@pytest.mark.parametrize(("text", "kind", "expected"), [
    ("¥1,234.50", "money", 1234.5), ("$1,234.50", "money", 1234.5), ("-¥12.00", "money", -12.0),
    ("1234.5元", "money", 1234.5), ("3.21%", "ratio", 0.0321), ("0.0321", "ratio", 0.0321),
    ("1分5秒", "seconds", 65.0), ("2,048", "count", 2048.0),
])  # fmt: skip
def test_value_formats(text: str, kind: str, expected: float) -> None:
    assert parse_value(text, kind) == pytest.approx(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "kind"), [("12.5", "count"), ("¥1,2x4", "money"), ("abc%", "ratio"), ("-3", "count")])
def test_bad_values_are_refused(text: str, kind: str) -> None:
    with pytest.raises(BadValue):
        parse_value(text, kind)  # type: ignore[arg-type]


def test_malformed_file_is_rejected_with_file_line_and_column_and_nothing_earlier_is_lost(tmp_path: Path) -> None:
    with SyncDB(tmp_path / "m.duckdb") as db:
        import_exports(db, [FIXTURES / "sycm_hourly.csv"], platform="tmall", store="tm-1", timezone=SH)
        before = db.points("tmall", "tm-1")
        good_copy = tmp_path / "sycm_daily.xlsx"
        shutil.copy(FIXTURES / "sycm_daily.xlsx", good_copy)
        with pytest.raises(ImportFileError) as caught:  # a good file and a bad one: neither is stored
            import_exports(db, [good_copy, FIXTURES / "sycm_malformed.csv"], platform="tmall", store="tm-1", timezone=SH)
        after = db.points("tmall", "tm-1")
    error = caught.value
    assert error.file == str(FIXTURES / "sycm_malformed.csv") and error.line == 5 and error.field == "支付金额"
    assert "sycm_malformed.csv, line 5, column '支付金额'" in str(error)
    assert before.height > 20 and after.equals(before)


def test_reimporting_a_file_does_not_duplicate_points(tmp_path: Path) -> None:
    with SyncDB(tmp_path / "m.duckdb") as db:
        for _ in range(2):
            import_exports(db, [FIXTURES / "jd_shangzhi_daily.csv"], platform="jd", store="jd-1", timezone=SH)
        points = db.points("jd", "jd-1")
    assert points.height == 3 * 8  # three days × 8 mapped metrics
    assert points.select("ts", "metric").is_duplicated().sum() == 0


def test_duplicate_rows_and_bad_dates_name_their_line(tmp_path: Path) -> None:
    dup = tmp_path / "dup.csv"
    dup.write_text("日期,访客数\n2026-11-01,10\n2026-11-01,12\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as caught:
        read_export(dup, platform="jd", store="j", timezone=SH)
    assert caught.value.line == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("日期,访客数\n2026-13-01,10\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as caught:
        read_export(bad, platform="jd", store="j", timezone=SH)
    assert (caught.value.line, caught.value.field) == (2, "日期")
