"""The distributed topology under load (issue 15): PostgreSQL + Redis + ``serve`` / ``worker`` /
``scheduler`` as real processes (deploy/topology.py, the roles of compose.yaml).

    .venv/bin/python bench/distributed.py                      # both parts
    .venv/bin/python bench/distributed.py --part throughput    # evaluations/s with 1 and 2 worker processes
    .venv/bin/python bench/distributed.py --part latency --rates 1000,5000,10000 --seconds 60

*throughput*: ``--stores`` stores with ``--history-days`` of hourly history are written to a fresh
PostgreSQL schema; then, for 1 and for 2 worker processes (``--pool solo``: one task at a time per
process, so the processes are what scales), every store is sent as ``evaluate`` tasks in batches of
``--batch`` and the clock runs until the database shows every store judged. Reported: stores
evaluated per second for each, and the ratio.

*latency*: two API replicas, two workers (default pool) and the scheduler. A webhook receiver that
verifies signatures records when each message arrives. For each offered rate, two load processes
(one per API replica, half the rate each) post for ``--seconds`` — every batch new points for the
normal stores (a backfill, which goes to the ``backlog`` queue), and every 2 s one fresh store's traffic
crash (live news on its ``eval.<n>`` shard). Reported per rate: 5xx, points accepted = points stored,
crash arrival → message p50 / p99, and how long after the load stopped every crash was notified and the
service's own /metrics showed nothing left: no message waiting in a queue or held by a worker (backlog
tasks wait out their countdown inside the workers), no store with unjudged data, no undelivered outbox
entry (the backlog cleared). One JSON line per measurement in bench/results/distributed.jsonl.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from burst import TOKEN, load_generator
from databases import each_database
from record import record
from service_latency import pct, store_points

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from deploy.topology import ROLES, Role, start, wait_ready  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "distributed.jsonl"
HOOK_SECRET = "bench-distributed-hook-secret"
REDIS = "redis://127.0.0.1:6379/0"


def seed(url: str, stores: list[str], history_days: int, recent: list[datetime], *, with_recent: bool = True) -> None:
    """Write the stores' history straight through the service's write path (no broker: nothing is sent)."""
    from pydantic import SecretStr

    from shopsentinel.core.settings import Settings
    from shopsentinel.core.types import Point
    from shopsentinel.runtime.ingest import write_points
    from shopsentinel.runtime.service import build_service

    settings = Settings(database_url=url, bootstrap_token=SecretStr(TOKEN), _env_file=None)  # type: ignore[call-arg]
    service = build_service(settings)
    first = recent[0] - timedelta(days=history_days)
    hours = [first + timedelta(hours=h) for h in range(int((recent[0] - first) / timedelta(hours=1)))]
    try:
        with service.sessions() as session:
            for store in stores:
                raw = store_points(store, hours + (recent if with_recent else []))
                points = [Point(ts=datetime.fromisoformat(p["ts"].replace("Z", "+00:00")), platform=p["platform"],
                                store=p["store"], metric=p["metric"], value=p["value"], sku="") for p in raw]
                write_points(service, session, points, user="bench", now=datetime.now(UTC))
    finally:
        service.close()


def judged(url: str, stores: int) -> int:
    """How many stores have been evaluated at least once."""
    from sqlalchemy import create_engine, func, select

    from shopsentinel.store.state import StoreRow

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(StoreRow).where(StoreRow.evaluated_until.is_not(None)))
                       or 0)
    finally:
        engine.dispose()


def reset_judgement(url: str) -> None:
    from sqlalchemy import create_engine, update

    from shopsentinel.store.state import StoreRow

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(update(StoreRow).values(evaluated_until=None))
    engine.dispose()


def count_points(url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from shopsentinel.store.state import PointRow

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(PointRow)) or 0)
    finally:
        engine.dispose()


def environment(url: str, prefix: str, run_dir: Path, trace: bool = False) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSENTINEL_")}
    env.update({
        "SHOPSENTINEL_DATABASE_URL": url, "SHOPSENTINEL_BROKER_URL": REDIS, "SHOPSENTINEL_BROKER_KEY_PREFIX": prefix,
        "SHOPSENTINEL_SECRET_KEY": Fernet.generate_key().decode(), "SHOPSENTINEL_BOOTSTRAP_TOKEN": TOKEN,
        "SHOPSENTINEL_SCHEDULE_SECONDS": "1", "SHOPSENTINEL_LOG_LEVEL": "WARNING", "NO_PROXY": "127.0.0.1,localhost",
        "HOME": str(run_dir / "home"), "PYTHONPATH": str(ROOT),
    })  # fmt: skip
    if trace:  # the workers' task trace lines (tasks.py ``_trace``) are INFO, in the JSON format's fields
        env.update({"SHOPSENTINEL_LOG_LEVEL": "INFO", "SHOPSENTINEL_LOG_FORMAT": "json"})
    return env


def queue_depth(prefix: str) -> int:
    import redis

    from shopsentinel.runtime.distributed.shards import all_queues

    client = redis.Redis.from_url(REDIS)
    try:
        return sum(int(client.llen(f"{prefix}{q}")) for q in all_queues(4))  # type: ignore[arg-type]
    finally:
        client.close()


def outstanding(api_url: str) -> dict[str, float]:
    """What the service's /metrics says is still to do: messages waiting in the queues, messages workers
    hold unacknowledged (running, or held for their countdown), stores with unjudged live data, outbox
    entries not yet delivered. The backlog is cleared when all four are 0."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{api_url}/metrics", timeout=10).text
    totals = {"waiting": 0.0, "reserved": 0.0, "unjudged": 0.0, "outbox": 0.0}
    names = {"shopsentinel_queue_depth": "waiting", "shopsentinel_queue_reserved": "reserved",
             "shopsentinel_evaluation_unjudged_stores": "unjudged", "shopsentinel_outbox_depth": "outbox"}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names:
                totals[names[sample.name]] += sample.value
    return totals


