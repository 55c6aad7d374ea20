"""Detection-quality benchmark: generate fleets, backtest the detector on them, score the alerts.

    .venv/bin/python bench/quality.py                      # one fleet, seed 7, 24 stores x 112 days
    .venv/bin/python bench/quality.py --seeds 7,8,9        # average over three fleets
    .venv/bin/python bench/quality.py --backtest-cmd "my-detector {data} --out {alerts}"

For each seed the fleet's metrics/stores/calendar go to WORKDIR/seed-N/data and the labels to
WORKDIR/seed-N/labels (the detector never sees them); the backtest writes its alerts to
WORKDIR/seed-N/data/alerts.jsonl. Results go to bench/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shopsentinel.sim.fleet import generate_fleet, write_fleet
from shopsentinel.sim.fleet_model import DEFAULT_START, FleetSpec
from shopsentinel.sim.scoring import QualityReport, score

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BACKTEST = f"{REPO / '.venv/bin/shopsentinel'} backtest {{data}} --out {{alerts}}"
HEADLINE = ("overall.f1", "overall.recall", "overall.group_precision", "overall.alert_precision",
            "overall.false_alerts_per_store_week", "overall.delay_median_h", "overall.delay_p90_h",
            "excluding_info.f1", "trap_violating_alerts", "data_outage_recall")


def _flatten(value: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested report as dotted keys (what gets averaged across seeds)."""
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}{key}."))
        return out
    if isinstance(value, bool) or not isinstance(value, int | float):
        return {}
    return {prefix.rstrip("."): float(value)}


def run_seed(seed: int, args: argparse.Namespace, console: Console) -> tuple[QualityReport, float]:
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC) if args.start else DEFAULT_START
    spec = FleetSpec(stores=args.stores, days=args.days, seed=seed, start=start, incident_rate=args.incident_rate)
    base = args.workdir / f"seed-{seed}"
    data, labels = base / "data", base / "labels"
    alerts = data / "alerts.jsonl"
    if not (args.reuse and (data / "metrics.csv").exists()):
        began = time.perf_counter()
        write_fleet(generate_fleet(spec), data, fmt="csv", labels_dir=labels)
        console.print(f"seed {seed}: fleet written to {data} in {time.perf_counter() - began:.1f}s")
    alerts.unlink(missing_ok=True)
    command = shlex.split(args.backtest_cmd.format(data=data, alerts=alerts))
    began = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, timeout=args.timeout)
    seconds = time.perf_counter() - began
    if completed.returncode != 0 or not alerts.exists():
        raise SystemExit(f"backtest failed (exit {completed.returncode}); command: {shlex.join(command)}")
    console.print(f"seed {seed}: backtest took {seconds:.1f}s")
    report = score(alerts, labels / "incidents.csv", labels / "traps.csv", data / "stores.csv",
                   start=spec.start, end=spec.start + timedelta(days=spec.days))
    return report, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=24)
    parser.add_argument("--days", type=int, default=112)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", help="first day of the fleets (UTC date, e.g. 2026-01-05 for 春节 and the March "
                                        "DST change, 2026-05-01 for 618 and Prime Day); default: 2026-08-01")
    parser.add_argument("--incident-rate", type=float, default=FleetSpec.incident_rate,
                        help="labelled incidents per store-week (default 0.19)")
    parser.add_argument("--seeds", help="comma-separated seeds to average, e.g. 7,8,9 (overrides --seed)")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench/data/quality")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/quality.json")
    parser.add_argument("--backtest-cmd", default=DEFAULT_BACKTEST,
                        help="command template with {data} and {alerts} placeholders")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per backtest")
    parser.add_argument("--reuse", action="store_true", help="reuse fleets already in WORKDIR")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    console = Console()
    per_seed: dict[str, dict[str, Any]] = {}
    flat: list[dict[str, float]] = []
    for seed in seeds:
        report, seconds = run_seed(seed, args, console)
        console.print(report.to_table(title=f"Detection quality, seed {seed}"))
        per_seed[str(seed)] = {**report.as_dict(), "backtest_seconds": seconds}
        flat.append(_flatten(per_seed[str(seed)]))
    keys = sorted(set().union(*flat))
    mean = {k: sum(f[k] for f in flat if k in f) / sum(k in f for f in flat) for k in keys}
    if len(seeds) > 1:
        summary = Table(title=f"Mean over seeds {', '.join(map(str, seeds))}")
        summary.add_column("measure")
        summary.add_column("mean", justify="right")
        for key in HEADLINE:
            if key in mean:
                summary.add_row(key, f"{mean[key]:.3f}")
        console.print(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"spec": {"stores": args.stores, "days": args.days, "seeds": seeds}, "mean": mean,
              "headline": {k: mean.get(k) for k in HEADLINE}, "per_seed": per_seed}
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
