"""Changing one alert's state with 100,000 alerts stored: acknowledge and resolve through the API.

    .venv/bin/python bench/alert_state_change.py                       # SQLite, and PostgreSQL if reachable
    .venv/bin/python bench/alert_state_change.py --alerts 100000 --changes 200 --database sqlite

A fresh state database (Alembic-migrated by ``create_app``: a temp SQLite file, or a new schema in
the PostgreSQL at 127.0.0.1:5432, database ``test``, user postgres or root, dropped afterwards) is
filled with ``--alerts`` alerts (90 % resolved, 10 % firing, over 2,000 stores, each with its
``firing`` history event) by a bulk SQLAlchemy insert — setup, not measured. Then ``--changes``
random firing alerts are acknowledged (``POST /api/v1/alerts/{id}/ack``) and as many others
resolved by hand (``POST /api/v1/alerts/{id}/resolve``, which also writes the outbox entry), one
request at a time through httpx's ASGI transport into the real app (routing, auth, validation,
session, commit; no network). Each request's wall time is measured; median, p99 and max printed.

One JSON line per database is printed and appended to bench/results/alert_state_change.jsonl
(``BENCH_RESULTS_DIR`` overrides the directory, e.g. for trial runs).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from databases import each_database
from record import record

TOKEN = "bench-admin-token"
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR", Path(__file__).parent / "results")) / "alert_state_change.jsonl"


def fill(sessions: Any, n: int, rng: random.Random) -> list[str]:
    """Bulk-insert ``n`` alerts and their firing events; return the ids of the firing ones."""
    from sqlalchemy import insert

    from shopsentinel.store.state import AlertEventRow, AlertRow

    now = datetime.now(UTC)
    rules = [("traffic.uv_drop_vs_yesterday", "uv", "critical"), ("orders.decline", "orders", "critical"),
             ("conversion.below_7d_mean_2sigma", "conversion_rate", "warning"), ("stock.cover_yellow", "stock", "warning")]
    firing: list[str] = []
    chunk = 10_000
    with sessions() as session:
        for lo in range(0, n, chunk):
            alerts, events = [], []
            for i in range(lo, min(n, lo + chunk)):
                rule, metric, severity = rules[i % len(rules)]
                starts = now - timedelta(hours=rng.randint(1, 24 * 365))
                state = "firing" if rng.random() < 0.1 else "resolved"
                aid = uuid.uuid4().hex
                store = f"s{i % 2000:04d}"
                alerts.append({
                    "id": aid, "rule": rule, "severity": severity, "kind": "business", "category": metric,
                    "platform": ("tmall", "jd", "pdd", "douyin")[i % 4], "store": store, "sku": "",
                    "metric": metric, "state": state, "starts_at": starts,
                    "ends_at": None if state == "firing" else starts + timedelta(hours=3),
                    "value": 10.0, "expected": 100.0, "lower": 60.0, "upper": 140.0, "incident": "", "root_rank": 99,
                    "message": f"{store} {rule}", "message_en": f"{store} {rule}", "resolved_by": "" if state == "firing" else "evaluation",
                    "acked_by": None, "acked_at": None, "assignee": None, "created_at": starts, "updated_at": starts,
                })  # fmt: skip
                events.append({"alert_id": aid, "event": "firing", "ts": starts, "actor": "system", "detail": "",
                               "recorded_at": starts})
                if state == "firing":
                    firing.append(aid)
            session.execute(insert(AlertRow), alerts)
            session.execute(insert(AlertEventRow), events)
            session.commit()
    return firing


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 2), "p99_ms": round(pct(ms, 0.99), 2), "max_ms": round(max(ms), 2)}


async def drive(app: Any, ack_ids: list[str], resolve_ids: list[str]) -> tuple[list[float], list[float], int]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    bad = 0
    ack_ms: list[float] = []
    res_ms: list[float] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for _ in range(5):  # warm-up (imports, first connection, caches): not counted
            await client.get("/api/v1/alerts", params={"limit": 1})
        for aid in ack_ids:
            t = time.perf_counter()
            r = await client.post(f"/api/v1/alerts/{aid}/ack")
            ack_ms.append((time.perf_counter() - t) * 1000)
            bad += r.status_code != 200
        for aid in resolve_ids:
            t = time.perf_counter()
            r = await client.post(f"/api/v1/alerts/{aid}/resolve", json={"note": "bench"})
            res_ms.append((time.perf_counter() - t) * 1000)
            bad += r.status_code != 200
    return ack_ms, res_ms, bad


def run(database: str, url: str, n: int, changes: int, seed: int) -> dict[str, Any]:
    from pydantic import SecretStr
    from sqlalchemy import func, select

    from shopsentinel.app import create_app
    from shopsentinel.core.settings import Settings
    from shopsentinel.store.state import AlertRow

    settings = Settings(database_url=url, bootstrap_token=SecretStr(TOKEN), _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, background=False)
    service = app.state.service
    rng = random.Random(seed)
    t0 = time.time()
    firing = fill(service.sessions, n, rng)
    setup_s = time.time() - t0
    with service.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(AlertRow))
    picked = rng.sample(firing, min(len(firing), 2 * changes))
    ack_ids, resolve_ids = picked[:changes], picked[changes:]
    ack_ms, res_ms, bad = asyncio.run(drive(app, ack_ids, resolve_ids))
    service.close()
    return {
        "bench": "alert_state_change", "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(), "cpus": os.cpu_count(), "database": database, "alerts_stored": stored,
        "firing": len(firing), "setup_s": round(setup_s, 1), "non_200": bad,
        "ack": {"n": len(ack_ms), **summary(ack_ms)}, "resolve": {"n": len(res_ms), **summary(res_ms)} if res_ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=200, help="acks, and as many resolves")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    results = [run(database, url, args.alerts, args.changes, args.seed) for database, url in each_database(args.database, "ss-alerts-")]
    record(RESULTS, *results)


if __name__ == "__main__":
    main()
