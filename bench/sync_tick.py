"""One service's hourly sync tick: ``SyncRunner.run_due`` for a few live stores, timed.

    PYTHONPATH=. .venv/bin/python bench/sync_tick.py --ticks 24

Three simulated stores (tmall, jd, pdd fakes on loopback, their manual clocks in step) are
registered from the start of the fakes' data; the first tick is their backfill, then the clocks
advance one hour per tick
and each ``run_due`` (sync every store, announce, reconcile the sync data alerts) is timed on the
wall clock. The sync state lives wherever this version keeps it (the state database since 0015, a
DuckDB file before), so the same script times two versions side by side (run each with its own
``PYTHONPATH``). Prints one JSON line: backfill seconds, per-tick median / mean / max seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from shopsentinel.core.secrets import SecretBox
from shopsentinel.core.settings import Settings
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.runtime.service import build_service
from shopsentinel.runtime.sync_runner import SyncRunner
from shopsentinel.sim.sync import running_sim
from shopsentinel.sources.registry import seal_config

PLATFORMS = ("tmall", "jd", "pdd")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=24, help="hourly ticks timed after the backfill")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sync-tick-"))
    box = SecretBox(Fernet.generate_key())
    with ExitStack() as stack:
        envs = [stack.enter_context(running_sim(p, store=f"{p}-1")) for p in PLATFORMS]
        clock = envs[0].clock
        settings = Settings(database_url=f"sqlite:///{tmp / 'state.db'}", sync_db=tmp / "sync.duckdb",
                            sync_interval_seconds=3600, _env_file=None)  # type: ignore[call-arg]
        service = build_service(settings, clock=clock)
        try:
            from shopsentinel.store import sync_tables  # noqa: F401 - 0015: the sync tables of the state database

            db = SyncDB(service.points.engine)
        except ImportError:  # before 0015: a DuckDB file of its own
            db = SyncDB(tmp / "sync.duckdb")
        for env in envs:
            db.put_store(StoreRecord(env.record.platform, env.record.store, env.record.timezone, env.record.start,
                                     seal_config(env.record.platform, env.config, box)))
        runner = SyncRunner(service, db, lambda: box, clock=clock, sleep=envs[0].sleep, interval=timedelta(hours=1))
        service.sync = runner
        began = time.perf_counter()
        first = runner.run_due()
        backfill = time.perf_counter() - began
        assert all(r.ok for r in first.reports), [r.error for r in first.reports]
        seconds = []
        for _ in range(args.ticks):
            for env in envs:
                env.clock.advance(timedelta(hours=1))
            began = time.perf_counter()
            tick = runner.run_due()
            seconds.append(time.perf_counter() - began)
            assert len(tick.reports) == len(envs) and all(r.ok for r in tick.reports), [r.error for r in tick.reports]
        service.close()
    print(json.dumps({"stores": len(PLATFORMS), "ticks": args.ticks,
                      "backfill_s": round(backfill, 3), "tick_median_s": round(statistics.median(seconds), 4),
                      "tick_mean_s": round(statistics.mean(seconds), 4), "tick_max_s": round(max(seconds), 4),
                      "loadavg": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
