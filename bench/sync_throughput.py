"""Connector sync throughput: each real client against its fake over loopback, and 200 stores at once.

    .venv/bin/python bench/sync_throughput.py                      # both parts, default sizes
    .venv/bin/python bench/sync_throughput.py --part platforms --orders-per-hour 60
    .venv/bin/python bench/sync_throughput.py --part fleet --stores 200 --concurrency 50
    .venv/bin/python bench/sync_throughput.py --part platforms --platform generic   # one platform only

Part ``platforms``: per platform, a full sync of one simulated store (3 days, ``--orders-per-hour``
daytime rate) through the real connector, the real ``SyncEngine`` and a DuckDB state store — the
``shopsentinel sync check`` path — with the connector's default (= platform maximum) page size
and the fake's default, published rate limits. The fake and the client share a manual clock, so
throttle waits are simulated: they are reported (seconds the sync would have waited at the
platform), not slept. Every run is checked against the ground truth; a mismatch fails the script.

Part ``fleet``: ``--stores`` stores spread round-robin over the platforms, all syncing concurrently
in this one process (asyncio, at most ``--concurrency`` syncs in flight), one DuckDB state store.
The fakes run in one child process per platform on the system clock with rate limits lifted (the
figure is the syncing process's capacity, not the platforms' quotas, and Amazon's sales-and-traffic
report is ready at once instead of after ~40 s); the stores of a platform
read that platform's one fake dataset, each with its own client, tokens, cursors and points.
Peak RSS is this (syncing) process's high-water mark; the fakes' memory is not included. A store
whose sync fails is counted in ``failed_stores`` (its error is kept) and the script exits 1.

The generic HTTP/JSON source (R1.3) runs against its fake aggregator API like any platform; its
page size is set to the fake's maximum (100) in every stream, and its client-side pacing is
lifted in the fleet part (quotas lifted, as for the others).

Results are appended to bench/results/sync_throughput.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from shopsentinel.core.clock import SystemClock
from shopsentinel.ingest.sync import SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.sim.platforms.generic import MAX_PAGE_SIZE as GENERIC_MAX_PAGE
from shopsentinel.sim.sync import SIM_STORES, compare, ground_truth, running_sim
from shopsentinel.sources.registry import build_source, entry

RESULTS = Path(__file__).resolve().parent / "results" / "sync_throughput.jsonl"
# Fake options for the fleet part: quotas lifted so the sync side is what is measured.
UNLIMITED: dict[str, dict[str, Any]] = {
    "amazon": {"rate_limits": {op: (1e6, 1e6) for op in
                               ("getOrders", "getInventorySummaries", "createReport", "getReport", "getReportDocument")},
               "report_seconds": 0.0},  # real reports take minutes; a store would hold a slot idle meanwhile
    "shopify": {"bucket_size": 1e9, "restore_rate": 1e9},
    "douyin": {"calls_per_second": 1e6, "burst": 1e6},
}


def _max_page_size(config: Any) -> Any:
    """The same Config with the connector's default page size (each platform's maximum); the
    generic source has no default, so each of its streams asks for the fake's maximum."""
    fields = config.model_dump(exclude={"page_size"})
    if "streams" in fields:
        for stream in fields["streams"]:
            if stream["pagination"]["type"] != "none":
                stream["pagination"]["size"] = GENERIC_MAX_PAGE
    return type(config)(**fields)


def _orders(report: SyncReport) -> int:
    return report.streams["orders"].entities if "orders" in report.streams else 0


def _waits(report: SyncReport) -> float:
    return sum(s.throttle_wait_seconds + s.backoff_seconds for s in report.streams.values())


async def _sync_one(platform: str, per_hour: float) -> dict[str, Any]:
    with running_sim(platform, per_hour=per_hour) as env, SyncDB(":memory:") as state:
        config = _max_page_size(env.config)
        source = build_source(platform, config, clock=env.clock, sleep=env.sleep)
        began = time.perf_counter()
        try:
            report = await SyncEngine(state, clock=env.clock, sleep=env.sleep).sync_store(env.record, source)
        finally:
            await source.aclose()
        seconds = time.perf_counter() - began
        if not report.ok:
            raise SystemExit(f"{platform}: sync failed: {report.error}")
        truth = ground_truth(env, tuple(source.streams()), report.until)
        result = compare(env, state.points(platform, env.record.store), truth, report.until)
        if not result.ok:
            raise SystemExit(f"{platform}: metrics differ from the ground truth: {result.examples}")
    orders = _orders(report)
    return {"platform": platform, "page_size": getattr(config, "page_size", None),
            "pages": sum(s.pages for s in report.streams.values()), "orders_pages": report.streams["orders"].pages,
            "orders": orders, "entities": sum(s.entities for s in report.streams.values()),
            "seconds": round(seconds, 3), "orders_per_s": round(orders / seconds, 1),
            "simulated_throttle_wait_s": round(_waits(report), 1), "points": report.points_written,
            "ground_truth_ok": True}


