"""The ``auto`` detector on a corpus of public series bundled in package wheels, against a tuned rolling z-score.

    UV_PROJECT_ENVIRONMENT=/tmp/venv-series .venv/bin/uv sync -q --locked --extra series
    /tmp/venv-series/bin/python bench/auto_corpus.py        # writes bench/results/auto_corpus.json

The ``series`` extra (pyproject.toml, locked in uv.lock) installs statsmodels, vega_datasets and river;
this script reads the CSV files their wheels carry (located with ``importlib.util.find_spec``, which
does not import the packages) and downloads nothing. Only series with at least ``MIN_POINTS`` points
are kept; see ``SPECS`` for every series: package, file, column, native cadence and the timestamps
used for the replay.

Cadence: every series keeps its real timestamps (weekly, every 3 days, monthly, quarterly and yearly
points at their real dates, which ``auto`` puts on a grid of that step) except the run log, sampled every
~5 s, which is replayed at nominal one-minute timestamps (``auto``'s finest grid). ``--nominal-coarse``
replays the coarser-than-daily series one observation per nominal day instead (how they had to be fed to
``auto`` before it had coarse grids). A "series-week" is a week of replayed time: for a daily series 7
points, for a monthly one a quarter of a point, so false alarms are also given per 1,000 points.

Split, fixed before anything was run: within each package, the series sorted by name go alternately to
DEV and HELDOUT (the first to DEV); series that bench/auto_realworld.py already uses (``auto`` was
tuned on them) go to DEV and are left out of the alternation. The z-score's ``W`` × ``k`` and any change to
``auto`` are chosen on DEV only.

Labels: anomalies injected with a fixed seed by bench/auto_realworld.py's ``inject`` (spike, dip, level
shift, variance burst, stuck, drop to zero; imported, not copied), or, where the package documents change
points (river's TCPD annotations of the bitcoin price and the run log; the water-flow segments and the
occupancy change points of auto_realworld), those, where at least 3 of the 5 annotators agree within 5
points. Every series is also replayed WITHOUT injected events (its clean copy): any alert start there
outside a documented window is a false alarm, reported per series-week of replayed time.

Scoring and replay as in bench/auto_realworld.py and bench/auto_nab.py (``auto_starts``,
``score_series``, ``zscore_starts``, ``tune_zscore``, ``overall`` imported): alert episode starts,
NAB style, warm-up windows not scored, ``custom.auto`` at the default sensitivity through
``run_backtest``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auto_nab import overall, score_all, tune_zscore, zscore_starts  # noqa: E402
from auto_realworld import KINDS, Series, auto_starts, inject  # noqa: E402
from auto_realworld import load_all as realworld_series  # noqa: E402

ROOT = Path(__file__).resolve().parent
SEED = 20261207
MIN_POINTS = 200
NOMINAL_START = np.datetime64("2000-01-01T00:00:00", "s")
COARSE = ("weekly", "every 3 days", "monthly", "quarterly", "yearly")
NOMINAL_COARSE = False  # --nominal-coarse: replay COARSE series one observation per nominal day


@dataclass(frozen=True)
class Spec:
    name: str
    package: str  # distribution name
    module: str  # top-level module whose folder holds the file
    file: str  # path inside the module's folder
    column: str
    cadence: str  # native cadence
    time: str  # how timestamps are read: a column spec, or "nominal_day" / "nominal_minute"
    annotated: tuple[int, ...] = ()  # documented change points (consensus of >= 3 of 5 annotators)


def _consensus(annotations: dict[str, list[int]], agree: int = 3, within: int = 5) -> tuple[int, ...]:
    """Change points that at least ``agree`` annotators mark within ``within`` points (the earliest)."""
    marks = sorted((cp, who) for who, cps in annotations.items() for cp in cps)
    found: list[int] = []
    for cp, _ in marks:
        near = {who for c, who in marks if cp <= c <= cp + within}
        if len(near) >= agree and not (found and cp - found[-1] <= within):
            found.append(cp)
    return tuple(found)


# river 0.26.1, river/drift/datasets/bitcoin.py and run_log.py (TCPD annotations, copied verbatim).
BITCOIN_ANNOTATIONS = {"6": [502, 580, 702, 747], "8": [583], "12": [597],
                       "13": [522, 579, 591, 629, 703, 747, 760], "14": [93, 522, 540, 701, 747, 760, 772]}
RUN_LOG_ANNOTATIONS = {"6": [60, 96, 114, 174, 204, 240, 258, 317], "7": [60, 96, 114, 177, 204, 240, 258, 317],
                       "8": [60, 96, 114, 174, 204, 240, 258, 317]}

MACRO = ("cpi", "infl", "m1", "pop", "realcons", "realdpi", "realgdp", "realgovt", "realint", "realinv", "tbilrate", "unemp")
SP500 = ("AAPL", "AMZN", "IBM", "INTC", "JNJ", "JPM", "KO", "MSFT", "WMT", "XOM")
TRUMP = ("five_thirty_eight", "gallup", "ipsos", "morning_consult", "rasmussen", "you_gov")

SPECS: tuple[Spec, ...] = (
    # statsmodels: weekly, monthly, quarterly and yearly series -> nominal daily timestamps
    Spec("sm_co2_weekly", "statsmodels", "statsmodels", "datasets/co2/co2.csv", "co2", "weekly", "date:%Y%m%d"),
    Spec("sm_elec_equip_monthly", "statsmodels", "statsmodels", "datasets/elec_equip/elec_equip.csv",
         "STS.M.I7.W.TOVT.NS0016.4.000", "monthly", "DATE:%b-%d-%Y"),
    Spec("sm_elnino_monthly", "statsmodels", "statsmodels", "datasets/elnino/elnino.csv", "*months", "monthly", "year_month"),
    *(Spec(f"sm_macro_{c}_quarterly", "statsmodels", "statsmodels", "datasets/macrodata/macrodata.csv", c, "quarterly",
           "year_quarter") for c in MACRO),
    Spec("sm_sunspots_yearly", "statsmodels", "statsmodels", "datasets/sunspots/sunspots.csv", "SUNACTIVITY", "yearly",
         "YEAR:%Y"),
    # vega_datasets: hourly and daily, real timestamps
    Spec("vg_seattle_tmin_daily", "vega-datasets", "vega_datasets", "_data/seattle-weather.csv", "temp_min", "daily",
         "date:%Y/%m/%d"),
    Spec("vg_seattle_wind_daily", "vega-datasets", "vega_datasets", "_data/seattle-weather.csv", "wind", "daily",
         "date:%Y/%m/%d"),
    Spec("vg_sf_temp_hourly", "vega-datasets", "vega_datasets", "_data/sf-temps.csv", "temp", "hourly",
         "date:%Y/%m/%d %H:%M:%S"),
    # river: business-day, daily, 3-day, 16-minute, ~5-second series
    Spec("rv_apple_close_bdaily", "river", "river", "drift/datasets/apple.csv", "Close", "business days", "Date:%Y-%m-%d"),
    Spec("rv_bitcoin_3day", "river", "river", "drift/datasets/bitcoin.csv", "price", "every 3 days", "date:%Y-%m-%d",
         _consensus(BITCOIN_ANNOTATIONS)),
    Spec("rv_occupancy_humidity_16min", "river", "river", "drift/datasets/occupancy.csv", "V2", "16 min",
         "time:%Y-%m-%d %H:%M:%S"),
    Spec("rv_occupancy_temp_16min", "river", "river", "drift/datasets/occupancy.csv", "V1", "16 min",
         "time:%Y-%m-%d %H:%M:%S"),
    Spec("rv_run_log_pace_5s", "river", "river", "drift/datasets/run_log.csv", "Pace", "~5 s", "nominal_minute",
         _consensus(RUN_LOG_ANNOTATIONS)),
    *(Spec(f"rv_sp500_{c.lower()}_return_bdaily", "river", "river", "datasets/sp500.csv.gz", c, "business days",
           "date:%Y-%m-%d") for c in SP500),
    *(Spec(f"rv_trump_{c}_daily", "river", "river", "datasets/trump_approval.csv.gz", c, "daily", "ordinal_date")
      for c in TRUMP),
)
# bench/auto_realworld.py's series (auto was tuned on them): always DEV, outside the alternation.
REALWORLD_PACKAGE = {"seattle_temp_hourly": "vega-datasets", "seattle_tmax_daily": "vega-datasets",
                     "seattle_rain_daily": "vega-datasets", "water_flow_hourly": "river", "water_flow_injected": "river",
                     "occupancy_light_16min": "river", "occupancy_co2_16min": "river", "apple_volume_daily": "river",
                     "brent_price_daily": "river"}


def split(specs: tuple[Spec, ...] = SPECS) -> dict[str, str]:
    """name -> "dev" | "heldout": alternate by sorted name within each package, the first to dev."""
    out: dict[str, str] = {}
    for package in sorted({s.package for s in specs}):
        for i, name in enumerate(sorted(s.name for s in specs if s.package == package)):
            out[name] = "dev" if i % 2 == 0 else "heldout"
    return out


def package_file(spec: Spec) -> Path:
    found = importlib.util.find_spec(spec.module)  # locates the package without importing it
    if found is None or not found.submodule_search_locations:
        raise SystemExit(f"缺少可选依赖 {spec.package}：请安装 shopsentinel[series]\n"
                         f"{spec.package} is not installed: install the optional extra shopsentinel[series] "
                         f"(see the docstring of bench/auto_corpus.py)")
    return Path(list(found.submodule_search_locations)[0]) / spec.file


def _rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def read(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    rows = _rows(package_file(spec))
    if spec.column == "*months":  # elnino: one row per year, one column per month
        months = [k for k in rows[0] if k != "YEAR"]
        values = [float(r[m]) for r in rows for m in months]
        raw_times: list[Any] = [np.datetime64(f"{int(r['YEAR'])}-{i + 1:02d}-01T00:00:00", "s")
                                for r in rows for i in range(len(months))]
    else:
        kept = [r for r in rows if r[spec.column] not in ("", "NA", "nan")]
        values = [float(r[spec.column]) for r in kept]
        if spec.time.startswith("nominal"):
            raw_times = list(range(len(values)))
        elif spec.time == "year_quarter":
            raw_times = [np.datetime64(f"{int(float(r['year']))}-{3 * int(float(r['quarter'])) - 2:02d}-01T00:00:00", "s")
                         for r in kept]
        elif spec.time == "ordinal_date":
            raw_times = [np.datetime64(datetime.fromordinal(int(float(r["ordinal_date"]))), "s") for r in kept]
        else:
            col, fmt = spec.time.split(":", 1)
            raw_times = [np.datetime64(datetime.strptime(r[col], fmt), "s")
                         for r in kept]
    v = np.array(values, dtype=float)
    if spec.time == "nominal_day" or NOMINAL_COARSE and spec.cadence in COARSE:
        t = NOMINAL_START + np.arange(v.size) * np.timedelta64(86400, "s")
    elif spec.time == "nominal_minute":
        t = NOMINAL_START + np.arange(v.size) * np.timedelta64(60, "s")
    else:
        t = np.array(raw_times, dtype="datetime64[s]")
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        keep = np.concatenate([[True], np.diff(t) > np.timedelta64(0, "s")])
        t, v = t[keep], v[keep]
    return t, v


@dataclass
class Entry:
    injected: Series  # labelled copy (injected or documented events)
    clean: Series  # the same series without injected events (documented windows kept as labels)
    split: str
    package: str
    meta: dict[str, Any]


def build() -> list[Entry]:
    rng = np.random.default_rng(SEED)
    sets = split()
    entries: list[Entry] = []
    for spec in SPECS:
        t, v = read(spec)
        if v.size < MIN_POINTS:
            continue
        src = f"{spec.package} {version(spec.package)} {spec.module}/{spec.file} [{spec.column}]"
        base = Series(spec.name, t, v, src)
        if spec.annotated:
            windows = [(max(cp - 2, 0), min(cp + 8, v.size - 1), "annotated_change") for cp in spec.annotated]
            labelled = Series(spec.name, t, v, src, windows)
            clean = Series(spec.name + "__clean", t, v, src, windows)
        else:
            labelled = inject(base, rng)
            clean = Series(spec.name + "__clean", t, v, src, [])
        meta = {"package": spec.package, "version": version(spec.package), "file": f"{spec.module}/{spec.file}",
                "column": spec.column, "points": int(v.size), "cadence": spec.cadence,
                "timestamps": "nominal daily" if NOMINAL_COARSE and spec.cadence in COARSE else
                {"nominal_minute": "nominal 1 min"}.get(spec.time, "real"),
                "labels": "annotated (TCPD, >=3 of 5)" if spec.annotated else "injected", "split": sets[spec.name]}
        entries.append(Entry(labelled, clean, sets[spec.name], spec.package, meta))
    # auto_realworld's series (its own injections and documented events), always DEV.
    for s in realworld_series():
        documented = [w for w in s.windows if w[2] not in KINDS]
        original = _realworld_clean(s)
        clean = Series(s.name + "__clean", s.times, original, s.source, documented)
        meta = {"package": REALWORLD_PACKAGE[s.name], "file": s.source, "points": int(s.values.size),
                "cadence": "as bench/auto_realworld.py", "timestamps": "real", "split": "dev",
                "labels": "documented" if documented else "injected (auto_realworld seed)", "column": "",
                "version": version(REALWORLD_PACKAGE[s.name])}
        entries.append(Entry(s, clean, "dev", REALWORLD_PACKAGE[s.name], meta))
    return entries


_REALWORLD_CLEAN: dict[str, np.ndarray] = {}


def _realworld_clean(s: Series) -> np.ndarray:
    """The values of an auto_realworld series before its injections (the bundled file's)."""
    if not _REALWORLD_CLEAN:
        import auto_realworld as rw

        def no_inject(series: Series, rng: np.random.Generator, kinds: Any = None, width: Any = None) -> Series:
            return series

        saved = rw.inject
        rw.inject = no_inject  # type: ignore[assignment]
        try:
            for c in rw.load_all():
                _REALWORLD_CLEAN[c.name] = c.values
        finally:
            rw.inject = saved  # type: ignore[assignment]
    return _REALWORLD_CLEAN[s.name]


def _weeks(s: Series) -> float:
    return float((s.times[-1] - s.times[0]) / np.timedelta64(7 * 86400, "s"))


def clean_row(s: Series, starts: list[np.datetime64]) -> dict[str, Any]:
    """False alarms on a copy without injected events: alert starts outside documented windows, after warm-up."""
    from auto_realworld import score_series

    r = score_series(s, starts)
    weeks = _weeks(s)
    return {"points": r["points"], "weeks": round(weeks, 2), "alerts": r["alerts"], "false_alarms": r["false_alarms"],
            "false_per_series_week": round(r["false_alarms"] / weeks, 3) if weeks else None}


def without(s: Series, starts: list[np.datetime64], kind: str) -> tuple[Series, list[np.datetime64]]:
    """``s`` with its ``kind`` windows dropped, and the alert starts that fell in them (neither hits nor false)."""
    from auto_realworld import TOLERANCE

    drop = [w for w in s.windows if w[2] == kind]
    idx = np.searchsorted(s.times, np.array(starts, dtype="datetime64[s]"), side="left") if starts else np.array([], dtype=int)
    kept = [t for t, i in zip(starts, idx, strict=True) if not any(a <= i <= b + TOLERANCE for a, b, _ in drop)]
    return Series(s.name, s.times, s.values, s.source, [w for w in s.windows if w[2] != kind]), kept


def summarize(entries: list[Entry], labelled: dict[str, dict[str, Any]], no_stuck: dict[str, dict[str, Any]],
              clean: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in ("all", *sorted({e.package for e in entries})):
        chosen = [e for e in entries if group in ("all", e.package)]
        if not chosen:
            continue
        o = overall({e.injected.name: labelled[e.injected.name] for e in chosen})
        ns = overall({e.injected.name: no_stuck[e.injected.name] for e in chosen})
        fa = sum(clean[e.clean.name]["false_alarms"] for e in chosen)
        weeks = sum(clean[e.clean.name]["weeks"] for e in chosen)
        points = sum(clean[e.clean.name]["points"] for e in chosen)
        per_week = [clean[e.clean.name]["false_per_series_week"] or 0.0 for e in chosen]
        out[group] = {"series": len(chosen), **o,
                      "without_stuck": {k: ns[k] for k in ("windows", "hit", "alerts", "false_alarms", "recall", "precision", "f1")},
                      "clean_false_alarms": fa, "clean_weeks": round(weeks, 1),
                      "clean_false_per_series_week": round(fa / weeks, 3) if weeks else None,
                      "clean_false_per_1000_points": round(1000 * fa / points, 2) if points else None,
                      "clean_max_false_per_series_week": round(max(per_week), 3),
                      "clean_series_over_1_per_week": sum(1 for w in per_week if w > 1.0)}
    return out


def paired(auto: dict[str, dict[str, Any]], z: dict[str, dict[str, Any]], reps: int = 2000) -> dict[str, Any]:
    """Series where auto's F1 is above, equal to or below the z-score's, and the pooled F1 difference with a
    percentile bootstrap interval over series (resampled with replacement, fixed seed)."""
    names = sorted(auto)
    diff = [auto[n]["f1"] - z[n]["f1"] for n in names]
    rng = np.random.default_rng(SEED)
    draws = []
    for _ in range(reps):
        pick = [names[i] for i in rng.integers(0, len(names), len(names))]
        a = overall({f"{n}#{j}": auto[n] for j, n in enumerate(pick)})["f1"]
        b = overall({f"{n}#{j}": z[n] for j, n in enumerate(pick)})["f1"]
        draws.append(a - b)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"better": sum(d > 0 for d in diff), "equal": sum(d == 0 for d in diff), "worse": sum(d < 0 for d in diff),
            "f1_difference": round(overall(auto)["f1"] - overall(z)["f1"], 3), "interval_95": [round(float(lo), 3), round(float(hi), 3)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--set", choices=("dev", "heldout", "both"), default="both")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "auto_corpus.json")
    parser.add_argument("--nominal-coarse", action="store_true",
                        help="replay weekly/3-day/monthly/quarterly/yearly series at nominal daily timestamps "
                             "(as auto could only judge them before it had coarse grids)")
    args = parser.parse_args(argv)
    global NOMINAL_COARSE
    NOMINAL_COARSE = args.nominal_coarse

    entries = build()
    dev = [e for e in entries if e.split == "dev"]
    window, k, grid = tune_zscore([e.injected for e in dev])  # DEV only, whatever is reported
    print(f"rolling z-score tuned on DEV: W = {window}, k = {k}")
    sets = {"dev": ["dev"], "heldout": ["heldout"], "both": ["dev", "heldout"]}[args.set]
    chosen = [e for e in entries if e.split in sets]
    series = [e.injected for e in chosen] + [e.clean for e in chosen]
    auto = auto_starts(series)
    z = {s.name: zscore_starts(s, window, k) for s in series}
    report: dict[str, Any] = {"seed": SEED, "min_points": MIN_POINTS, "zscore": {"window": window, "k": k, "grid": grid},
                              "corpus": {e.injected.name: e.meta for e in entries}, "sets": {}}
    for label in sets:
        part = [e for e in entries if e.split == label]
        report["sets"][label] = {}
        for method, starts in (("auto", auto), ("zscore", z)):
            labelled = score_all([e.injected for e in part], starts)
            no_stuck = {}
            for e in part:
                s, kept = without(e.injected, starts.get(e.injected.name, []), "stuck")
                no_stuck[s.name] = score_all([s], {s.name: kept})[s.name]
            clean = {e.clean.name: clean_row(e.clean, starts.get(e.clean.name, [])) for e in part}
            report["sets"][label][method] = {"summary": summarize(part, labelled, no_stuck, clean), "series": labelled,
                                             "clean": clean}
        print(f"\n[{label}] {len(part)} series")
        print(f"{'group':14} {'method':7} {'n':>3} {'win':>4} {'hit':>4} {'alerts':>6} {'FA':>4} {'P':>6} {'R':>6} {'F1':>6} "
              f"{'F1-stk':>6} {'cleanFA':>7} {'/1kpt':>6} {'/wk':>6} {'max/wk':>6}")
        for group in report["sets"][label]["auto"]["summary"]:
            for method in ("auto", "zscore"):
                r = report["sets"][label][method]["summary"][group]
                print(f"{group:14} {method:7} {r['series']:>3} {r['windows']:>4} {r['hit']:>4} {r['alerts']:>6} "
                      f"{r['false_alarms']:>4} {r['precision']:>6} {r['recall']:>6} {r['f1']:>6} {r['without_stuck']['f1']:>6} "
                      f"{r['clean_false_alarms']:>7} {r['clean_false_per_1000_points']!s:>6} "
                      f"{r['clean_false_per_series_week']!s:>6} {r['clean_max_false_per_series_week']!s:>6}")
        compare = paired(report["sets"][label]["auto"]["series"], report["sets"][label]["zscore"]["series"])
        report["sets"][label]["auto_vs_zscore"] = compare
        print(f"per series F1, auto vs z-score: {compare['better']} better, {compare['equal']} equal, {compare['worse']} worse; "
              f"pooled F1 difference {compare['f1_difference']}, 95% bootstrap interval over series {compare['interval_95']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
