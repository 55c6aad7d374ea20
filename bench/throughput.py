"""End-to-end backtest speed and memory: generate a fleet once, time `shopsentinel backtest` on it.

    .venv/bin/python bench/throughput.py                         # 24 stores x 112 days, CSV (~2.2 M rows)
    .venv/bin/python bench/throughput.py --stores 1000 --days 90 --format parquet   # ~60-70 M rows

Memory is the peak resident set of the backtest process tree (main + worker processes), sampled
from /proc every 0.2 s. Results are appended to bench/results/throughput.jsonl.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from record import record

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"


def _tree_rss_kb(root: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def run_measured(command: list[str]) -> tuple[float, int, int]:
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.stderr.write(err.decode())
    return time.perf_counter() - began, peak, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=24)
    parser.add_argument("--days", type=int, default=112)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "data")
    args = parser.parse_args()

    data = args.workdir / f"throughput-{args.stores}x{args.days}-{args.format}"
    metrics = data / f"metrics.{args.format}"
    if not metrics.exists():
        began = time.perf_counter()
        subprocess.run(
            [str(BIN / "python"), str(REPO / "bench" / "generate.py"), str(data), "--stores", str(args.stores),
             "--days", str(args.days), "--seed", str(args.seed), "--format", args.format],
            check=True, stdout=subprocess.DEVNULL,
        )
        print(f"generated {data} in {time.perf_counter() - began:.1f}s")
    rows = _count_rows(metrics)
    out = data / "alerts.jsonl"
    seconds, peak_kb, code = run_measured([str(BIN / "shopsentinel"), "backtest", str(data), "--out", str(out), "--quiet"])
    result = {
        "stores": args.stores, "days": args.days, "format": args.format, "rows": rows,
        "seconds": round(seconds, 1), "rows_per_second": round(rows / seconds), "peak_rss_mb": round(peak_kb / 1024),
        "alerts": sum(1 for line in out.open() if '"firing"' in line) if out.exists() else 0, "exit_code": code,
        "cpus": os.cpu_count(),
    }
    record(REPO / "bench" / "results" / "throughput.jsonl", result)
    return code


def _count_rows(path: Path) -> int:
    import polars as pl

    if path.suffix == ".parquet":
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    return int(pl.scan_csv(path).select(pl.len()).collect().item())


if __name__ == "__main__":
    raise SystemExit(main())
