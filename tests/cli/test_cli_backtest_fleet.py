"""`shopsentinel backtest` end to end on a small synthetic fleet: the alert JSON-lines contract,
one firing + at most one resolved line per alert, incidents root cause first, data alerts for
connector outages, --from/--to, --report and a bad rule file."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pytest
from typer.testing import CliRunner

from shopsentinel.alerting.incidents import ROOT_RANK
from shopsentinel.catalog import default_catalog
from shopsentinel.cli import app
from shopsentinel.detect.rules import default_rules
from shopsentinel.sim.fleet import FleetSpec, generate_fleet, write_fleet

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "alert.schema.json"
ISO_Z = "%Y-%m-%dT%H:%M:%SZ"
FROM, TO = "2026-08-20T00:00:00Z", "2026-08-27T00:00:00Z"
runner = CliRunner()


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, ISO_Z).replace(tzinfo=UTC)


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def alerts_of(lines: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Pair each firing line with the resolved line that directly follows it (if any)."""
    out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for line in lines:
        if line["state"] == "firing":
            out.append((line, None))
        else:
            assert out, "a resolved line before any firing line"
            firing, resolved = out[-1]
            assert resolved is None, f"second resolved line for one alert: {line}"
            out[-1] = (firing, line)
    return out


IDENTITY = ("platform", "store", "sku", "metric", "rule", "severity", "kind", "incident")


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by the xdist workers of this run (one fleet and one backtest, not one per worker)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """Build ``name`` once per test run, whichever worker gets there first (a blocking file lock)."""
    root = shared_dir(tmp_path_factory)
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / f"{name}.done").exists():
            target.mkdir(exist_ok=True)
            make(target)
            (root / f"{name}.done").touch()
    return target


def _write_fleet(target: Path) -> None:
    write_fleet(generate_fleet(FleetSpec(stores=4, days=35, seed=3)), target)


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return once(tmp_path_factory, "fleet_s4_d35_seed3", _write_fleet)


