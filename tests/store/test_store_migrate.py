"""``shopsentinel store migrate``: an embedded install (SQLite) copied into the real PostgreSQL —
every table (the platform syncs' state and the metric catalog's versions too, revision 0015),
idempotent, sequences moved past the copied ids, and the CLI never prints the password."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import CalendarEvent
from shopsentinel.ingest.sync_state import StockGroup, StockMember, StoreRecord, SyncDB
from shopsentinel.sources.base import Order
from shopsentinel.store.catalog_file import CatalogFile
from shopsentinel.store.db import make_engine, open_database
from shopsentinel.store.migrate import migrate_state
from shopsentinel.store.points import FRAME_SCHEMA, PointStore
from shopsentinel.store.repository import add_calendar_event, create_token
from shopsentinel.store.state import Base, CalendarRow
from shopsentinel.store.sync_tables import SYNC_TABLES
from tests.support.service import pg_schema

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def embedded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine, sessions = open_database(url)
    import polars as pl

    rows = [(T0 + timedelta(hours=h), "tmall", f"s{s}", sku, "units_sold", float(h * s))
            for h in range(48) for s in range(3) for sku in ("", "A", "B")]
    PointStore(engine).write(pl.DataFrame(rows, schema=FRAME_SCHEMA, orient="row"), now=T0)
    with sessions() as session:
        create_token(session, "alice", "editor", T0)
        add_calendar_event(session, CalendarEvent(T0, T0 + timedelta(days=1), "tmall", "", "大促", "promotion"))
        session.commit()
    with SyncDB(engine) as sync:  # a registered store, a stored page (entity + cursor), health, a group
        sync.put_store(StoreRecord("tmall", "s1", "Asia/Shanghai", T0, {"app_key": "k", "app_secret": "enc:x"}))
        order = Order(order_id="o-1", created_at=T0, updated_at=T0, status="待发货", amount=10.0)
        sync.store_page("tmall", "s1", "orders", [order], [], {"until": T0.isoformat()}, T0)
        sync.record_success("tmall", "s1", T0, T0)
        sync.put_stock_group(StockGroup("pool", (StockMember("tmall", "s1", "A", True),), 1.0, 2.0))
        sync.record_import("/exports/a.csv", 10, 1.5, T0, 3, None)
    with CatalogFile(engine) as catalog:
        base = default_catalog().get("conversion_rate")
        catalog.define_metric(replace(base, formula="paid_orders / uv"), author="carol")
    engine.dispose()
    return url


def table_contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: sorted((tuple(str(v) for v in r) for r in conn.execute(select(t))), key=str)
                    for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def test_migrate_copies_every_table_into_postgresql_and_is_idempotent(tmp_path: Path) -> None:
    source = embedded(tmp_path)
    with pg_schema("mig") as (_user, _schema, target):
        counts = migrate_state(source, target)
        assert counts["points"] == 48 * 3 * 3 and counts["stores"] == 3 and counts["api_tokens"] == 1
        assert {t: counts[t] for t in (*SYNC_TABLES, "metric_versions")} == {
            "sync_stores": 1, "sync_cursors": 1, "sync_entities": 1, "sync_imports": 1, "sync_stock_groups": 1,
            "sync_stock_members": 1, "sync_health": 1, "metric_versions": 1}
        want = table_contents(source)
        assert table_contents(target) == want
        with SyncDB(source) as before, SyncDB(target) as after:  # read back through the sync state's own API
            assert after.stores() == before.stores() and after.all_health() == before.all_health()
            assert after.cursors("tmall", "s1") == before.cursors("tmall", "s1") == {"orders": {"until": T0.isoformat()}}
            assert after.entities_touching("tmall", "s1", T0) == before.entities_touching("tmall", "s1", T0)
            assert after.stock_groups() == before.stock_groups() and after.import_seen("/exports/a.csv", 10, 1.5)
        with CatalogFile(target) as catalog:
            assert [d.author for d in catalog.catalog().history("conversion_rate")] == ["shopsentinel", "carol"]
        assert migrate_state(source, target)["points"] == 432  # again: nothing duplicated
        assert table_contents(target) == want
        # a point changed and one added in the embedded install since: the rerun brings both
        engine, _ = open_database(source)
        import polars as pl

        PointStore(engine).write(pl.DataFrame([(T0, "tmall", "s1", "A", "units_sold", 99.0),
                                               (T0 + timedelta(days=9), "tmall", "s1", "A", "units_sold", 1.0)],
                                              schema=FRAME_SCHEMA, orient="row"))
        engine.dispose()
        migrate_state(source, target)
        assert table_contents(target)["points"] == table_contents(source)["points"]
        # the service's next insert on PostgreSQL does not collide with a copied id
        pg, sessions = open_database(target)
        with sessions() as session:
            added = add_calendar_event(session, CalendarEvent(T0, T0, "", "", "x", "promotion"))
            session.commit()
            assert added.id == 2
            assert session.scalar(select(func.count()).select_from(CalendarRow)) == 2
        with pg.connect() as conn:
            indexes = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'points'"))}
        assert "ix_points_store_ts" in indexes
        pg.dispose()


def test_the_cli_migrates_and_never_prints_the_password(tmp_path: Path) -> None:
    source = embedded(tmp_path)
    with pg_schema("mig") as (user, schema, target):
        with_password = target.replace(f"{user}@", f"{user}:s3cr3t-pw@")  # trust auth ignores it
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200", "SHOPSENTINEL_DATABASE_URL": source,
               "PYTHONPATH": ":".join(p for p in sys.path if p)}
        done = subprocess.run([sys.executable, "-c", "from shopsentinel.cli import app; app()", "store", "migrate",
                               "--to", with_password], env=env, capture_output=True, text=True, timeout=180)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "s3cr3t-pw" not in output and "points" in output and "432" in output
        assert table_contents(target)["points"] == table_contents(source)["points"]
        same = subprocess.run([sys.executable, "-c", "from shopsentinel.cli import app; app()", "store", "migrate",
                               "--to", source], env=env, capture_output=True, text=True, timeout=180)
        assert same.returncode == 2 and "同一个数据库" in same.stderr and "Traceback" not in same.stderr
