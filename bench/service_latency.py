"""Live service: data arrival → first notification latency under a sustained point load.

    .venv/bin/python bench/service_latency.py                  # 600 s, 1,000 points/s, 100 alerts/min
    .venv/bin/python bench/service_latency.py --seconds 120
    .venv/bin/python bench/service_latency.py --rate 1000 --alerts-per-minute 100 --normal-stores 500
    .venv/bin/python bench/service_latency.py --normal-mode corrections   # every batch revises judged hours

The real service (``create_app`` with the background scheduler, the system clock and a temp SQLite
state database) runs under uvicorn in a thread of this process on a loopback port; its dispatcher
records the wall time at which each in-app notification is handed over (the moment the outbox
marks it sent). A second *process* drives ``POST /api/v1/points`` over HTTP at ``--rate`` points/s
in batches of ``--batch`` points.

Data: every store has ``--history-days`` (default 9; the baseline rules warm up for 8) of hourly ``uv`` and ``orders`` (a smooth daily curve,
no noise), written before the timed part through the service's own ingest path (``write_points``)
and evaluated once. During the run the load re-sends the last two completed hours of the normal
stores (``--normal-mode resend``: unchanged values, load not news; ``current``: running totals of the
open hour; ``corrections``: the closed hours revised by ±2 %, so every batch forces re-evaluation), and ``--alerts-per-minute`` times a minute one fresh
store's last two hours arrive with ``uv`` at 5 % of normal — a traffic crash that fires
``traffic.uv_drop_vs_yesterday`` (``for: 2h``) at its first evaluation. Latency of a crash =
time its notification was dispatched − time the POST carrying it was started.

One JSON line is printed and appended to bench/results/service_latency.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from record import record

TOKEN = "bench-admin-token"
RESULTS = Path(__file__).parent / "results" / "service_latency.jsonl"
PLATFORM = "tmall"


def uv_at(ts: datetime) -> float:
    return round(1000.0 * (1.0 + 0.4 * math.sin(2 * math.pi * ts.hour / 24)), 1)


def store_points(store: str, hours: list[datetime], crash: bool = False) -> list[dict[str, Any]]:
    out = []
    for ts in hours:
        uv = uv_at(ts)
        out.append({"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": PLATFORM, "store": store, "metric": "uv",
                    "value": round(uv * 0.05, 1) if crash else uv, "sku": ""})
        out.append({"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": PLATFORM, "store": store, "metric": "orders",
                    "value": round(uv * 0.03), "sku": ""})
    return out


def normal_load(normal: list[str], hours: list[datetime], mode: str) -> list[dict[str, Any]]:
    """The background points of the normal stores for one pass over them (see ``--normal-mode``)."""
    if mode == "current":  # running totals of the hour still open: every send is a new value
        now = datetime.now(UTC)
        current = hours[-1] + timedelta(hours=1)
        share = (now - current) / timedelta(hours=1)
        return [{**p, "value": round(p["value"] * share, 3)} for s in normal for p in store_points(s, [current])]
    points = [p for s in normal for p in store_points(s, hours)]
    if mode == "corrections":  # the closed hours revised by ±2 %: every batch changes judged data
        import random

        return [{**p, "value": round(p["value"] * random.uniform(0.98, 1.02), 1)} for p in points]
    return points


def load_generator(url: str, seconds: float, rate: int, batch: int, normal: list[str], crash: list[str],
                   alerts_per_minute: float, recent: list[str], out_path: str, mode: str = "resend") -> None:
    """Child process: paced batched POSTs; records when each crash store's batch was sent."""
    import httpx

    hours = [datetime.fromisoformat(h) for h in recent]
    normal_points = normal_load(normal, hours, mode)
    sent_at: dict[str, float] = {}
    posts = points = errors = 0
    lat: list[float] = []
    cursor = next_crash = 0
    crash_gap = 60.0 / alerts_per_minute
    batches_per_second = max(1, rate // batch)
    interval = 1.0 / batches_per_second
    start = time.time()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as client:
        tick = 0
        while True:
            due = start + tick * interval
            now = time.time()
            if now >= start + seconds:
                break
            if due > now:
                time.sleep(due - now)
            tick += 1
            body: list[dict[str, Any]] = []
            crashed: list[str] = []
            while next_crash < len(crash) and time.time() >= start + next_crash * crash_gap:
                body.extend(store_points(crash[next_crash], hours, crash=True))
                crashed.append(crash[next_crash])
                next_crash += 1
            while len(body) < batch:
                take = normal_points[cursor:cursor + batch - len(body)]
                if not take:
                    cursor = 0
                    normal_points = normal_load(normal, hours, mode)
                    continue
                body.extend(take)
                cursor += len(take)
            t0 = time.time()
            for s in crashed:
                sent_at[s] = t0
            try:
                r = client.post("/api/v1/points", json={"points": body})
                r.raise_for_status()
                points += r.json()["accepted"]
            except httpx.HTTPError:
                errors += 1
            posts += 1
            lat.append(time.time() - t0)
    elapsed = time.time() - start
    Path(out_path).write_text(json.dumps({"sent_at": sent_at, "posts": posts, "points": points, "errors": errors,
                                          "elapsed": elapsed, "post_seconds": lat}))


class Recorder:
    """A Dispatcher that notes when each notification was handed over, per store."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[float, str]] = {}
        self.count = 0
        self.lock = threading.Lock()

    def dispatch(self, notification: Any, *, muted: bool) -> None:
        t = time.time()
        with self.lock:
            self.count += 1
            for line in notification.alerts:
                self.first.setdefault(str(line.get("store")), (t, str(line.get("rule"))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=int, default=1000, help="points per second")
    parser.add_argument("--batch", type=int, default=250, help="points per POST")
    parser.add_argument("--alerts-per-minute", type=float, default=100.0)
    parser.add_argument("--normal-stores", type=int, default=500)
    parser.add_argument("--history-days", type=int, default=9, help="baseline rules warm up for 8 days")
    parser.add_argument("--normal-mode", choices=("resend", "current", "corrections"), default="resend",
                        help="what the normal stores send: the last two closed hours unchanged (resend), running totals "
                        "of the open hour (current), or revised values of the closed hours (corrections: every batch "
                        "changes judged data and forces re-evaluation)")
    parser.add_argument("--drain-seconds", type=float, default=30.0, help="wait for late notifications after the load")
    args = parser.parse_args()

    import uvicorn
    from pydantic import SecretStr

    from shopsentinel.app import create_app
    from shopsentinel.core.settings import Settings
    from shopsentinel.core.types import Point
    from shopsentinel.runtime.ingest import write_points

    n_crash = math.ceil(args.seconds / 60 * args.alerts_per_minute) + 5
    normal = [f"n{i:05d}" for i in range(args.normal_stores)]
    crash = [f"c{i:05d}" for i in range(n_crash)]
    now = datetime.now(UTC)
    current = now.replace(minute=0, second=0, microsecond=0)
    if (current + timedelta(hours=1) - now).total_seconds() < args.seconds + 120:
        print(f"note: the run crosses an hour boundary ({current + timedelta(hours=1):%H:%M} UTC); "
              "stores may then also raise data-gap alerts")
    recent = [current - timedelta(hours=2), current - timedelta(hours=1)]
    first = current - timedelta(days=args.history_days)

    tmp = tempfile.mkdtemp(prefix="ss-latency-")
    settings = Settings(database_url=f"sqlite:///{tmp}/state.db", bootstrap_token=SecretStr(TOKEN), _env_file=None,  # type: ignore[call-arg]
                        point_cache_stores=len(normal) + len(crash))
    recorder = Recorder()
    app = create_app(settings, dispatcher=recorder)
    service = app.state.service

    t_setup = time.time()
    history_hours = [first + timedelta(hours=h) for h in range(int((recent[0] - first) / timedelta(hours=1)))]
    with service.sessions() as session:
        for i, store in enumerate(normal + crash):
            hours = history_hours + (recent if i < len(normal) else [])
            raw = store_points(store, hours)
            pts = [Point(ts=datetime.fromisoformat(p["ts"].replace("Z", "+00:00")), platform=p["platform"],
                         store=p["store"], metric=p["metric"], value=p["value"], sku="") for p in raw]
            write_points(service, session, pts, user="bench", now=datetime.now(UTC))
    setup_points = (len(normal) + len(crash)) * len(history_hours) * 2 + len(normal) * 4
    t_eval = time.time()
    service.tick()  # the first evaluation of every store, untimed
    pre_alerts = recorder.count
    print(f"setup: {setup_points} points in {t_eval - t_setup:.0f} s, first evaluation {time.time() - t_eval:.0f} s, "
          f"{pre_alerts} notifications before the load")
    recorder.first.clear()

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    out_path = os.path.join(tmp, "load.json")
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=load_generator, args=(f"http://127.0.0.1:{port}", args.seconds, args.rate, args.batch,
                                                    normal, crash, args.alerts_per_minute,
                                                    [h.isoformat() for h in recent], out_path, args.normal_mode))
    proc.start()
    proc.join()
    load = json.loads(Path(out_path).read_text())
    deadline = time.time() + args.drain_seconds
    while time.time() < deadline and not all(s in recorder.first for s in load["sent_at"]):
        time.sleep(0.5)
    server.should_exit = True
    thread.join(timeout=30)

    latencies = []
    missing = 0
    rules: dict[str, int] = {}
    for store, t0 in load["sent_at"].items():
        hit = recorder.first.get(store)
        if hit is None:
            missing += 1
            continue
        latencies.append(hit[0] - t0)
        rules[hit[1]] = rules.get(hit[1], 0) + 1
    false_stores = sorted(s for s in recorder.first if s.startswith("n"))
    post_s = load["post_seconds"]
    result = {
        "bench": "service_latency",
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(), "cpus": os.cpu_count(), "database": "sqlite",
        "seconds": args.seconds, "target_points_per_s": args.rate, "batch": args.batch,
        "target_alerts_per_min": args.alerts_per_minute, "normal_stores": len(normal),
        "history_days": args.history_days, "setup_points": setup_points, "normal_mode": args.normal_mode,
        "points_accepted": load["points"], "posts": load["posts"], "post_errors": load["errors"],
        "achieved_points_per_s": round(load["points"] / load["elapsed"], 1),
        "post_p50_s": round(statistics.median(post_s), 3) if post_s else None,
        "post_p99_s": round(pct(post_s, 0.99) or 0, 3),
        "crashes_sent": len(load["sent_at"]),
        "achieved_alerts_per_min": round(len(load["sent_at"]) / load["elapsed"] * 60, 1),
        "notified": len(latencies), "missing": missing, "first_rules": rules,
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p99_s": round(pct(latencies, 0.99) or 0, 3) if latencies else None,
        "latency_max_s": round(max(latencies), 3) if latencies else None,
        "notifications_total": recorder.count - pre_alerts,
        "normal_stores_notified": len(false_stores),
    }
    record(RESULTS, result)


if __name__ == "__main__":
    main()
