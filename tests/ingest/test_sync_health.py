"""Data-health problems (sync failed / fell behind) and the cross-platform stock check (库存同步失败)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import polars as pl
import pytest

from shopsentinel.core.errors import InputError
from shopsentinel.ingest.sync import data_health_problems, stock_sync_findings
from shopsentinel.ingest.sync_state import Health, StockGroup, StockMember, SyncDB
from shopsentinel.ingest.sync_stores import declare_stock_groups, read_stock_groups
from shopsentinel.sources.hourly import POINT_SCHEMA

NOW = datetime(2026, 11, 11, 12, tzinfo=UTC)


def test_failed_lagging_and_never_synced_stores_are_problems_healthy_ones_are_not() -> None:
    health = [
        Health("taobao", "ok", last_success=NOW, synced_until=NOW - timedelta(hours=1)),
        Health("jd", "failing", synced_until=NOW - timedelta(hours=1), last_error="AuthError: bad token",
               consecutive_failures=3, last_attempt=NOW),
        Health("pdd", "behind", synced_until=NOW - timedelta(hours=7)),
        Health("douyin", "new"),
    ]
    problems = data_health_problems(health, NOW, max_lag_hours=3)
    found = {(p.store, p.problem, p.severity) for p in problems}
    assert found == {("failing", "sync_failed", "critical"), ("behind", "sync_lagging", "warning"),
                     ("new", "never_synced", "warning")}
    failing = next(p for p in problems if p.store == "failing")
    assert "AuthError: bad token" in failing.message
    assert next(p for p in problems if p.store == "behind").lag_hours == 7.0
    assert data_health_problems(health[:1], NOW + timedelta(hours=5), max_lag_hours=3)[0].severity == "warning"
    alert = failing.alert_fields(NOW)
    assert alert["kind"] == "data" and alert["state"] == "firing" and alert["rule"] == "data.sync_failed"
    assert alert["ts"] == "2026-11-11T12:00:00Z" and alert["severity"] == "critical"
    schema = json.loads((Path(__file__).parents[1] / "fixtures" / "alert.schema.json").read_text(encoding="utf-8"))
    for problem in problems:
        jsonschema.validate(problem.alert_fields(NOW, max_lag_hours=3), schema)


def test_a_failing_sync_that_fell_behind_is_one_alert_that_says_both() -> None:
    failing = Health("tmall", "tm-3", synced_until=NOW - timedelta(hours=8), last_error="AuthError: revoked",
                     consecutive_failures=1, last_attempt=NOW)
    [problem] = data_health_problems([failing], NOW, max_lag_hours=3)  # not also "sync_lagging"
    assert problem.problem == "sync_failed" and problem.severity == "warning" and problem.lag_hours == 8.0
    assert "AuthError: revoked" in problem.message and "数据已延迟 8.0 小时" in problem.message
    [later] = data_health_problems([failing], NOW + timedelta(hours=6), max_lag_hours=3)
    assert later.problem == "sync_failed" and later.severity == "critical"  # 14 h behind: over 4× the limit
    recovered = Health("tmall", "tm-3", synced_until=NOW - timedelta(hours=8))  # the failure cleared, still behind
    assert [p.problem for p in data_health_problems([recovered], NOW, max_lag_hours=3)] == ["sync_lagging"]


def test_health_round_trips_through_the_database() -> None:
    with SyncDB(":memory:") as db:
        db.record_failure("jd", "s1", NOW, "PlatformError: [19] invalid sign")
        db.record_failure("jd", "s1", NOW + timedelta(minutes=5), "PlatformError: [19] invalid sign")
        failed = db.health("jd", "s1")
        db.record_success("jd", "s1", NOW + timedelta(minutes=10), NOW)
        ok = db.health("jd", "s1")
    assert failed.consecutive_failures == 2 and failed.last_attempt == NOW + timedelta(minutes=5)
    assert ok.consecutive_failures == 0 and ok.last_error is None and ok.synced_until == NOW


def stock_frame(rows: list[tuple[str, str, str, int, float]]) -> pl.DataFrame:
    data = [(NOW - timedelta(hours=h), p, s, sku, "stock", v) for p, s, sku, h, v in rows]
    return pl.DataFrame(data, schema=POINT_SCHEMA, orient="row")


def test_only_declared_groups_are_compared_beyond_their_tolerance_and_lag() -> None:
    frame = stock_frame([
        ("tmall", "tm", "A", 5, 40), ("jd", "jd1", "A-jd", 5, 55),  # different for 5 h: a finding
        ("tmall", "tm", "B", 5, 10), ("jd", "jd1", "B-jd", 5, 30), ("jd", "jd1", "B-jd", 1, 10),  # equal again 1 h ago
        ("tmall", "tm", "C", 5, 10), ("jd", "jd1", "C-jd", 5, 12),  # within the tolerance
        ("tmall", "tm", "D", 0, 10), ("jd", "jd1", "D-jd", 0, 90),  # apart only since now: still syncing
        ("tmall", "tm", "E", 5, 10), ("jd", "jd1", "E-jd", 5, 90),  # never declared
    ])  # fmt: skip

    def group(name: str, sku: str) -> StockGroup:
        return StockGroup(name, (StockMember("tmall", "tm", sku), StockMember("jd", "jd1", f"{sku}-jd")),
                          tolerance=3, lag_hours=2)

    groups = [group(name, name) for name in "ABCD"]
    findings = stock_sync_findings(frame, groups, now=NOW)
    assert [(f.group, f.spread, f.quantities) for f in findings] == [("A", 15.0, {"jd/jd1/A-jd": 55.0, "tmall/tm/A": 40.0})]
    assert stock_sync_findings(frame, [], now=NOW) == []  # nothing declared: nothing compared
    assert [f.group for f in stock_sync_findings(frame, groups, now=NOW + timedelta(hours=3))] == ["A", "D"]


def test_a_group_with_the_erp_figure_compares_each_member_with_it() -> None:
    frame = stock_frame([("erp", "wms", "X", 4, 100), ("tmall", "tm", "X1", 4, 100), ("jd", "jd1", "X2", 4, 93)])
    members = (StockMember("erp", "wms", "X", reference=True), StockMember("tmall", "tm", "X1"), StockMember("jd", "jd1", "X2"))
    [finding] = stock_sync_findings(frame, [StockGroup("X", members, tolerance=5)], now=NOW)
    assert finding.reference == "erp/wms/X" and finding.spread == 7.0
    assert list(finding.quantities) == ["erp/wms/X", "jd/jd1/X2", "tmall/tm/X1"]  # the ERP figure first
    assert stock_sync_findings(frame, [StockGroup("X", members, tolerance=7)], now=NOW) == []


def test_stock_groups_round_trip_through_the_sync_database_and_a_csv(tmp_path: Path) -> None:
    csv = tmp_path / "stock_groups.csv"
    csv.write_text("group,platform,store,sku,tolerance,lag_hours,reference\n"
                   "羽绒服-黑M,tmall,tm-1,SKU-001,2,3,\n羽绒服-黑M,jd,jd-1,100012345,,,\n"
                   "羽绒服-黑M,erp,wms,HX-BLK-M,,,yes\n", encoding="utf-8")
    groups = read_stock_groups(csv)
    with SyncDB(":memory:") as db:
        declare_stock_groups(db, groups)
        stored = db.stock_groups()
        db.delete_stock_group("羽绒服-黑M")
        assert db.stock_groups() == []
    assert stored == groups == [StockGroup("羽绒服-黑M", (
        StockMember("erp", "wms", "HX-BLK-M", reference=True), StockMember("jd", "jd-1", "100012345"),
        StockMember("tmall", "tm-1", "SKU-001")), tolerance=2.0, lag_hours=3.0)]


def test_a_bad_stock_group_csv_names_line_and_column(tmp_path: Path) -> None:
    csv = tmp_path / "stock_groups.csv"
    csv.write_text("group,platform,store,sku,tolerance\ng,tmall,tm-1,SKU-1,two\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_stock_groups(csv)
    assert (caught.value.line, caught.value.field) == (2, "tolerance")
    zh, en = str(caught.value).split(" / ", 1)
    assert zh == f"共享库存组文件 {csv} 第 2 行「tolerance」列：「two」不是数字"  # Chinese first
    assert en == f"{csv}, line 2, column 'tolerance': not a number: 'two'"


@pytest.mark.parametrize(("text", "line", "field", "zh"), [
    ("group,platform,sku\ng,tmall,SKU-1\n", 1, None, "表头缺少列：store"),
    ("group,platform,store,sku\ng,tmall,tm-1,SKU-1\ng,,jd-1,SKU-2\n", 3, "platform", "不能为空"),
    ("group,platform,store,sku,lag_hours\ng,tmall,tm-1,SKU-1,-2\n", 2, "lag_hours", "不能为负数（填的是 -2）"),
])
def test_every_stock_group_csv_error_is_chinese_first_with_file_line_and_column(
    tmp_path: Path, text: str, line: int, field: str | None, zh: str
) -> None:
    csv = tmp_path / "groups.csv"
    csv.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_stock_groups(csv)
    message = str(caught.value)
    column = f"「{field}」列" if field else ""
    assert message.startswith(f"共享库存组文件 {csv} 第 {line} 行{column}：{zh} / {csv}, line {line}")
    assert (caught.value.line, caught.value.field) == (line, field)
