"""Detection quality on fleets of the second, independently written generator (bench/fleet2).

    .venv/bin/python bench/quality2.py                                  # dev 101-103 and held-out 201-203
    .venv/bin/python bench/quality2.py --stores 12 --days 56            # smaller fleets
    .venv/bin/python bench/quality2.py --sets dev --code /tmp/head      # backtest another copy of the code

Each fleet goes to WORKDIR/seed-N/data (metrics, stores, calendar) and its labels to WORKDIR/seed-N/labels
(the detector never reads them); ``shopsentinel backtest`` with the default rules writes the alerts, and
``shopsentinel.sim.scoring.score`` (the scorer of bench/quality.py) judges them. Reported per seed set:
F1 (incident recall × group precision), precision, recall, recall per incident type (pooled over the set's
fleets), false alerts per store-week, outages raised as data alerts (pooled), and unmatched alerts inside
labelled quiet weeks. Results go to bench/results/quality2.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleet2.generator import DEFAULT_START, generate, write
from quality import _flatten
from rich.console import Console
from rich.table import Table

from shopsentinel.sim.scoring import QualityReport, score

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BACKTEST = f"{REPO / '.venv/bin/shopsentinel'} backtest {{data}} --out {{alerts}} --quiet"
SETS = {"dev": (101, 102, 103), "held-out": (201, 202, 203)}
HEADLINE = ("overall.f1", "overall.group_precision", "overall.alert_precision", "overall.recall",
            "overall.false_alerts_per_store_week", "excluding_info.f1", "data_outage_recall")


def backtest_env(code: Path | None) -> dict[str, str] | None:
    """With ``code``, the backtest imports ``shopsentinel`` from that folder instead of the working tree."""
    if code is None:
        return None
    if not (code / "shopsentinel" / "__init__.py").exists():
        raise SystemExit(f"--code {code}: no shopsentinel package there")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH", "")]))}


def run_seed(seed: int, args: argparse.Namespace, console: Console) -> tuple[QualityReport, float]:
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC) if args.start else DEFAULT_START
    base = args.workdir / f"seed-{seed}"
    data, labels = base / "data", base / "labels"
    alerts = data / "alerts.jsonl"
    began = time.perf_counter()
    write(generate(args.stores, args.days, seed, start, args.incident_rate), data, labels)
    console.print(f"seed {seed}: fleet2 written to {data} in {time.perf_counter() - began:.1f}s")
    alerts.unlink(missing_ok=True)
    command = shlex.split(args.backtest_cmd.format(data=data, alerts=alerts))
    began = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, timeout=args.timeout, env=backtest_env(args.code))
    seconds = time.perf_counter() - began
    if completed.returncode != 0 or not alerts.exists():
        raise SystemExit(f"backtest failed (exit {completed.returncode}); command: {shlex.join(command)}")
    console.print(f"seed {seed}: backtest took {seconds:.1f}s")
    report = score(alerts, labels / "incidents.csv", labels / "traps.csv", data / "stores.csv",
                   start=start, end=start + timedelta(days=args.days))
    return report, seconds


def summarise(reports: list[QualityReport]) -> dict[str, Any]:
    """Means over fleets of the headline figures, and pooled counts per incident type and for outages."""
    flat = [_flatten(r.as_dict()) for r in reports]
    keys = sorted(set().union(*flat))
    mean = {k: sum(f[k] for f in flat if k in f) / sum(k in f for f in flat) for k in keys}
    by_type: dict[str, list[int]] = {}
    for report in reports:
        for kind, (hit, total) in report.overall.detected_by_type.items():
            counts = by_type.setdefault(kind, [0, 0])
            counts[0] += hit
            counts[1] += total
    outages = sum(r.outages for r in reports)
    caught = sum(r.outages_with_data_alert for r in reports)
    quiet = sum(r.trap_violations.get("quiet_week", 0) for r in reports)
    return {"headline": {k: mean.get(k) for k in HEADLINE}, "mean": mean,
            "recall_by_type": {k: {"detected": h, "total": t, "recall": h / t if t else None}
                               for k, (h, t) in sorted(by_type.items())},
            "outages": {"reported": caught, "total": outages},
            "quiet_week_alerts": quiet,
            "undetected": [i for r in reports for i in r.undetected]}


def _table(summaries: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Default rules on fleet2 (mean of the set's fleets; per-type and outages pooled)")
    table.add_column("measure")
    for name in summaries:
        table.add_column(name, justify="right")
    labels = {"overall.f1": "F1", "overall.group_precision": "precision (groups)",
              "overall.alert_precision": "precision (alerts)", "overall.recall": "recall",
              "overall.false_alerts_per_store_week": "false alerts / store-week", "excluding_info.f1": "F1 without info",
              "data_outage_recall": "2-h outages raised"}
    for key, label in labels.items():
        table.add_row(label, *[_fmt(s["headline"].get(key)) for s in summaries.values()])
    kinds = sorted({k for s in summaries.values() for k in s["recall_by_type"]})
    for kind in kinds:
        cells = []
        for s in summaries.values():
            row = s["recall_by_type"].get(kind)
            cells.append(f"{row['detected']}/{row['total']}" if row else "—")
        table.add_row(f"  {kind}", *cells)
    table.add_row("outages reported / total", *[f"{s['outages']['reported']}/{s['outages']['total']}"
                                                for s in summaries.values()])
    table.add_row("alerts in quiet weeks", *[str(s["quiet_week_alerts"]) for s in summaries.values()])
    return table


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=16)
    parser.add_argument("--days", type=int, default=84)
    parser.add_argument("--start", help="first day (UTC date); default 2026-03-02")
    parser.add_argument("--incident-rate", type=float, default=0.3, help="labelled incidents per store-week")
    parser.add_argument("--sets", default="dev,held-out", help="comma-separated of: dev (seeds 101-103), "
                                                                "held-out (201-203)")
    parser.add_argument("--seeds", help="comma-separated seeds instead of the named sets (reported as 'custom')")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench/data/quality2")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/quality2.json")
    parser.add_argument("--backtest-cmd", default=DEFAULT_BACKTEST,
                        help="command template with {data} and {alerts} placeholders")
    parser.add_argument("--code", type=Path, default=None,
                        help="folder holding a shopsentinel package to backtest with instead of the working tree")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per backtest")
    args = parser.parse_args(argv)
    if args.seeds:
        chosen = {"custom": tuple(int(s) for s in args.seeds.split(","))}
    else:
        names = [n.strip() for n in args.sets.split(",") if n.strip()]
        unknown = [n for n in names if n not in SETS]
        if unknown:
            parser.error(f"unknown set(s) {', '.join(unknown)}")
        chosen = {n: SETS[n] for n in names}
    console = Console(width=140)
    summaries: dict[str, dict[str, Any]] = {}
    per_seed: dict[str, Any] = {}
    for name, seeds in chosen.items():
        reports = []
        for seed in seeds:
            report, seconds = run_seed(seed, args, console)
            console.print(report.to_table(title=f"fleet2 seed {seed}"))
            per_seed[str(seed)] = {**report.as_dict(), "backtest_seconds": seconds}
            reports.append(report)
        summaries[name] = {"seeds": list(seeds), **summarise(reports)}
    console.print(_table(summaries))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"spec": {"stores": args.stores, "days": args.days, "incident_rate": args.incident_rate,
                       "code": str(args.code or REPO)}, "sets": summaries, "per_seed": per_seed}
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
