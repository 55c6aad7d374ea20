"""Root-cause quality: does RCA's top contributor name the injected cause?

    .venv/bin/python bench/rca_quality.py                          # held-out seeds 31,32,33, 16 stores x 70 days
    .venv/bin/python bench/rca_quality.py --seeds 31,32 --stores 12

For each seed a synthetic fleet is generated, the default rules are backtested on it (detection
only sees metrics, stores and calendar), detected alerts are grouped into incidents, and each
incident is analysed with :func:`shopsentinel.insight.rca.analyze`. Detected incidents are matched
to the fleet's labelled incidents (same store, overlapping time, same SKU for goods incidents).
The label's incident type is the injected cause:

    traffic_crash → traffic    conversion_drop → order_conversion    payment_failures → payment
    price_error   → price      stock_out       → stock

A hit is a matched multi-metric incident (a label with two or more affected metrics) whose
top-ranked contributor is that cause. Results go to bench/results/rca_quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from shopsentinel.core.events import AlertEvent
from shopsentinel.insight.rca import analyze, incident_target
from shopsentinel.runtime.backtest import run_backtest
from shopsentinel.sim.fleet import generate_fleet, write_fleet
from shopsentinel.sim.fleet_model import FleetSpec

REPO = Path(__file__).resolve().parent.parent
CAUSE_OF_TYPE = {"traffic_crash": "traffic", "conversion_drop": "order_conversion", "payment_failures": "payment",
                 "price_error": "price", "stock_out": "stock"}
SLACK = timedelta(hours=6)


def _match(incidents: dict[str, list[AlertEvent]], label: dict[str, Any]) -> list[AlertEvent] | None:
    """The detected incident of the label's store that overlaps it (goods incidents: same SKU)."""
    best: tuple[timedelta, list[AlertEvent]] | None = None
    for members in incidents.values():
        root = members[0]
        if root.store != label["store"] or root.platform != label["platform"] or root.kind != "business":
            continue
        if label["sku"] and not any(a.sku == label["sku"] for a in members):
            continue
        if not label["sku"] and all(a.sku for a in members):
            continue
        start = min(a.start for a in members)
        if not (label["start"] - SLACK <= start <= label["end"] + SLACK):
            continue
        distance = abs(start - label["start"])
        if best is None or distance < best[0]:
            best = (distance, members)
    return None if best is None else best[1]


def run_seed(spec: FleetSpec, workdir: Path) -> dict[str, Any]:
    began = time.perf_counter()
    fleet = generate_fleet(spec)
    data = workdir / f"seed-{spec.seed}"
    write_fleet(fleet, data, fmt="parquet", labels_dir=data / "labels")
    result = run_backtest(data, workers=2)
    incidents: dict[str, list[AlertEvent]] = defaultdict(list)
    for event in result.events:
        incidents[event.incident].append(event)
    frames = {key: frame for key, frame in fleet.metrics.partition_by("platform", "store", as_dict=True).items()}
    rows = []
    for label in fleet.incidents.iter_rows(named=True):
        cause = CAUSE_OF_TYPE.get(label["type"])
        if cause is None or len(label["metrics"].split(";")) < 2:
            continue
        members = _match(incidents, label)
        if members is None:
            rows.append({"type": label["type"], "id": label["id"], "detected": False})
            continue
        target = incident_target(members)
        rca = analyze(frames[(label["platform"], label["store"])], target)
        rows.append({"type": label["type"], "id": label["id"], "detected": True, "cause": cause,
                     "top": rca.cause, "hit": rca.cause == cause, "text": rca.text_zh,
                     "second": rca.contributors[1].factor if len(rca.contributors) > 1 else ""})
    seconds = time.perf_counter() - began
    return {"seed": spec.seed, "rows": rows, "seconds": round(seconds, 1)}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    detected = [r for r in rows if r["detected"]]
    by_type: dict[str, dict[str, Any]] = {}
    for kind in sorted({r["type"] for r in rows}):
        of_kind = [r for r in detected if r["type"] == kind]
        hits = sum(r["hit"] for r in of_kind)
        by_type[kind] = {"labelled": sum(r["type"] == kind for r in rows), "detected": len(of_kind),
                         "top_is_cause": hits, "accuracy": round(hits / len(of_kind), 3) if of_kind else None,
                         "wrong_tops": dict(Counter(r["top"] for r in of_kind if not r["hit"]))}
    hits = sum(r["hit"] for r in detected)
    return {"incidents_labelled": len(rows), "incidents_detected": len(detected), "top_is_cause": hits,
            "accuracy": round(hits / len(detected), 3) if detected else None, "by_type": by_type}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="31,32,33")
    parser.add_argument("--stores", type=int, default=16)
    parser.add_argument("--days", type=int, default=70)
    parser.add_argument("--incident-rate", type=float, default=0.3)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/rca_quality.json")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    per_seed = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            spec = FleetSpec(stores=args.stores, days=args.days, seed=seed, incident_rate=args.incident_rate)
            run = run_seed(spec, Path(tmp))
            summary = summarize(run["rows"])
            print(f"seed {seed}: {summary['top_is_cause']}/{summary['incidents_detected']} detected multi-metric "
                  f"incidents name the injected cause ({run['seconds']}s)", flush=True)
            if args.show_misses:
                for r in run["rows"]:
                    if r["detected"] and not r["hit"]:
                        print(f"  miss {r['type']} {r['id']}: top={r['top']} second={r['second']} · {r['text']}")
            per_seed.append({**run, "summary": summary})
    overall = summarize([r for s in per_seed for r in s["rows"]])
    print(json.dumps({k: v for k, v in overall.items() if k != "by_type"}, ensure_ascii=False))
    print(pl.DataFrame([{"type": k, **{kk: vv for kk, vv in v.items() if kk != "wrong_tops"}}
                        for k, v in overall["by_type"].items()]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"spec": {"stores": args.stores, "days": args.days, "seeds": seeds,
                                             "incident_rate": args.incident_rate},
                                    "overall": overall,
                                    "per_seed": [{"seed": s["seed"], "seconds": s["seconds"], **s["summary"]}
                                                 for s in per_seed]},
                                   indent=2, ensure_ascii=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
