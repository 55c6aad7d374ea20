"""Connector points are stored once: a sync through the real engine and a fake platform writes its
hourly points (traffic and entity-derived) into the state database the service reads — on SQLite
and the real PostgreSQL — and keeps none in its own DuckDB file, which holds cursors and health."""

from __future__ import annotations

import asyncio
from pathlib import Path

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.ingest.sync import SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sim.sync import compare, ground_truth, running_sim
from shopsentinel.sources.registry import build_source
from shopsentinel.store.db import open_database
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import StoreRow


def test_a_sync_writes_its_points_once_into_the_state_database(tmp_path: Path, database_url: str) -> None:
    engine, _ = open_database(database_url)
    store = PointStore(engine, cache_stores=0)
    path = tmp_path / "sync.duckdb"
    try:
        with running_sim("jd") as env, SyncDB(path, points=store) as db:
            source = build_source("jd", env.config, clock=env.clock, sleep=env.sleep)

            async def run() -> SyncReport:
                try:
                    return await SyncEngine(db, clock=env.clock, sleep=env.sleep).sync_store(env.record, source)
                finally:
                    await source.aclose()

            report = asyncio.run(run())
            assert report.ok, report.error
            assert report.registered and report.changed_from is not None
            streams = tuple(build_source("jd", env.config, clock=env.clock).streams())
            stored = store.read(platform="jd", store=env.record.store)
            truth = ground_truth(env, streams, report.until)
            result = compare(env, stored, truth, report.until)
            assert result.ok, result.examples
            assert stored.height >= truth.height > 100
            with Session(engine) as session:  # registered like a store that pushed its first points
                row = session.scalars(select(StoreRow).where(StoreRow.store == env.record.store)).one()
                assert row.first_point_at is not None and row.points_version >= 1
        con = duckdb.connect(str(path), read_only=True)
        try:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        finally:
            con.close()
        assert "sync_cursors" in tables and not any("point" in t for t in tables)
    finally:
        engine.dispose()
