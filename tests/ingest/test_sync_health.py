"""Data-health problems (sync failed / fell behind) and the cross-platform stock check (库存同步失败)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import polars as pl

from shopsentinel.ingest.sync import data_health_problems, stock_sync_findings
from shopsentinel.ingest.sync_state import Health, SyncDB
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


def test_the_same_sku_with_different_stock_on_two_platforms_is_a_finding() -> None:
    frame = stock_frame([
        ("taobao", "tb", "SKU-1", 0, 40), ("jd", "jd1", "SKU-1", 1, 55), ("jd", "jd1", "SKU-1", 5, 40),
        ("taobao", "tb", "SKU-2", 0, 10), ("jd", "jd1", "SKU-2", 0, 10),
        ("taobao", "tb", "SKU-3", 0, 10), ("pdd", "p1", "SKU-3", 30, 99),  # too old to compare
        ("taobao", "tb", "SKU-4", 0, 10), ("taobao", "tb2", "SKU-4", 0, 12),  # one platform only
    ])  # fmt: skip
    findings = stock_sync_findings(frame, max_skew=timedelta(hours=2))
    assert [(f.sku, f.spread, f.quantities) for f in findings] == [("SKU-1", 15.0, {"jd/jd1": 55.0, "taobao/tb": 40.0})]
    assert stock_sync_findings(frame, tolerance=20) == []
