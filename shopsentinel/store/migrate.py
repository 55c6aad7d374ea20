"""``shopsentinel store migrate --to URL``: copy an install's state database into another one —
typically an embedded SQLite file into the shared PostgreSQL (docs/DEPLOY.md).

Every table of the state schema is copied in foreign-key order — the platform syncs' state
(registered stores, cursors, entities, health, shared-stock groups) and the metric catalog's
versions too, which live in the state database since revision 0015 (an install still holding an
old DuckDB sync file moves it in at its next ``serve`` start or CLI sync command; do that first): the target is first brought to the
newest schema revision (the same migrations ``serve`` runs), then each row is upserted by its
primary key, so running it again copies what changed and duplicates nothing (idempotent). Points
go through the metric store's bulk path (``COPY`` on PostgreSQL) in chunks; PostgreSQL's id
sequences are moved past the copied ids afterwards, so the service's next insert does not collide.
A row that clashes with a different row of the target on a unique key (a target already used by
another install) stops the copy with the table named; rows already copied stay (each chunk is one
transaction) and a corrected rerun completes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from shopsentinel.core.errors import InputError
from shopsentinel.store.db import make_engine, open_database
from shopsentinel.store.migrations import upgrade_to_head
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import Base

CHUNK = 20_000
Progress = Callable[[str, int], None]


def _insert(engine: Engine) -> Any:
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def copy_table(source: Engine, target: Engine, table: Table, *, chunk: int = CHUNK) -> int:
    """Upsert every row of ``table`` from ``source`` into ``target`` by primary key; returns the rows read."""
    keys = [c.name for c in table.primary_key.columns]
    others = [c.name for c in table.columns if c.name not in keys]
    insert = _insert(target)
    copied = 0
    with source.connect() as src:
        result = src.execution_options(stream_results=True, yield_per=chunk).execute(
            select(table).order_by(*table.primary_key.columns))
        for part in result.partitions(chunk):
            rows = [dict(r._mapping) for r in part]
            stmt = insert(table)
            if others:
                stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in others})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=keys)
            try:
                with target.begin() as dst:
                    dst.execute(stmt, rows)
            except IntegrityError as exc:
                raise InputError(
                    f"目标数据库的表 {table.name} 已有与源数据冲突的行（该数据库是否已被另一套安装使用？）/ table "
                    f"{table.name} of the target holds rows that clash with the source's (is the target used by "
                    f"another install?): {type(exc.orig).__name__}") from None
            copied += len(rows)
    return copied


def copy_points(source: Engine, target: Engine, *, chunk: int = CHUNK * 5) -> int:
    """The points, through the metric store's bulk path (``COPY`` on PostgreSQL), chunk by chunk."""
    store = PointStore(target, cache_stores=0)
    points = Base.metadata.tables["points"]
    copied = 0
    with source.connect() as src:
        result = src.execution_options(stream_results=True, yield_per=chunk).execute(
            select(points.c.platform, points.c.store, points.c.sku, points.c.metric, points.c.ts, points.c.value)
            .order_by(*points.primary_key.columns))
        for part in result.partitions(chunk):
            frame = pl.DataFrame([tuple(r) for r in part], orient="row", schema={
                "platform": pl.String, "store": pl.String, "sku": pl.String, "metric": pl.String,
                "ts": pl.Int64, "value": pl.Float64})
            store.write(frame, register=False)
            copied += frame.height
    return copied


def _reset_sequences(target: Engine) -> None:
    if target.dialect.name != "postgresql":
        return
    with target.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if "id" not in table.c or not table.c.id.autoincrement or [c.name for c in table.primary_key] != ["id"]:
                continue
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar()
            if sequence:
                top = conn.execute(select(func.max(table.c.id))).scalar()
                if top is not None:
                    conn.execute(text("SELECT setval(:s, :v)"), {"s": sequence, "v": int(top)})


def migrate_state(source_url: str, target_url: str, *, progress: Progress | None = None) -> dict[str, int]:
    """Copy every table of the state database at ``source_url`` into ``target_url`` (see the module
    docstring); returns the rows copied per table. Safe to run again."""
    if source_url == target_url:
        raise InputError("源和目标是同一个数据库 / source and target are the same database")
    source = make_engine(source_url)
    try:
        upgrade_to_head(source)  # an older install's file: bring it to the schema the target gets
        target, _ = open_database(target_url)
        try:
            counts: dict[str, int] = {}
            for table in Base.metadata.sorted_tables:
                n = copy_points(source, target) if table.name == "points" else copy_table(source, target, table)
                counts[table.name] = n
                if progress is not None:
                    progress(table.name, n)
            _reset_sequences(target)
            return counts
        finally:
            target.dispose()
    finally:
        source.dispose()


__all__ = ["copy_points", "copy_table", "migrate_state"]
