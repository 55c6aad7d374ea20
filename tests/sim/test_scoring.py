"""Scorer checks on a tiny hand-made case whose every number is worked out below by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from shopsentinel.sim.fleet import generate_fleet, write_fleet
from shopsentinel.sim.fleet_model import FleetSpec
from shopsentinel.sim.scoring import score

STORES = "store,platform,name,timezone\ntm-a,tmall,A,Asia/Shanghai\namz-b,amazon,B,America/Los_Angeles\n"
INCIDENTS = """id,type,platform,store,sku,metrics,start,end,severity_hint
I1,traffic_crash,tmall,tm-a,,uv;pv,2026-09-02T10:00:00Z,2026-09-02T14:00:00Z,critical
I2,stock_out,tmall,tm-a,SKU-1,stock,2026-09-05T00:00:00Z,2026-09-07T00:00:00Z,fatal
I3,refund_surge,amazon,amz-b,,refunds,2026-09-10T00:00:00Z,2026-09-11T00:00:00Z,warning
"""
TRAPS = """type,platform,store,sku,metric,start,end
outage,amazon,amz-b,,,2026-09-03T00:00:00Z,2026-09-03T06:00:00Z
duplicate,tmall,tm-a,,orders,2026-09-08T05:00:00Z,2026-09-08T06:00:00Z
aftermath,tmall,tm-a,,refunds,2026-09-12T00:00:00Z,2026-09-14T00:00:00Z
"""
START, END = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 15, tzinfo=UTC)  # 2 stores x 2 weeks


def _alert(ts: str, store: str, metric: str, group: str, severity: str = "warning", *, sku: str = "",
           state: str = "firing", kind: str = "business") -> dict[str, object]:
    platform = "tmall" if store.startswith("tm") else "amazon"
    return {"ts": ts, "state": state, "platform": platform, "store": store, "sku": sku, "metric": metric,
            "rule": "test", "severity": severity, "kind": kind, "value": 1.0, "expected": 2.0,
            "lower": None, "upper": None, "incident": group, "message": "测试"}


ALERTS = [
    _alert("2026-09-02T09:00:00Z", "tm-a", "uv", "g1", "critical"),  # I1, 1 h early: delay floored to 0
    _alert("2026-09-02T12:00:00Z", "tm-a", "orders", "g1"),  # I1 again
    _alert("2026-09-09T00:00:00Z", "tm-a", "orders", "gx", state="resolved"),  # ignored
    _alert("2026-09-06T03:00:00Z", "tm-a", "stock", "g2", "fatal", sku="SKU-1"),  # I2 after 27 h
    _alert("2026-09-06T05:00:00Z", "tm-a", "stock", "g3", sku="SKU-9"),  # other SKU: false
    _alert("2026-09-08T07:00:00Z", "tm-a", "orders", "g4"),  # false, 2 h after a duplicate row
    _alert("2026-09-03T02:00:00Z", "amz-b", "uv", "d1", kind="data"),  # data alert in the outage: good
    _alert("2026-09-11T06:00:00Z", "amz-b", "refunds", "g5", "info"),  # I3 at end + 6 h: delay 30 h
    _alert("2026-09-13T00:00:00Z", "tm-a", "refunds", "g6"),  # false, in the 双11 aftermath
    _alert("2026-09-03T07:00:00Z", "amz-b", "uv", "g7", "critical"),  # false, 1 h after the outage
    _alert("2026-09-11T07:00:00Z", "amz-b", "gmv", "g5"),  # end + 7 h: false, but its group is true
    _alert("2026-09-08T06:00:00Z", "tm-a", "dsr", "g8"),  # false; near the duplicate but another metric
    _alert("2026-09-08T04:00:00Z", "tm-a", "conversion_rate", "g9"),  # false; derived from the duplicate
]


@pytest.fixture()
def case(tmp_path: Path) -> dict[str, Path]:
    files = {"alerts": tmp_path / "alerts.jsonl", "incidents": tmp_path / "incidents.csv",
             "traps": tmp_path / "traps.csv", "stores": tmp_path / "stores.csv"}
    files["alerts"].write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in ALERTS) + "\n\n")
    files["incidents"].write_text(INCIDENTS)
    files["traps"].write_text(TRAPS)
    files["stores"].write_text(STORES)
    return files


def _score(files: dict[str, Path]):  # type: ignore[no-untyped-def]
    return score(files["alerts"], files["incidents"], files["traps"], files["stores"], START, END)


def test_recall_precision_and_f1_match_hand_count(case: dict[str, Path]) -> None:
    report = _score(case)
    overall = report.overall
    # 11 firing business alerts (resolved line and data alert excluded); 4 of them match.
    assert overall.business_alerts == 11 and overall.matched_alerts == 4
    assert overall.alert_precision == pytest.approx(4 / 11)
    # groups g1..g9: g1, g2 and g5 (through the info alert) are true.
    assert (overall.groups, overall.true_groups) == (9, 3)
    assert overall.recall == 1.0 and overall.detected == 3
    assert overall.f1 == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3))  # = 0.5
    assert overall.false_alerts == 7
    assert overall.false_alerts_per_store_week == pytest.approx(7 / 4)
    assert overall.detected_by_type == {"traffic_crash": [1, 1], "stock_out": [1, 1], "refund_surge": [1, 1]}


def test_delays_are_floored_at_zero_and_summarised(case: dict[str, Path]) -> None:
    overall = _score(case).overall
    # delays 0 h (I1, alert 1 h early), 27 h (I2), 30 h (I3); p90 interpolates 27 + 0.8 * 3.
    assert overall.delay_median_h == pytest.approx(27.0)
    assert overall.delay_p90_h == pytest.approx(29.4)
    assert overall.delay_median_by_type_h["traffic_crash"] == 0.0


def test_without_info_drops_the_info_alert(case: dict[str, Path]) -> None:
    report = _score(case)
    strict = report.excluding_info
    assert strict.business_alerts == 10 and strict.matched_alerts == 3
    assert strict.recall == pytest.approx(2 / 3)
    assert (strict.groups, strict.true_groups) == (9, 2)  # g5 now holds only the late gmv alert
    assert strict.f1 == pytest.approx(2 * (2 / 3) * (2 / 9) / (2 / 3 + 2 / 9))  # = 1/3
    assert report.undetected == []
    assert report.by_severity == {"fatal": {"alerts": 1, "matched": 1}, "critical": {"alerts": 2, "matched": 1},
                                  "warning": {"alerts": 7, "matched": 1}, "info": {"alerts": 1, "matched": 1}}


def test_traps_and_data_alerts_are_counted_separately(case: dict[str, Path]) -> None:
    report = _score(case)
    # after the outage; orders and conversion_rate near the duplicated orders row (not dsr);
    # refunds in the aftermath. The data alert inside the outage is not a business alert.
    assert report.trap_violations == {"outage": 1, "duplicate": 2, "aftermath": 1}
    assert report.trap_violating_alerts == 4
    assert report.data_alerts == 1
    assert (report.outages, report.outages_with_data_alert, report.data_outage_recall) == (1, 1, 1.0)
    assert (report.dirty_rows, report.dirty_rows_with_data_alert) == (1, 0)


def test_report_renders_and_serialises(case: dict[str, Path]) -> None:
    report = _score(case)
    console = Console(record=True, width=140)
    console.print(report.to_table())
    text = console.export_text()
    assert "50.0%" in text and "trap violations" in text
    assert json.loads(json.dumps(report.as_dict()))["overall"]["matched_alerts"] == 4


def test_oracle_and_silent_detectors_on_a_generated_fleet(tmp_path: Path) -> None:
    spec = FleetSpec(stores=6, days=56, seed=4, burn_in_days=7)
    fleet = generate_fleet(spec)
    write_fleet(fleet, tmp_path, fmt="parquet")
    oracle = [_alert(row["start"].strftime("%Y-%m-%dT%H:%M:%SZ"), row["store"], row["metrics"].split(";")[0], row["id"], sku=row["sku"] or "")
              | {"platform": row["platform"]} for row in fleet.incidents.iter_rows(named=True)]
    (tmp_path / "oracle.jsonl").write_text("\n".join(json.dumps(a) for a in oracle))
    (tmp_path / "silent.jsonl").write_text("")
    labels = [tmp_path / "incidents.csv", tmp_path / "traps.csv", tmp_path / "stores.csv"]
    perfect = score(tmp_path / "oracle.jsonl", *labels, spec.start, spec.start + timedelta(days=spec.days))
    assert fleet.incidents.height >= 6
    assert perfect.overall.recall == 1.0 and perfect.overall.group_precision == 1.0
    assert perfect.overall.delay_median_h == 0.0 and perfect.trap_violating_alerts == 0
    silent = score(tmp_path / "silent.jsonl", *labels)
    assert silent.overall.recall == 0.0 and silent.overall.f1 == 0.0
    assert sorted(silent.undetected) == sorted(pl.Series(fleet.incidents["id"]).to_list())
