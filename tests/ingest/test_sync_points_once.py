"""Connector points are stored once: a sync through the real engine and a fake platform writes its
hourly points (traffic and entity-derived) into the state database the service reads — on SQLite
and the real PostgreSQL — and its cursors, entities and health into the same database (0015), no
file of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopsentinel.ingest.sync import SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sim.sync import compare, ground_truth, running_sim
from shopsentinel.sources.registry import build_source
from shopsentinel.store.db import open_database
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import StoreRow
from shopsentinel.store.sync_tables import SyncCursorRow, SyncEntityRow, SyncHealthRow


def test_a_sync_writes_its_points_once_into_the_state_database(tmp_path: Path, database_url: str) -> None:
    engine, _ = open_database(database_url)
    store = PointStore(engine, cache_stores=0)
    try:
        with running_sim("jd") as env, SyncDB(engine, points=store) as db:
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
        with Session(engine) as session:  # the sync's own state sits beside the points
            cursors = session.scalars(select(SyncCursorRow.stream).where(SyncCursorRow.store == env.record.store)).all()
            entities = session.scalar(select(func.count()).select_from(SyncEntityRow))
            health = session.get(SyncHealthRow, ("jd", env.record.store))
        assert set(cursors) == set(streams) and entities and health is not None and health.last_success is not None
    finally:
        engine.dispose()
