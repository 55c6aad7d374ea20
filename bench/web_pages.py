"""Alert-center page times with 100,000 alerts stored: overview, alert list and alert detail.

    .venv/bin/python bench/web_pages.py                       # SQLite, and PostgreSQL if reachable
    .venv/bin/python bench/web_pages.py --alerts 100000 --repeat 100 --database sqlite

A fresh state database (Alembic-migrated by ``create_app``: a temp SQLite file, or a new schema in the
PostgreSQL at 127.0.0.1:5432, database ``test``, user postgres or root, dropped afterwards) gets
2,000 stores and ``--alerts`` alerts over the last year (10 % firing, four rules and severities, each
with its ``firing`` history event), bulk-inserted as setup (not measured). Twenty of the stores also
get 35 days of hourly ``uv``/``orders``/``paid_orders``/``gmv`` points, so an alert detail draws
its real chart: the rule's band recomputed from the panel, last week's overlay and the related
metrics. A logged-in admin then requests each page ``--repeat`` times, one request at a time,
through httpx's ASGI transport into the real app (session check, SQL, template; no network):

* ``GET /`` — the overview (GROUP BY aggregates, the 14-day chart, store lights and sync lag)
* ``GET /alerts`` and ``GET /alerts?state=firing&severity=critical&sort=severity`` — 50 rows and a count
* ``GET /alerts/{id}`` — a random alert of a store with points (chart, incident, timeline, similar)
* ``GET /poll`` — what the open pages ask every few seconds

Server time = wall time of the request in this process. One JSON line per database is printed and
appended to bench/results/web_pages.jsonl (``BENCH_RESULTS_DIR`` overrides the directory).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from databases import each_database
from record import record

TOKEN = "bench-admin-token"
ADMIN = "bench-admin:bench-password-1"
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR", Path(__file__).parent / "results")) / "web_pages.jsonl"
STORES = 2000
CHARTED = 20
PLATFORMS = ("tmall", "jd", "pdd", "douyin")


def fill(service: Any, n: int, rng: random.Random, now: datetime) -> list[str]:
    """Stores, points for the first ``CHARTED`` stores, ``n`` alerts; return the ids of charted stores' alerts."""
    from sqlalchemy import insert

    from shopsentinel.core.types import Point
    from shopsentinel.store.state import AlertEventRow, AlertRow, StoreRow

    start = (now - timedelta(days=35)).replace(minute=0, second=0, microsecond=0)
    with service.sessions() as session:
        session.execute(insert(StoreRow), [
            {"platform": PLATFORMS[i % 4], "store": f"s{i:04d}", "name": f"店铺 {i:04d}", "timezone": "Asia/Shanghai",
             "currency": "CNY", "first_point_at": start, "last_point_at": now - timedelta(hours=1 + i % 5),
             "evaluated_until": now, "created_at": start}
            for i in range(STORES)])  # fmt: skip
        session.commit()
    points = []
    for i in range(CHARTED):
        for h in range(35 * 24):
            ts = start + timedelta(hours=h)
            uv = 260 + 180 * math.sin(((ts.hour + 8) % 24 - 9) / 24 * 2 * math.pi) + rng.gauss(0, 15)
            orders = max(0.0, round(uv * 0.04 + rng.gauss(0, 1)))
            for metric, value in (("uv", round(max(uv, 0))), ("orders", orders), ("paid_orders", orders), ("gmv", orders * 128.0)):
                points.append(Point(ts, PLATFORMS[i % 4], f"s{i:04d}", metric, float(value)))
    service.points.upsert(points)
    rules = [("traffic.uv_drop_vs_yesterday", "uv", "critical"), ("orders.decline", "orders", "critical"),
             ("conversion.below_7d_mean_2sigma", "conversion_rate", "warning"), ("stock.cover_yellow", "stock", "warning")]
    charted: list[str] = []
    chunk = 10_000
    with service.sessions() as session:
        for lo in range(0, n, chunk):
            alerts, events = [], []
            for i in range(lo, min(n, lo + chunk)):
                rule, metric, severity = rules[i % len(rules)]
                store_no = i % STORES
                recent = store_no < CHARTED
                starts = now - timedelta(hours=rng.randint(1, 24 * (30 if recent else 365)))
                state = "firing" if rng.random() < 0.1 else "resolved"
                aid = uuid.uuid4().hex
                store = f"s{store_no:04d}"
                alerts.append({
                    "id": aid, "rule": rule, "severity": severity, "kind": "data" if i % 50 == 0 else "business",
                    "category": metric, "platform": PLATFORMS[store_no % 4], "store": store, "sku": "",
                    "metric": metric, "state": state, "starts_at": starts,
                    "ends_at": None if state == "firing" else starts + timedelta(hours=3),
                    "value": 10.0, "expected": 100.0, "lower": 60.0, "upper": 140.0, "incident": f"inc-{store}-{starts:%Y%m%d}",
                    "root_rank": 0 if i % 3 == 0 else 1,
                    "message": f"【严重】{store} {rule}", "message_en": f"{store} {rule}",
                    "resolved_by": "" if state == "firing" else "evaluation",
                    "acked_by": None, "acked_at": None, "assignee": None, "created_at": starts, "updated_at": starts,
                })  # fmt: skip
                events.append({"alert_id": aid, "event": "firing", "ts": starts, "actor": "system", "detail": "",
                               "recorded_at": starts})
                if recent and metric in ("uv", "orders"):
                    charted.append(aid)
            session.execute(insert(AlertRow), alerts)
            session.execute(insert(AlertEventRow), events)
            session.commit()
    return charted


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p99_ms": round(pct(ms, 0.99), 1),
            "max_ms": round(max(ms), 1)}


