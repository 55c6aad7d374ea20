"""Backtest speed beside the pandas yardstick: ``shopsentinel backtest`` and the shared
``reference_pandas.py`` on the same folder, in the same run, alternating, so both see the same machine.

    .venv/bin/python bench/speed_vs_pandas.py                       # 24 stores x 112 days, CSV, seed 31
    .venv/bin/python bench/speed_vs_pandas.py --data DIR --repeats 5
    .venv/bin/python bench/speed_vs_pandas.py --reference-python /path/to/env-with-pandas/bin/python

The fleet is generated once into ``bench/data/`` (``bench/generate.py``) unless ``--data`` names a
folder. Each repeat runs the reference, then the backtest (the order flips every repeat); the figures
are the median wall times, the largest peak resident set of each process tree (main and worker
processes, sampled every 0.2 s) and their ratio (backtest ÷ reference; the issue's target is ≤ 2.5).
The reference needs pandas (in the ``dev`` extra); it runs under ``--reference-python``. CPU seconds
of each process tree are recorded too (they move less than wall time on a shared machine), and
whether Python may cache bytecode (``PYTHONDONTWRITEBYTECODE``, ``PYTHONPYCACHEPREFIX``): without a
cache every process compiles what it imports on every run. Results are appended to
``bench/results/speed_vs_pandas.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import record
from throughput import run_measured

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = REPO.parent / "shared" / "bench" / "reference_pandas.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="an existing canonical folder (metrics.csv|parquet, stores.csv, calendar.csv)")
    parser.add_argument("--stores", type=int, default=24)
    parser.add_argument("--days", type=int, default=112)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="", help="a note kept with the result (e.g. which code PYTHONPATH points at)")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="reference_pandas.py (default %(default)s)")
    parser.add_argument("--reference-python", default=sys.executable, help="the interpreter with pandas (default: this one)")
    parser.add_argument("--shopsentinel", default=str(Path(sys.executable).parent / "shopsentinel"),
                        help="the shopsentinel command (default: beside this interpreter)")
    args = parser.parse_args()
    if not args.reference.exists():
        sys.exit(f"reference not found: {args.reference} (--reference)")

    data = args.data or _generate(args)
    rows = _count_rows(data)
    out = Path(tempfile.mkdtemp(prefix="speed-vs-pandas-"))
    commands = {
        "reference": [args.reference_python, str(args.reference), "--data", str(data), "--out", str(out / "reference.jsonl")],
        "shopsentinel": [args.shopsentinel, "backtest", str(data), "--out", str(out / "alerts.jsonl"), "--quiet"],
    }
    load_before = os.getloadavg()[0]
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    peak_kb: dict[str, int] = {name: 0 for name in commands}
    for repeat in range(args.repeats):
        order = list(commands) if repeat % 2 == 0 else list(reversed(commands))
        for name in order:
            used_before = _children_cpu()
            took, peak, code = run_measured(commands[name])
            if code != 0:
                sys.exit(f"{name} failed with exit code {code}")
            seconds[name].append(took)
            cpu[name].append(_children_cpu() - used_before)
            peak_kb[name] = max(peak_kb[name], peak)
            print(f"repeat {repeat + 1} {name}: {took:.1f} s wall, {cpu[name][-1]:.1f} s CPU, {peak / 1024:.0f} MB", file=sys.stderr)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    result = {
        "data": str(data), "rows": rows, "repeats": args.repeats,
        "reference_seconds": round(median["reference"], 2), "shopsentinel_seconds": round(median["shopsentinel"], 2),
        "ratio": round(median["shopsentinel"] / median["reference"], 2),
        "reference_runs": [round(s, 2) for s in seconds["reference"]],
        "shopsentinel_runs": [round(s, 2) for s in seconds["shopsentinel"]],
        # CPU seconds (user + system) of each process tree: on a shared machine they move less than wall time.
        "reference_cpu_seconds": round(statistics.median(cpu["reference"]), 2),
        "shopsentinel_cpu_seconds": round(statistics.median(cpu["shopsentinel"]), 2),
        "reference_peak_rss_mb": round(peak_kb["reference"] / 1024), "shopsentinel_peak_rss_mb": round(peak_kb["shopsentinel"] / 1024),
        "shopsentinel_alerts": _count_lines(out / "alerts.jsonl", '"firing"'),
        "reference_alerts": _count_lines(out / "reference.jsonl"),
        # Without a bytecode cache (PYTHONDONTWRITEBYTECODE=1 and no .pyc in the environment) every
        # process compiles each module it imports, every run: start-up then weighs much more.
        "dont_write_bytecode": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "pycache_prefix": os.environ.get("PYTHONPYCACHEPREFIX", ""),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "commit": _commit(), "pythonpath": os.environ.get("PYTHONPATH", ""), "label": args.label, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    record(REPO / "bench" / "results" / "speed_vs_pandas.jsonl", result)
    return 0


def _children_cpu() -> float:
    """User + system CPU seconds of every waited-for child process so far (worker processes count
    once their parent has waited for them)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _generate(args: argparse.Namespace) -> Path:
    data = args.workdir / f"speed-{args.stores}x{args.days}-seed{args.seed}-{args.format}"
    if not (data / f"metrics.{args.format}").exists():
        subprocess.run(
            [sys.executable, str(REPO / "bench" / "generate.py"), str(data), "--stores", str(args.stores),
             "--days", str(args.days), "--seed", str(args.seed), "--format", args.format],
            check=True, stdout=subprocess.DEVNULL,
        )
    return data


def _count_rows(data: Path) -> int:
    import polars as pl

    if (data / "metrics.parquet").exists():
        return int(pl.scan_parquet(data / "metrics.parquet").select(pl.len()).collect().item())
    return int(pl.scan_csv(data / "metrics.csv", infer_schema=False).select(pl.len()).collect().item())


def _count_lines(path: Path, containing: str = "") -> int:
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if containing in line)


def _commit() -> str:
    found = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


if __name__ == "__main__":
    raise SystemExit(main())
