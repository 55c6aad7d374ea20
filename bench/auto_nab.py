"""The ``auto`` detector (custom metrics) on held-out public labelled series (NAB), against a tuned rolling z-score.

    .venv/bin/python bench/auto_nab.py --nab /tmp/nab --set both   # writes bench/results/auto_nab.json

Data: series of the Numenta Anomaly Benchmark (github.com/numenta/NAB), read from the stored copy of the
repository (the commit of each file below) and written unchanged to ``DIR/data/<category>/<file>.csv``,
with the NAB anomaly windows in ``DIR/labels/combined_windows.json``. The data is not committed here.

The split was fixed before anything was run: within each real category the files sorted by name go
alternately to the development set and to the held-out set; of each set only the smallest files were
copied (the copy is by hand, a few hundred kilobytes in all), realTweets (15,800 rows each) and the large
realKnownCause files not at all. Constants of ``auto`` and the z-score's parameters are chosen on DEV only;
HELDOUT is reported once.

Every series is written as a custom metric and replayed through ``run_backtest`` exactly as
bench/auto_realworld.py does (its ``write_dataset`` and ``score_series`` are imported, not copied). Scoring,
NAB style, on alert episode starts: a start inside a NAB window, or up to 3 points after it, hits that
window; any other start is a false alarm. Windows that end in the detector's warm-up (the first three days
of the series, at most half of it) are not scored, and the baseline is not allowed to alert there either.

Baseline: a rolling z-score of each point against the mean and standard deviation of the ``W`` points before
it, alerting when ``|z| > k``; an alert episode starts at an alerting point with no alerting point among the
3 points before it (the same 3-point hold as ``auto``'s episodes). ``W`` and ``k`` are grid-searched on DEV
(maximum pooled F1, then fewest false alarms) and applied unchanged to HELDOUT.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auto_realworld import Series, auto_starts, score_series  # noqa: E402

ROOT = Path(__file__).resolve().parent
NAB_REPO = "numenta/NAB"
# file -> commit of the stored copy that was read (labels: labels/combined_windows.json at 07b379d9…)
FILES = {
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv": "ad050ac981abfe48e7a63a8e0bb1cea8a6bbfc20",
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv": "0677d4d52f5893c3c664dae27f6b5812c739f53d",
    "realAdExchange/exchange-3_cpc_results.csv": "95280fb5046b71ea576b07d96c8b14c1075b7ab0",
    "realAdExchange/exchange-3_cpm_results.csv": "95280fb5046b71ea576b07d96c8b14c1075b7ab0",
    "realTraffic/speed_7578.csv": "1317f82c66537e4fcd07320f1cc3cd5ca441b5fa",
    "realTraffic/TravelTime_451.csv": "b72e306f59d6e6ae4206d2fe82e4d94127e66fbf",
}
LABELS = ("labels/combined_windows.json", "07b379d95ac2d1137aaa0a84c63cf2cf2d6b40b8")
DEV = (
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
    "realAdExchange/exchange-3_cpc_results.csv",
)
HELDOUT = (
    "realAdExchange/exchange-3_cpm_results.csv",
    "realTraffic/speed_7578.csv",
    "realTraffic/TravelTime_451.csv",
)
HOLD = 3  # points: an alert within 3 points of the previous one continues its episode
Z_WINDOWS = (12, 24, 48, 96, 288, 576)
Z_KS = (2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0)


class MissingData(SystemExit):
    pass


def _missing(path: Path) -> MissingData:
    return MissingData(
        f"缺少 NAB 数据文件：{path}\n"
        f"Missing NAB data file: {path}\n"
        f"数据不随项目提交。来源：GitHub 公开仓库 {NAB_REPO}（各文件的 commit 见 bench/auto_nab.py 的 FILES），"
        f"原样写入 <DIR>/data/<类别>/<文件>.csv，标注窗口写入 <DIR>/{LABELS[0]}（commit {LABELS[1]}）。\n"
        f"The data is not committed. It is the public repository {NAB_REPO} (the commit of each file is in FILES "
        f"in bench/auto_nab.py), written unchanged to <DIR>/data/<category>/<file>.csv, with the windows in "
        f"<DIR>/{LABELS[0]} (commit {LABELS[1]}). Pass the folder with --nab DIR."
    )


def load(nab: Path, name: str, windows: dict[str, list[list[str]]]) -> Series:
    path = nab / "data" / name
    if not path.exists():
        raise _missing(path)
    times, values = [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or reader.fieldnames[:2] != ["timestamp", "value"]:
            raise SystemExit(f"{path}: expected a header starting 'timestamp,value', got {reader.fieldnames}")
        for row in reader:  # extra columns of the stored copy (label, notes) are ignored: NAB's windows are the labels
            times.append(np.datetime64(datetime.fromisoformat(row["timestamp"]), "s"))
            values.append(float(row["value"]))
    t = np.array(times, dtype="datetime64[s]")
    if not np.all(np.diff(t) > np.timedelta64(0, "s")):
        raise SystemExit(f"{path}: timestamps are not strictly increasing")
    spans = []
    for start, end in windows.get(name, []):
        a = int(np.searchsorted(t, np.datetime64(datetime.fromisoformat(start), "s"), side="left"))
        b = int(np.searchsorted(t, np.datetime64(datetime.fromisoformat(end), "s"), side="right")) - 1
        if a <= b:
            spans.append((a, b, "nab_window"))
    short = name.split("/")[-1].removesuffix(".csv").replace(".", "_")
    return Series(short, t, np.array(values), f"NAB {name} @ {FILES[name][:10]}", spans)


def load_set(nab: Path, names: tuple[str, ...]) -> list[Series]:
    labels = nab / LABELS[0]
    if not labels.exists():
        raise _missing(labels)
    windows = json.loads(labels.read_text())
    return [load(nab, name, windows) for name in names]


def _probation_end(s: Series) -> np.datetime64:
    span = s.times[-1] - s.times[0]
    return s.times[0] + min(np.timedelta64(3 * 86400, "s"), span // 2)


def zscore_starts(s: Series, window: int, k: float) -> list[np.datetime64]:
    """Episode starts of a rolling z-score on the raw points (the ``window`` points before each)."""
    x = s.values.astype(float)
    n = x.size
    if n <= window:
        return []
    total = np.concatenate([[0.0], np.cumsum(x)])
    squares = np.concatenate([[0.0], np.cumsum(x * x)])
    idx = np.arange(window, n)
    mean = (total[idx] - total[idx - window]) / window
    var = np.maximum((squares[idx] - squares[idx - window]) / window - mean * mean, 0.0)
    std = np.sqrt(var * window / (window - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(x[idx] - mean) / np.where(std > 0, std, np.nan)
    alert = np.zeros(n, dtype=bool)
    alert[idx] = np.where(np.isnan(z), x[idx] != mean, z > k)
    alert &= s.times >= _probation_end(s)
    starts = []
    last = -HOLD - 1
    for i in np.nonzero(alert)[0]:
        if i - last > HOLD:
            starts.append(s.times[i])
        last = i
    return starts


def overall(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    total = {k: sum(r[k] for r in rows.values()) for k in ("points", "windows", "hit", "alerts", "false_alarms")}
    recall = total["hit"] / total["windows"] if total["windows"] else 0.0
    precision = (total["alerts"] - total["false_alarms"]) / total["alerts"] if total["alerts"] else 0.0
    return {
        **total,
        "recall": round(recall, 3),
        "precision": round(precision, 3),
        "f1": round(2 * precision * recall / (precision + recall), 3) if precision + recall else 0.0,
        "false_alarms_per_1000": round(1000 * total["false_alarms"] / total["points"], 2) if total["points"] else 0.0,
    }


def score_all(series: list[Series], starts: dict[str, list[np.datetime64]]) -> dict[str, dict[str, Any]]:
    return {s.name: score_series(s, starts.get(s.name, [])) for s in series}


def tune_zscore(dev: list[Series]) -> tuple[int, float, list[dict[str, Any]]]:
    grid = []
    for window in Z_WINDOWS:
        for k in Z_KS:
            o = overall(score_all(dev, {s.name: zscore_starts(s, window, k) for s in dev}))
            grid.append({"window": window, "k": k, **o})
    best = max(grid, key=lambda g: (g["f1"], -g["false_alarms"]))
    return int(best["window"]), float(best["k"]), grid


def table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'series':34} {'pts':>6} {'win':>4} {'hit':>4} {'alerts':>6} {'FA':>4} {'FA/1k':>6} {'P':>6} {'R':>6} {'F1':>6}")
    for name, r in [*rows.items(), ("OVERALL", overall(rows))]:
        print(f"{name:34} {r['points']:>6} {r['windows']:>4} {r['hit']:>4} {r['alerts']:>6} {r['false_alarms']:>4} "
              f"{r['false_alarms_per_1000']:>6} {r['precision']:>6} {r['recall']:>6} {r['f1']:>6}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nab", type=Path, default=Path("/tmp/nab"), help="folder with data/ and labels/ (default /tmp/nab)")
    parser.add_argument("--set", choices=("dev", "heldout", "both"), default="both")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "auto_nab.json")
    args = parser.parse_args(argv)

    dev = load_set(args.nab, DEV)  # the baseline is always tuned on DEV, whatever is reported
    window, k, grid = tune_zscore(dev)
    print(f"rolling z-score tuned on DEV: W = {window} points, k = {k} (grid {Z_WINDOWS} x {Z_KS})")
    report: dict[str, Any] = {"nab_repo": NAB_REPO, "files": FILES, "labels": LABELS, "hold_points": HOLD,
                              "zscore": {"window": window, "k": k, "grid": grid}, "sets": {}}
    chosen = {"dev": [("dev", DEV)], "heldout": [("heldout", HELDOUT)], "both": [("dev", DEV), ("heldout", HELDOUT)]}[args.set]
    for label, names in chosen:
        series = dev if label == "dev" else load_set(args.nab, names)
        auto_rows = score_all(series, auto_starts(series))
        z_rows = score_all(series, {s.name: zscore_starts(s, window, k) for s in series})
        table(f"[{label}] auto (default sensitivity)", auto_rows)
        table(f"[{label}] rolling z-score W={window} k={k} (tuned on dev)", z_rows)
        report["sets"][label] = {"auto": {"overall": overall(auto_rows), "series": auto_rows},
                                 "zscore": {"overall": overall(z_rows), "series": z_rows}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