async def drive(app: Any, detail_ids: list[str], repeat: int) -> tuple[dict[str, list[float]], int]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    timings: dict[str, list[float]] = {"overview": [], "alert_list": [], "alert_list_filtered": [], "alert_detail": [],
                                       "poll": []}
    bad = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        page = await client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        user, password = ADMIN.split(":")
        login = await client.post("/login", data={"username": user, "password": password, "csrf": csrf.group(1)})
        assert login.status_code == 303, login.text
        urls = {"overview": "/", "alert_list": "/alerts",
                "alert_list_filtered": "/alerts?state=firing&severity=critical&sort=severity", "poll": "/poll"}
        for url in [*urls.values(), f"/alerts/{detail_ids[0]}"]:  # warm-up: imports, template compile, caches
            await client.get(url)
        for k in range(repeat):
            for name, url in [*urls.items(), ("alert_detail", f"/alerts/{detail_ids[k % len(detail_ids)]}")]:
                t = time.perf_counter()
                r = await client.get(url)
                timings[name].append((time.perf_counter() - t) * 1000)
                bad += r.status_code != 200
    return timings, bad


def run(database: str, url: str, n: int, repeat: int, seed: int) -> dict[str, Any]:
    from pydantic import SecretStr
    from sqlalchemy import func, select

    from shopsentinel.app import create_app
    from shopsentinel.core.settings import Settings
    from shopsentinel.store.state import AlertRow

    settings = Settings(database_url=url, bootstrap_token=SecretStr(TOKEN), bootstrap_admin=SecretStr(ADMIN),  # type: ignore[call-arg]
                        _env_file=None)
    app = create_app(settings, background=False)
    service = app.state.service
    rng = random.Random(seed)
    t0 = time.time()
    detail_ids = fill(service, n, rng, service.clock.now())
    setup_s = time.time() - t0
    with service.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(AlertRow))
    rng.shuffle(detail_ids)
    timings, bad = asyncio.run(drive(app, detail_ids[:repeat], repeat))
    service.close()
    return {
        "bench": "web_pages", "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "host": platform.node(),
        "cpus": os.cpu_count(), "database": database, "alerts_stored": stored, "stores": STORES, "setup_s": round(setup_s, 1),
        "non_200": bad, **{name: summary(ms) for name, ms in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=100, help="requests per page")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    results = [run(database, url, args.alerts, args.repeat, args.seed) for database, url in each_database(args.database, "ss-web-")]
    record(RESULTS, *results)


if __name__ == "__main__":
    main()