@pytest.fixture(scope="module")
def backtest(fleet_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def make(out_dir: Path) -> None:
        args = ["backtest", str(fleet_dir), "--out", str(out_dir / "alerts.jsonl"), "--report", str(out_dir / "report.html"),
                "--tasks", str(out_dir / "tasks.jsonl")]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        (out_dir / "output.txt").write_text(result.output, encoding="utf-8")

    out_dir = once(tmp_path_factory, "backtest_full", make)
    return {
        "lines": read_lines(out_dir / "alerts.jsonl"),
        "report": (out_dir / "report.html").read_text(encoding="utf-8"),
        "tasks": read_lines(out_dir / "tasks.jsonl"),
        "output": (out_dir / "output.txt").read_text(encoding="utf-8"),
    }


def test_every_line_validates_against_the_contract(backtest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    lines = backtest["lines"]
    assert len(lines) >= 10
    for line in lines:
        errors = list(validator.iter_errors(line))
        assert errors == [], (line, [e.message for e in errors])
        parse_ts(line["ts"])  # ISO-8601 UTC with Z
        assert set(line) <= set(schema["properties"])
        assert line["message"]
    assert {line["kind"] for line in lines} == {"business", "data"}


def test_one_firing_and_at_most_one_resolved_line_per_alert(backtest: dict[str, Any]) -> None:
    alerts = alerts_of(backtest["lines"])
    seen = set()
    for firing, resolved in alerts:
        ident = tuple(firing[k] for k in IDENTITY) + (firing["ts"],)
        assert ident not in seen, f"duplicate firing line {firing}"
        seen.add(ident)
        if resolved is not None:
            assert all(resolved[k] == firing[k] for k in IDENTITY)
            assert parse_ts(resolved["ts"]) > parse_ts(firing["ts"])
    # never one line per evaluated hour: one rule on one series does not fire in consecutive hours
    starts: dict[tuple[str, ...], list[datetime]] = {}
    for firing, _resolved in alerts:
        key = (firing["rule"], firing["store"], firing["sku"], firing["metric"])
        starts.setdefault(key, []).append(parse_ts(firing["ts"]))
    for key, times in starts.items():
        times.sort()
        assert all((b - a).total_seconds() > 3600 for a, b in zip(times, times[1:], strict=False)), key


def test_firing_lines_are_in_time_order(backtest: dict[str, Any]) -> None:
    firing = [parse_ts(line["ts"]) for line in backtest["lines"] if line["state"] == "firing"]
    assert firing == sorted(firing)


def _rank(line: dict[str, Any]) -> int:
    if line["kind"] == "data":
        return ROOT_RANK["data"]
    pack = default_rules()
    try:
        rule = pack.get(line["rule"])
        category = rule.category or default_catalog().get(line["metric"]).category
    except KeyError:
        category = default_catalog().get(line["metric"]).category
    return ROOT_RANK.get(category, 9)


def test_alerts_sharing_an_incident_are_root_cause_first(backtest: dict[str, Any]) -> None:
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in backtest["lines"]:
        if line["state"] == "firing":
            assert line["incident"].startswith("inc-")
            groups.setdefault(line["incident"], []).append(line)
    for members in groups.values():
        assert len({(m["platform"], m["store"]) for m in members}) == 1  # an incident is one store's
        first = members[0]
        assert all(_rank(first) <= _rank(m) for m in members[1:]), members


def test_data_alerts_for_connector_outages_and_no_business_alert_inside(backtest: dict[str, Any], fleet_dir: Path) -> None:
    traps = pl.read_csv(fleet_dir / "traps.csv").filter(pl.col("type") == "outage")
    assert traps.height >= 1
    firing = [line for line in backtest["lines"] if line["state"] == "firing"]
    for trap in traps.iter_rows(named=True):
        start, end = parse_ts(trap["start"]), parse_ts(trap["end"])
        store_lines = [f for f in firing if f["store"] == trap["store"] and f["platform"] == trap["platform"]]
        data = [f for f in store_lines if f["kind"] == "data" and start <= parse_ts(f["ts"]) <= end]
        assert data, f"no data alert for outage {trap}"
        business = [f for f in store_lines if f["kind"] == "business" and start <= parse_ts(f["ts"]) < end]
        assert business == []


def test_impossible_values_are_data_alerts_never_business_alerts(backtest: dict[str, Any], fleet_dir: Path) -> None:
    traps = pl.read_csv(fleet_dir / "traps.csv", schema_overrides={"sku": pl.Utf8}).filter(pl.col("type") == "impossible_value")
    assert traps.height >= 1
    firing = [line for line in backtest["lines"] if line["state"] == "firing"]
    for trap in traps.iter_rows(named=True):
        start = parse_ts(trap["start"])
        same = [f for f in firing if (f["store"], f["metric"], f["sku"]) == (trap["store"], trap["metric"], trap["sku"] or "")]
        data = [f for f in same if f["kind"] == "data" and parse_ts(f["ts"]) == start]
        assert [f["rule"] for f in data] == ["data.impossible_value"], trap
        near = [f for f in same if f["kind"] == "business" and abs((parse_ts(f["ts"]) - start).total_seconds()) <= 6 * 3600]
        assert near == [], trap


def test_report_has_a_chart_per_business_alert(backtest: dict[str, Any]) -> None:
    html = backtest["report"]
    assert html.startswith("<!doctype html>")
    sections = html.split('<section class="alert')[1:]
    firing = [line for line in backtest["lines"] if line["state"] == "firing"]
    assert len(sections) == len(firing)
    business = 0
    for line, section in zip(firing, sections, strict=True):
        assert line["rule"] in section
        if line["kind"] == "business":
            business += 1
            assert section.count("<svg") == 1, line["rule"]
            assert "</svg>" in section
    assert business >= 3
    assert "cdn" not in html.lower() and "<script src=" not in html


def test_tasks_are_separate_from_alerts(backtest: dict[str, Any]) -> None:
    assert backtest["tasks"], "CS tasks (each bad review) are written with --tasks"
    task_rules = {r.id for r in default_rules().rules if r.mode == "task"}
    got = {t["rule"] for t in backtest["tasks"]}
    assert "reviews.negative_each" in got
    assert got <= task_rules
    assert all(t["state"] == "firing" for t in backtest["tasks"])
    assert not task_rules & {line["rule"] for line in backtest["lines"]}


def test_summary_tables_are_printed(backtest: dict[str, Any]) -> None:
    text = backtest["output"]
    for needle in ("rule", "severity", "store", "week", "alerts written"):
        assert needle in text


def test_from_to_limit_the_output(fleet_dir: Path, backtest: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "window.jsonl"
    result = runner.invoke(app, ["backtest", str(fleet_dir), "--out", str(out), "--from", FROM, "--to", TO, "--quiet"])
    assert result.exit_code == 0, result.output
    lines = read_lines(out)
    lo, hi = parse_ts(FROM), parse_ts(TO)
    assert lines
    assert all(lo <= parse_ts(line["ts"]) < hi for line in lines)
    full = [f for f, _ in alerts_of(backtest["lines"]) if lo <= parse_ts(f["ts"]) < hi]
    window = [f for f, _ in alerts_of(lines)]
    key = ("ts", "rule", "store", "sku", "metric", "value")
    assert sorted(tuple(f[k] for k in key) for f in window) == sorted(tuple(f[k] for k in key) for f in full)
    assert len(window) < len(alerts_of(backtest["lines"]))


def test_bad_rules_file_exits_2_naming_file_and_rule(fleet_dir: Path, tmp_path: Path) -> None:
    rules = tmp_path / "my_rules.yaml"
    rules.write_text(
        "rules:\n  - id: shop.broken\n    name: {zh: 坏规则, en: Broken}\n    severity: warning\n"
        "    when: {metric: uv, type: threshold}\n",
        encoding="utf-8",
    )
    out = tmp_path / "never.jsonl"
    result = runner.invoke(app, ["backtest", str(fleet_dir), "--rules", str(rules), "--out", str(out)])
    assert result.exit_code == 2
    squashed = "".join(result.output.split())
    assert "".join(str(rules).split()) in squashed
    assert "shop.broken" in squashed
    assert "line2" in squashed
    assert not out.exists()


def test_missing_directory_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["backtest", str(tmp_path / "nothing"), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert "metrics" in result.output