def task_lines(run_dir: Path) -> list[dict[str, Any]]:
    """The workers' task trace lines (``--trace``: JSON logs at INFO), each with the worker's name."""
    lines = []
    for path in sorted(run_dir.glob("worker-*.log")):
        for raw in path.read_text(errors="replace").splitlines():
            if '"trace"' not in raw:
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if "trace" in entry:
                lines.append({**entry, "worker": path.stem})
    return lines


def outbox_times(url: str, channel: str) -> list[tuple[str, float, float | None, float | None]]:
    """Per outbox entry of ``channel``: payload text, created, first attempt (claimed: ``sending``), sent."""
    from sqlalchemy import create_engine, func, select

    from shopsentinel.store.state import NotificationAttemptRow, OutboxRow

    def epoch(value: datetime | None) -> float | None:
        return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            first = dict(conn.execute(select(NotificationAttemptRow.outbox_id, func.min(NotificationAttemptRow.ts))
                                      .group_by(NotificationAttemptRow.outbox_id)).all())
            rows = conn.execute(select(OutboxRow.id, OutboxRow.payload, OutboxRow.created_at, OutboxRow.sent_at)
                                .where(OutboxRow.channel == channel)).all()
            return [(json.dumps(r.payload), epoch(r.created_at) or 0.0, epoch(first.get(r.id)), epoch(r.sent_at))
                    for r in rows]
    finally:
        engine.dispose()


