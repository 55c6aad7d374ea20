"""An older install's DuckDB files move into the state database once (revision 0015): a sync file
written by the old code path (a real sync of a fake platform, a shared-stock group, an imported
file, and the ``sync_points`` of installs older than 0011) and a catalog file are moved at
``serve`` start — on SQLite and the real PostgreSQL — every row read back equal through the new
``SyncDB``, the old file kept renamed ``….moved``; a second start moves nothing again; a file that
cannot be moved stays byte for byte as it was and the error names it, Chinese first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.catalog.composite import parse_metric_file
from shopsentinel.core.errors import InputError
from shopsentinel.core.secrets import SecretBox
from shopsentinel.core.settings import Settings
from shopsentinel.ingest.sync import SyncEngine
from shopsentinel.ingest.sync_state import StockGroup, StockMember, StoreRecord, SyncDB
from shopsentinel.runtime.service import build_service
from shopsentinel.sim.sync import running_sim
from shopsentinel.sources.registry import build_source, seal_config
from shopsentinel.store.catalog_file import CatalogFile
from shopsentinel.store.state import PointRow
from tests.store import legacy_catalog_file_0013 as old_catalog
from tests.store import legacy_sync_state_0013 as old_sync
from tests.support.metrics import ORDER_HEALTH_YAML

METRIC = ORDER_HEALTH_YAML


def _snapshot(db: Any, platform: str, store: str) -> dict[str, Any]:
    """What callers read of the sync state, through the old or the new SyncDB (same methods; the
    old module's dataclasses are its own classes, so values are compared by their repr)."""
    since = datetime(2000, 1, 1, tzinfo=UTC)
    return {key: repr(value) for key, value in {
        "stores": db.stores(),
        "cursors": db.cursors(platform, store),
        "entities": db.entity_count(platform, store),
        "touching": sorted(map(repr, db.entities_touching(platform, store, since))),
        "health": db.health(platform, store),
        "all_health": db.all_health(),
        "groups": db.stock_groups(),
        "import_seen": db.import_seen("/exports/jd/a.csv", 120, 1.5),
    }.items()}


def _old_file(path: Path) -> tuple[dict[str, Any], str, int]:
    """A DuckDB file as 0013 left it: a real sync of the jd fake, a group, an import, a catalog
    version, and a leftover ``sync_points`` table (an install from before 0011)."""
    box = SecretBox(Fernet.generate_key())
    with running_sim("jd") as env, old_sync.SyncDB(path) as db:
        db.put_store(StoreRecord("jd", env.record.store, env.record.timezone, env.record.start,
                                 seal_config("jd", env.config, box)))
        source = build_source("jd", env.config, clock=env.clock, sleep=env.sleep)

        async def run() -> Any:
            try:
                return await SyncEngine(db, clock=env.clock, sleep=env.sleep).sync_store(env.record, source)  # type: ignore[arg-type]
            finally:
                await source.aclose()

        report = asyncio.run(run())
        assert report.ok, report.error
        db.put_stock_group(StockGroup("pool-1", (StockMember("jd", env.record.store, "SKU-1", True),
                                                 StockMember("tmall", "tm-1", "SKU-1")), 2.0, 3.0))
        db.record_import("/exports/jd/a.csv", 120, 1.5, env.clock.now(), 48, None)
        db.db.execute(old_sync.SCHEMA)
        db.db.execute("CREATE TABLE sync_points (ts TIMESTAMP NOT NULL, platform VARCHAR NOT NULL, store VARCHAR NOT "
                      "NULL, sku VARCHAR NOT NULL, metric VARCHAR NOT NULL, value DOUBLE NOT NULL, PRIMARY KEY "
                      "(platform, store, sku, metric, ts))")
        db.db.execute("INSERT INTO sync_points VALUES ('2020-03-01 05:00:00', 'jd', 'legacy-store', '', 'uv', 7.0)")
        expected = _snapshot(db, "jd", env.record.store)
        store = env.record.store
    assert expected["cursors"] != "{}" and expected["entities"] != "{}" and "last_success=None" not in expected["health"]
    with old_catalog.CatalogFile(path) as catalog:
        (definition,) = parse_metric_file(METRIC, "m.yaml")
        catalog.define_metric(definition, author="alice")
    return expected, store, path.stat().st_size


def test_serve_moves_an_old_sync_file_into_the_state_database_once(tmp_path: Path, database_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("SHOPSENTINEL_ALLOW_DEGRADED_KEY", "1")  # the old file's test key is not this one
    path = tmp_path / "sync.duckdb"
    expected, store, _ = _old_file(path)
    settings = Settings(database_url=database_url, sync_db=path, _env_file=None)  # type: ignore[call-arg]
    for start in range(2):  # the second start finds nothing to move and changes nothing
        service = build_service(settings)
        try:
            assert not path.exists() and (tmp_path / "sync.duckdb.moved").is_file()
            with SyncDB(service.points.engine) as db:
                assert _snapshot(db, "jd", store) == expected, f"start {start}"
            with CatalogFile(service.points.engine) as catalog:
                saved = catalog.catalog().get("order_health")
                assert (saved.version, saved.author) == (1, "alice")
            with Session(service.points.engine) as session:
                moved = session.scalars(select(PointRow).where(PointRow.store == "legacy-store")).all()
                assert [(p.metric, p.ts, p.value) for p in moved] == [("uv", 1583038800, 7.0)]
        finally:
            service.close()
    assert sorted(p.name for p in tmp_path.iterdir() if "duckdb" in p.name) == ["sync.duckdb.moved"]


def test_a_file_that_cannot_be_moved_stays_as_it_was_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sync.duckdb"
    _, _, size = _old_file(path)
    damaged = path.read_bytes()[: size // 2]  # a DuckDB header, then half the file: unreadable
    path.write_bytes(damaged)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'state.db'}", sync_db=path, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(InputError) as raised:
        build_service(settings)
    message = str(raised.value)
    assert str(path) in message and message.index("旧版数据文件") < message.index("could not be moved")
    assert path.read_bytes() == damaged and not (tmp_path / "sync.duckdb.moved").exists()
    with SyncDB(f"sqlite:///{tmp_path / 'state.db'}") as db:  # nothing half-moved
        assert db.stores() == [] and db.all_health() == []