def bench_platforms(per_hour: float, platforms: list[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for platform in platforms or SIM_STORES:
        row = asyncio.run(_sync_one(platform, per_hour))
        print(json.dumps(row, ensure_ascii=False), flush=True)
        rows.append(row)
    return rows


def _serve_fake(conn: Connection, platform: str, seed: int, days: int, per_hour: float) -> None:
    """Child process: one platform's fake on the system clock until the parent says stop."""
    from shopsentinel.sim.serve_all import serving_all

    with serving_all(seed=seed, days=days, per_hour=per_hour, platforms=[platform], options=UNLIMITED) as fakes:
        conn.send((fakes[0].config, len(fakes[0].dataset.orders)))
        conn.recv()


async def _sync_fleet(configs: dict[str, dict[str, Any]], stores: int, concurrency: int) -> list[SyncReport]:
    clock = SystemClock()
    platforms = sorted(configs)
    gate = asyncio.Semaphore(concurrency)
    with SyncDB(":memory:") as state:
        engine = SyncEngine(state, clock=clock)

        async def one(index: int) -> SyncReport:
            platform = platforms[index % len(platforms)]
            name = f"bench-{platform}-{index:03d}"
            fields = {k: v for k, v in configs[platform].items() if k not in ("page_size", "requests_per_second")}
            config = entry(platform).config_model(**fields, store=name)
            record = StoreRecord(platform, name, SIM_STORES[platform].timezone, fields["start"].astimezone(UTC), {})
            async with gate:
                source = build_source(platform, config, clock=clock)
                try:
                    return await engine.sync_store(record, source)
                finally:
                    await source.aclose()

        return list(await asyncio.gather(*(one(i) for i in range(stores))))


def bench_fleet(stores: int, concurrency: int, per_hour: float, days: int) -> dict[str, Any]:
    context = mp.get_context("spawn")
    children, configs, served = [], {}, {}
    try:
        for platform in SIM_STORES:
            parent, child = context.Pipe()
            process = context.Process(target=_serve_fake, args=(child, platform, 11, days, per_hour), daemon=True)
            process.start()
            children.append((process, parent))
            configs[platform], served[platform] = parent.recv()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.perf_counter()
        reports = asyncio.run(_sync_fleet(configs, stores, concurrency))
        wall = time.perf_counter() - began
    finally:
        for process, parent in children:
            parent.send("stop")
            process.join(timeout=20)
    failed = [f"{r.platform}/{r.store}: {r.error}" for r in reports if not r.ok]
    orders = sum(_orders(r) for r in reports)
    row = {"stores": stores, "failed_stores": len(failed), "failures": failed[:5], "concurrency": concurrency,
           "platforms": len(configs), "days": days,
           "orders_per_hour": per_hour, "orders": orders,
           "entities": sum(s.entities for r in reports for s in r.streams.values()),
           "pages": sum(s.pages for r in reports for s in r.streams.values()),
           "points": sum(r.points_written for r in reports), "wall_s": round(wall, 2),
           "orders_per_s": round(orders / wall, 1), "rss_before_mib": round(rss_before / 1024, 1),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("platforms", "fleet", "both"), default="both")
    parser.add_argument("--orders-per-hour", type=float, default=60.0, help="platforms part: daytime order rate")
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--fleet-orders-per-hour", type=float, default=3.0)
    parser.add_argument("--fleet-days", type=int, default=3)
    parser.add_argument("--platform", action="append", choices=sorted(SIM_STORES),
                        help="platforms part: only these platforms (repeatable; default all)")
    args = parser.parse_args()
    result: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "args": vars(args)}
    if args.part in ("fleet", "both"):  # first, so the peak RSS is the fleet's alone
        result["fleet"] = bench_fleet(args.stores, args.concurrency, args.fleet_orders_per_hour, args.fleet_days)
    if args.part in ("platforms", "both"):
        result["platforms"] = bench_platforms(args.orders_per_hour, args.platform)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")
    if result.get("fleet", {}).get("failed_stores"):  # figures are kept, but the run is not clean
        raise SystemExit(f"{result['fleet']['failed_stores']} of {args.stores} store syncs failed")


if __name__ == "__main__":
    main()