def trace_crashes(run_dir: Path, url: str, loads: list[dict[str, Any]], received: dict[str, float],
                  roles: dict[int, str], show: int = 6) -> dict[str, Any]:
    """Break each crash's arrival → message into stages (seconds from its first POST) and print the
    slowest crashes' timelines; returns each stage's p50 / max over all crashes."""
    sent = {s: t for load in loads for s, t in load["sent_at"].items()}
    accepted = {s: t for load in loads for s, t in load.get("accepted_at", {}).items()}
    tasks = task_lines(run_dir)
    evals = [t for t in tasks if t["trace"] == "evaluate"]
    delivers = sorted((t for t in tasks if t["trace"] == "deliver" and t.get("channel") == "hook"),
                      key=lambda t: t["started"])
    outbox = outbox_times(url, "hook")
    rows = []
    for store, t0 in sent.items():
        if store not in received:
            continue
        ok = accepted.get(store, t0)
        mine = sorted((e for e in evals if store in e.get("stores", []) and e["finished"] >= ok),
                      key=lambda e: e["started"])
        judged = next((e for e in mine if e.get("changes")), mine[0] if mine else None)
        entry = min((o for o in outbox if store in o[0]), key=lambda o: o[1], default=None)
        created, claimed = (entry[1], entry[2]) if entry else (None, None)
        sender = next((d for d in delivers if claimed is not None and d["started"] <= claimed <= d["finished"] + 0.05), None)
        after = [d for d in delivers if created is not None and d["started"] >= created - 0.05]
        def rel(x: float | None, t0: float = t0) -> float | None:
            return None if x is None else round(x - t0, 3)

        rows.append({
            "store": store, "total": round(received[store] - t0, 3), "accepted": rel(ok),
            "eval_sent": rel(judged and judged.get("sent")), "eval_started": rel(judged and judged["started"]),
            "eval_queue": judged and judged["queue"], "eval_worker": judged and judged["worker"],
            "eval_tasks": len(mine), "judged": rel(judged and judged.get("at_judged")),
            "piped": rel(judged and judged.get("at_piped")), "kicked": rel(judged and judged.get("at_kicked")),
            "outbox_created": rel(created),
            "first_deliver_after_commit": rel(after[0]["started"]) if after else None,
            "first_deliver_busy": bool(after and "at_busy" in after[0]),
            "claimed": rel(claimed),
            "sender_task": None if sender is None else {
                "worker": sender["worker"], "retry": sender.get("retry"), "sent": rel(sender.get("sent")),
                "started": rel(sender["started"]), "by": roles.get(sender.get("sent_by") or -1, "?")},
            "received": rel(received[store]),
        })
    rows.sort(key=lambda r: -r["total"])
    print(f"-- slowest {min(show, len(rows))} of {len(rows)} crashes (seconds after the crash's first POST):", flush=True)
    for row in rows[:show]:
        print("   " + json.dumps(row, ensure_ascii=False), flush=True)
    stages = {"post": ("accepted", None), "eval_wait": ("eval_started", "accepted"), "judge": ("judged", "eval_started"),
              "pipeline": ("piped", "judged"), "kick": ("kicked", "piped"), "to_claim": ("claimed", "piped"),
              "send": ("received", "claimed")}
    summary: dict[str, Any] = {}
    for name, (end, begin) in stages.items():
        values = [r[end] - (r[begin] if begin else 0) for r in rows if r[end] is not None and (begin is None or r[begin] is not None)]
        if values:
            summary[name] = {"p50": round(pct(values, 0.5) or 0, 3), "max": round(max(values), 3)}
    print("-- stage p50 / max: " + json.dumps(summary), flush=True)
    return {"stages": summary, "slowest": rows[:show]}


def clean_redis(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def wait_workers(topology: Any, deadline: float) -> None:
    while not all("worker ready" in p.log() for p in topology.of("worker")):
        for process in topology.processes:
            if process.proc.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.log()}")
        if time.time() > deadline:
            raise TimeoutError("workers not ready")
        time.sleep(0.2)


