"""双11 burst: 10× normal load against the live service, on SQLite and on PostgreSQL.

    .venv/bin/python bench/burst.py                          # both databases, 60 s each
    .venv/bin/python bench/burst.py --database postgresql --seconds 60 --rate 10000 --in-flight 32

The real service (``create_app`` with the background scheduler, the system clock and a fresh state
database) runs under uvicorn in a thread of this process on a loopback port; its dispatcher records
when each notification is handed over. A second *process* offers ``--rate`` points/s for
``--seconds`` with ``--in-flight`` requests in flight (threads, one HTTP client each), in batches of
``--batch`` points. Every batch carries new keys (a normal store's backfill of hours it has not sent
before), so nothing is de-duplicated away and "no point lost" is checkable: the points stored after the
run must equal the distinct points of every batch answered 200. A 429/503 is retried after its
``Retry-After``; the client timeout is 30 s. Every ``--crash-every`` seconds one fresh store's last two
hours arrive with ``uv`` at 5 % of normal (a traffic crash, rule ``traffic.uv_drop_vs_yesterday``);
its latency is the time from the first attempt to post it to its notification. A third process probes
``GET /healthz`` every 100 ms.

Reported per database: status counts (5xx must be 0), overload answers (429/503) and client
timeouts, offered vs achieved points/s, points accepted vs stored, crash notification latency p50/p99,
/healthz latency p50/p99/max. One JSON line per database is printed and appended to
bench/results/burst.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from databases import each_database
from record import record
from service_latency import PLATFORM, Recorder, free_port, pct, store_points

TOKEN = "bench-admin-token"
RESULTS = Path(__file__).parent / "results" / "burst.jsonl"
BACKFILL_DAYS = 30  # the normal stores' batches reach this far back, one new hour after another


def batch_points(batch_id: int, size: int, normal: int, oldest: datetime) -> list[dict[str, Any]]:
    """Batch ``batch_id``: ``size`` points with keys no other batch has (a retry sends the same ones)."""
    out = []
    for k in range(size):
        n = batch_id * size + k
        store, slot = n % normal, n // normal
        ts = oldest - timedelta(hours=slot // 2 + 1)
        metric = "uv" if slot % 2 == 0 else "orders"
        out.append({"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": PLATFORM, "store": f"n{store:05d}",
                    "metric": metric, "value": 1000.0 if metric == "uv" else 30.0, "sku": ""})
    return out


def load_generator(url: str, seconds: float, rate: int, batch: int, in_flight: int, normal: int, oldest: str,
                   crash: list[str], crash_every: float, recent: list[str], out_path: str) -> None:
    """Child process: ``in_flight`` workers share a paced queue of batch ids; crashes interleaved."""
    import httpx

    hours = [datetime.fromisoformat(h) for h in recent]
    first_hour = datetime.fromisoformat(oldest)
    interval = batch / rate  # one batch is due every ``interval`` seconds, across all workers
    lock = threading.Lock()
    state: dict[str, Any] = {"next": 0, "crash": 0, "sent_at": {}, "accepted_at": {}, "ok_batches": set(), "ok_points": 0,
                             "status": Counter(), "overload": 0, "timeouts": 0, "errors": 0, "post_seconds": []}
    start = time.time()

    def take() -> tuple[int, str | None] | None:
        with lock:
            now = time.time()
            if now >= start + seconds:
                return None
            if state["crash"] < len(crash) and now >= start + state["crash"] * crash_every:
                store = crash[state["crash"]]
                state["crash"] += 1
                return -1, store
            bid = state["next"]
            state["next"] += 1
        due = start + bid * interval
        if due > time.time():
            time.sleep(due - time.time())  # pacing the offered load, not waiting for a result
        return bid, None

    def worker() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            while (job := take()) is not None:
                bid, crash_store = job
                body = store_points(crash_store, hours, crash=True) if crash_store else batch_points(
                    bid, batch, normal, first_hour)
                t_first = time.time()
                if crash_store:
                    with lock:
                        state["sent_at"][crash_store] = t_first
                for _attempt in range(20):
                    t0 = time.time()
                    try:
                        r = client.post("/api/v1/points", json={"points": body})
                    except httpx.TimeoutException:
                        with lock:
                            state["timeouts"] += 1
                        continue
                    except httpx.HTTPError:
                        with lock:
                            state["errors"] += 1
                        break
                    with lock:
                        state["status"][r.status_code] += 1
                        state["post_seconds"].append(time.time() - t0)
                    if r.status_code in (429, 503):
                        with lock:
                            state["overload"] += 1
                        time.sleep(float(r.headers.get("Retry-After", "1")))
                        continue
                    if r.status_code == 200 and crash_store:
                        with lock:
                            state["accepted_at"][crash_store] = time.time()
                    if r.status_code == 200 and not crash_store:
                        with lock:
                            if bid not in state["ok_batches"]:
                                state["ok_batches"].add(bid)
                                state["ok_points"] += len(body)
                    break

    threads = [threading.Thread(target=worker) for _ in range(in_flight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - start
    Path(out_path).write_text(json.dumps({
        "sent_at": state["sent_at"], "accepted_at": state["accepted_at"], "ok_points": state["ok_points"], "status": dict(state["status"]),
        "overload": state["overload"], "timeouts": state["timeouts"], "errors": state["errors"],
        "elapsed": elapsed, "post_seconds": state["post_seconds"], "batches": state["next"],
        "crash_points": len(state["sent_at"]) * 4,
    }))


def probe_health(url: str, stop: Any, out_path: str) -> None:
    """Child process (like a real monitor, it does not share the service's interpreter lock): GET
    /healthz every 100 ms until ``stop`` is set; latencies and failures to ``out_path``."""
    import httpx

    out: list[float] = []
    failures: list[str] = []
    with httpx.Client(base_url=url, timeout=5) as client:
        while not stop.is_set():
            t0 = time.time()
            try:
                r = client.get("/healthz")
                if r.status_code != 200:
                    failures.append(str(r.status_code))
            except httpx.HTTPError as exc:
                failures.append(type(exc).__name__)
            out.append(time.time() - t0)
            stop.wait(0.1)
    Path(out_path).write_text(json.dumps({"latencies": out, "failures": failures}))


def count_points(service: Any) -> int:
    from sqlalchemy import func, select

    from shopsentinel.store.state import PointRow

    with service.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(PointRow)) or 0)


def run(database: str, url_db: str, args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn
    from pydantic import SecretStr

    from shopsentinel.app import create_app
    from shopsentinel.core.settings import Settings
    from shopsentinel.core.types import Point
    from shopsentinel.runtime.ingest import write_points

    n_crash = math.ceil(args.seconds / args.crash_every) + 2
    normal = [f"n{i:05d}" for i in range(args.normal_stores)]
    crash = [f"c{i:05d}" for i in range(n_crash)]
    now = datetime.now(UTC)
    current = now.replace(minute=0, second=0, microsecond=0)
    recent = [current - timedelta(hours=2), current - timedelta(hours=1)]
    first = current - timedelta(days=args.history_days)
    settings = Settings(database_url=url_db, bootstrap_token=SecretStr(TOKEN), _env_file=None,  # type: ignore[call-arg]
                        point_cache_stores=len(normal) + len(crash))
    recorder = Recorder()
    app = create_app(settings, dispatcher=recorder)
    service = app.state.service
    history = [first + timedelta(hours=h) for h in range(int((recent[0] - first) / timedelta(hours=1)))]
    with service.sessions() as session:
        for i, store in enumerate(normal + crash):
            raw = store_points(store, history + (recent if i < len(normal) else []))
            pts = [Point(ts=datetime.fromisoformat(p["ts"].replace("Z", "+00:00")), platform=p["platform"],
                         store=p["store"], metric=p["metric"], value=p["value"], sku="") for p in raw]
            write_points(service, session, pts, user="bench", now=datetime.now(UTC))
    service.tick()
    recorder.first.clear()
    stored_before = count_points(service)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    tmp = tempfile.mkdtemp(prefix="ss-burst-")
    spawn = mp.get_context("spawn")
    stop = spawn.Event()
    health_path = os.path.join(tmp, "health.json")
    prober = spawn.Process(target=probe_health, args=(base, stop, health_path))
    prober.start()

    out_path = os.path.join(tmp, "load.json")
    oldest = (first - timedelta(hours=1)).isoformat()
    proc = spawn.Process(target=load_generator, args=(
        base, args.seconds, args.rate, args.batch, args.in_flight, len(normal), oldest, crash, args.crash_every,
        [h.isoformat() for h in recent], out_path))
    proc.start()
    proc.join()
    load = json.loads(Path(out_path).read_text())
    deadline = time.time() + args.drain_seconds
    while time.time() < deadline and not all(s in recorder.first for s in load["sent_at"]):
        time.sleep(0.5)
    stop.set()
    prober.join(timeout=30)
    probed = json.loads(Path(health_path).read_text())
    health, health_failures = probed["latencies"], probed["failures"]
    server.should_exit = True
    thread.join(timeout=60)
    stored = count_points(service) - stored_before
    service.close()

    latencies = [recorder.first[s][0] - t0 for s, t0 in load["sent_at"].items() if s in recorder.first]
    # the two parts of it: getting the points in (admission, retries) and judging + notifying them
    admitted = [load["accepted_at"][s] - t0 for s, t0 in load["sent_at"].items() if s in load["accepted_at"]]
    judged = [recorder.first[s][0] - t for s, t in load["accepted_at"].items() if s in recorder.first]
    status = {int(k): v for k, v in load["status"].items()}
    return {
        "bench": "burst", "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(), "cpus": os.cpu_count(), "database": database,
        "seconds": args.seconds, "offered_points_per_s": args.rate, "in_flight": args.in_flight, "batch": args.batch,
        "status": status, "responses_5xx_other_than_503": sum(v for k, v in status.items() if k >= 500 and k != 503),
        "overload_answers_429_503": load["overload"], "client_timeouts": load["timeouts"],
        "connection_errors": load["errors"],
        "achieved_points_per_s": round(load["ok_points"] / load["elapsed"], 1),
        "points_accepted": load["ok_points"] + load["crash_points"], "points_stored": stored,
        "post_p50_s": round(pct(load["post_seconds"], 0.5) or 0, 3), "post_p99_s": round(pct(load["post_seconds"], 0.99) or 0, 3),
        "crashes_sent": len(load["sent_at"]), "crashes_notified": len(latencies),
        "crash_latency_p50_s": round(pct(latencies, 0.5) or 0, 2) if latencies else None,
        "crash_latency_p99_s": round(pct(latencies, 0.99) or 0, 2) if latencies else None,
        "crash_admitted_p99_s": round(pct(admitted, 0.99) or 0, 2) if admitted else None,
        "crash_judged_p99_s": round(pct(judged, 0.99) or 0, 2) if judged else None,
        "healthz_p50_ms": round(1000 * (pct(health, 0.5) or 0), 1), "healthz_p99_ms": round(1000 * (pct(health, 0.99) or 0), 1),
        "healthz_max_ms": round(1000 * max(health), 1) if health else None, "healthz_failures": len(health_failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=10_000, help="offered points per second")
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--normal-stores", type=int, default=200)
    parser.add_argument("--history-days", type=int, default=9)
    parser.add_argument("--crash-every", type=float, default=2.0, help="seconds between two crashing stores")
    parser.add_argument("--drain-seconds", type=float, default=30.0)
    args = parser.parse_args()
    for database, url in each_database(args.database, "burst"):
        record(RESULTS, run(database, url, args))


if __name__ == "__main__":
    main()
