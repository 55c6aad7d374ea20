"""One-time move of an older install's DuckDB files into the state database.

Until revision 0015 the platform syncs' state (``SHOPSENTINEL_SYNC_DB``, ``stores add --db``) and
the metric catalog's versions (``metrics define --db``) were DuckDB files; both defaulted to
``shopsentinel.duckdb``, so one file may hold either or both. :func:`move_duckdb_file` copies every
table it knows from such a file into the state database in one transaction — rows the state
database already holds win (a rerun duplicates nothing) — then renames the file ``….moved`` (kept,
never deleted; its ``.wal`` too). A file that cannot be read stays where it is, untouched, and the
error names it (Chinese first). ``serve`` moves the configured sync file at start; the CLI commands
that used ``--db`` move theirs before they run. DuckDB is needed only for this move.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from shopsentinel.core.errors import InputError
from shopsentinel.store.metricstore import MetricStore
from shopsentinel.store.sync_tables import (
    MetricVersionRow,
    SyncCursorRow,
    SyncEntityRow,
    SyncHealthRow,
    SyncImportRow,
    SyncStockGroupRow,
    SyncStockMemberRow,
    SyncStoreRow,
    is_duckdb_file,
)

logger = logging.getLogger(__name__)
MOVED_SUFFIX = ".moved"
TABLES: tuple[Table, ...] = tuple(row.__table__ for row in (  # type: ignore[misc]
    SyncStoreRow, SyncCursorRow, SyncEntityRow, SyncImportRow, SyncStockGroupRow, SyncStockMemberRow, SyncHealthRow,
    MetricVersionRow))
CHUNK = 5_000


def _utc(value: Any) -> Any:
    """DuckDB TIMESTAMP columns held naive UTC; JSON columns come back as text already."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def _moved_name(path: Path) -> Path:
    target, n = path.with_name(path.name + MOVED_SUFFIX), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{MOVED_SUFFIX}.{n}")
    return target


def _failed(path: Path, why: str) -> InputError:
    return InputError(
        f"旧版数据文件 {path} 未能迁入状态数据库，文件保持原样未改动：{why}。请处理后重新启动服务或重试命令"
        f" / the old data file {path} could not be moved into the state database and was left untouched: {why}; "
        f"fix it and start the service (or run the command) again", file=str(path))


def move_duckdb_file(path: Path | str, engine: Engine, *, points: MetricStore | None = None,
                     log: Callable[[str], None] | None = None) -> dict[str, int] | None:
    """Move the tables of the DuckDB file at ``path`` (sync state, catalog versions, and the
    ``sync_points`` of installs older than the one metric store, into ``points``) into the state
    database behind ``engine``; then rename the file ``….moved``. Returns the rows read per table,
    or None when there is no such file (nothing to do). Raises :class:`InputError` naming the file
    when it exists but cannot be moved; the file is then left as it was."""
    path = Path(path)
    if not path.exists():
        return None
    if not is_duckdb_file(path):
        raise _failed(path, "它不是 DuckDB 数据库文件 / it is not a DuckDB database file")
    try:
        import duckdb
    except ImportError:
        raise _failed(path, "未安装 duckdb（pip install duckdb）/ duckdb is not installed") from None
    try:
        source = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        busy = "lock" in str(exc).lower()
        raise _failed(path, "文件正被另一个进程（旧版服务？）占用 / another process (an old service?) holds it" if busy
                      else f"无法读取 / cannot be read: {type(exc).__name__}") from None
    counts: dict[str, int] = {}
    try:
        present = {name for (name,) in source.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        if "sync_points" in present:  # a file from before the one metric store (revision 0011)
            if points is None:
                from shopsentinel.store.points import PointStore

                points = PointStore(engine, cache_stores=0)
            legacy = source.execute("SELECT ts, platform, store, sku, metric, value FROM sync_points").fetchall()
            if legacy:
                points.write(pl.DataFrame([(_utc(r[0]), *r[1:]) for r in legacy], orient="row", schema={
                    "ts": pl.Datetime("us", "UTC"), "platform": pl.String, "store": pl.String, "sku": pl.String,
                    "metric": pl.String, "value": pl.Float64}))
            counts["sync_points"] = len(legacy)
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        with engine.begin() as conn:  # all tables or none
            for table in TABLES:
                if table.name not in present:
                    continue
                columns = [c.name for c in table.columns]
                have = {name for (name,) in source.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table.name]).fetchall()}
                picked = [c for c in columns if c in have]
                cursor = source.execute(f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in picked)} FROM {table.name}')
                counts[table.name] = 0
                while batch := cursor.fetchmany(CHUNK):
                    rows = [{c: _utc(v) for c, v in zip(picked, row, strict=True)} for row in batch]
                    for row in rows:
                        for c in ("config", "cursor", "payload", "definition"):
                            if c in row and not isinstance(row[c], str):
                                row[c] = json.dumps(row[c], ensure_ascii=False)
                    keys = [c.name for c in table.primary_key.columns]
                    conn.execute(insert(table).on_conflict_do_nothing(index_elements=keys), rows)
                    counts[table.name] += len(rows)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure leaves the file as it was and names it
        raise _failed(path, f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    finally:
        source.close()
    moved = _moved_name(path)
    try:
        path.rename(moved)
    except FileNotFoundError:  # another process (serve and the CLI starting together) moved it first
        return counts
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        wal.rename(moved.with_name(moved.name + ".wal"))
    message = (f"旧版数据文件 {path} 已迁入状态数据库（{', '.join(f'{k} {v}' for k, v in counts.items()) or '无数据'}），"
               f"原文件保留为 {moved} / moved the old data file {path} into the state database; kept as {moved}")
    logger.warning(message)
    if log is not None:
        log(message)
    return counts


__all__ = ["MOVED_SUFFIX", "is_duckdb_file", "move_duckdb_file"]