def throughput(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from shopsentinel.core.settings import Settings
    from shopsentinel.runtime.distributed.celery_app import TaskSender

    stores = [f"t{i:05d}" for i in range(args.stores)]
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    seed(url, stores, args.history_days, [now - timedelta(hours=2), now - timedelta(hours=1)])
    results = []
    for workers in (1, 2):
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        run_dir = Path(tempfile.mkdtemp(prefix="ss-dist-"))
        env = environment(url, prefix, run_dir)
        reset_judgement(url)
        role = Role("worker", workers, ("worker", "--pool", "solo"))
        topology = start(env, run_dir, 0, roles=[role])
        try:
            wait_workers(topology, time.time() + 180)
            settings = Settings(database_url=url, broker_url=REDIS, broker_key_prefix=prefix, _env_file=None)  # type: ignore[call-arg]
            sender = TaskSender.from_settings(settings)
            sender.batch = args.batch
            t0 = time.time()
            sender.evaluate([("tmall", s) for s in stores])
            while (done := judged(url, len(stores))) < len(stores):
                if time.time() - t0 > args.timeout:
                    raise TimeoutError(f"{done} of {len(stores)} judged after {args.timeout} s")
                time.sleep(0.1)
            elapsed = time.time() - t0
        finally:
            topology.stop()
            clean_redis(prefix)
        results.append({"bench": "distributed.throughput", "workers": workers, "stores": len(stores),
                        "history_days": args.history_days, "batch": args.batch, "seconds": round(elapsed, 2),
                        "stores_per_s": round(len(stores) / elapsed, 2)})
    results[1]["ratio_vs_1"] = round(results[1]["stores_per_s"] / results[0]["stores_per_s"], 2)
    return results


def latency(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    import httpx

    from shopsentinel.sim.channels import FakeWebhookReceiver, run_fake_server

    normal = [f"n{i:05d}" for i in range(args.normal_stores)]
    rates = [int(r) for r in args.rates.split(",")]
    per_rate = int(args.seconds / args.crash_every) + 2
    crash_sets = [[f"c{k}-{i:04d}" for i in range(per_rate)] for k in range(len(rates))]
    now = datetime.now(UTC)
    current = now.replace(minute=0, second=0, microsecond=0)
    recent = [current - timedelta(hours=2), current - timedelta(hours=1)]
    seed(url, normal, args.history_days, recent)
    seed(url, [s for group in crash_sets for s in group], args.history_days, recent, with_recent=False)
    oldest = recent[0] - timedelta(days=args.history_days + 1)
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    run_dir = Path(tempfile.mkdtemp(prefix="ss-dist-"))
    env = environment(url, prefix, run_dir, args.trace)
    fake = FakeWebhookReceiver(HOOK_SECRET)
    results: list[dict[str, Any]] = []
    with ExitStack() as stack, run_fake_server(fake.app) as hook_url:
        topology = start(env, run_dir, args.base_port, roles=ROLES)
        stack.callback(clean_redis, prefix)
        stack.callback(topology.stop)
        wait_ready(topology, timeout=300)
        api = stack.enter_context(httpx.Client(base_url=topology.api_urls()[0], timeout=30,
                                               headers={"Authorization": f"Bearer {TOKEN}"}))
        for put in (("/api/v1/channels", {"name": "hook", "kind": "webhook", "medium": "im", "receiver": "default",
                                          "settings": {"url": f"{hook_url}/hook", "secret": HOOK_SECRET}}),
                    ("/api/v1/routing", {"route": {"receiver": "default", "group_wait_seconds": 0}})):
            response = api.put(put[0], json=put[1])
            assert response.status_code == 200, response.text
        # the first periodic pass judges every seeded store; measure from a settled state
        settle = time.time() + args.timeout
        while judged(url, 0) < len(normal) + sum(map(len, crash_sets)) or queue_depth(prefix):
            if time.time() > settle:
                raise TimeoutError("the first pass did not settle")
            time.sleep(0.5)
        for index, (rate, crash) in enumerate(zip(rates, crash_sets, strict=True)):
            stored_before = count_points(url)
            out = [str(run_dir / f"load-{rate}-{i}.json") for i in (0, 1)]
            halves = [crash[0::2], crash[1::2]]
            # each load process walks back from its own oldest hour, so their batches never share a key
            # (and from every other rate's: re-sent keys would be upserts, not new rows, and look lost)
            starts = [oldest - timedelta(hours=(2 * index + k) * 3_000) for k in (0, 1)]
            procs = [mp.get_context("spawn").Process(target=load_generator, args=(
                base, args.seconds, rate // 2, args.batch_points, args.in_flight // 2, len(normal), starts[i].isoformat(),
                halves[i], args.crash_every * 2, [h.isoformat() for h in recent], out[i]))
                for i, base in enumerate(topology.api_urls())]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join()
            ended = time.time()
            loads = [json.loads(Path(p).read_text()) for p in out]
            sent_at = {s: t for load in loads for s, t in load["sent_at"].items()}

            def first_message(store: str) -> float | None:
                times = [m.at.timestamp() for m in list(fake.received) if store in json.dumps(m.payload)]
                return min(times) if times else None

            cleared, left = None, {}
            while time.time() - ended < args.drain_seconds:
                left = outstanding(topology.api_urls()[0])
                if all(first_message(s) is not None for s in sent_at) and not any(left.values()):
                    cleared = time.time() - ended
                    break
                time.sleep(0.5)
            latencies = [t - sent_at[s] for s in sent_at if (t := first_message(s)) is not None]
            trace = None
            if args.trace:
                received = {s: t for s in sent_at if (t := first_message(s)) is not None}
                roles = {p.proc.pid: p.name for p in topology.processes}
                trace = trace_crashes(run_dir, url, loads, received, roles)
            status: dict[int, int] = {}
            for load in loads:
                for k, v in load["status"].items():
                    status[int(k)] = status.get(int(k), 0) + v
            accepted = sum(load["ok_points"] + load["crash_points"] for load in loads)
            results.append({
                "bench": "distributed.latency", "offered_points_per_s": rate, "seconds": args.seconds,
                "status": status, "responses_5xx_other_than_503": sum(v for k, v in status.items() if k >= 500 and k != 503),
                "overload_answers_429_503": sum(load["overload"] for load in loads),
                "achieved_points_per_s": round(sum(load["ok_points"] for load in loads) / max(x["elapsed"] for x in loads), 1),
                "points_accepted": accepted, "points_stored": count_points(url) - stored_before,
                "crashes_sent": len(sent_at), "crashes_notified": len(latencies),
                "crash_latency_p50_s": round(pct(latencies, 0.5) or 0, 2) if latencies else None,
                "crash_latency_p99_s": round(pct(latencies, 0.99) or 0, 2) if latencies else None,
                # every crash notified and /metrics shows nothing waiting, held, unjudged or undelivered
                "backlog_cleared_after_s": None if cleared is None else round(cleared, 1),
                "left_at_drain_end": left if cleared is None else {},
                **({"trace": trace} if trace else {}),
            })
            print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("throughput", "latency", "both"), default="both")
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--history-days", type=int, default=14)
    parser.add_argument("--batch", type=int, default=10, help="stores per evaluate task (throughput part)")
    parser.add_argument("--rates", default="1000,5000,10000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--normal-stores", type=int, default=200)
    parser.add_argument("--batch-points", type=int, default=250)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--crash-every", type=float, default=2.0)
    parser.add_argument("--drain-seconds", type=float, default=180.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--base-port", type=int, default=8150)
    parser.add_argument("--trace", action="store_true",
                        help="JSON logs at INFO; break each crash's latency into stages and print the slowest")
    args = parser.parse_args()
    common = {"measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "host": platform.node(),
              "cpus": os.cpu_count()}
    for _database, url in each_database("postgresql", "distributed"):
        if args.part in ("throughput", "both"):
            record(RESULTS, *({**common, **r} for r in throughput(url, args)))
        if args.part in ("latency", "both"):
            record(RESULTS, *({**common, **r} for r in latency(url, args)))


if __name__ == "__main__":
    main()
