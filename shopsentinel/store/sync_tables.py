"""The platform syncs' state and the metric catalog's versions, in the state database (revision 0015).

Until revision 0015 these lived in DuckDB files beside the state database (``SHOPSENTINEL_SYNC_DB``
and ``metrics define --db``); a DuckDB file allows one writer process, so the CLI could not register
a store while ``serve`` ran, ``store migrate`` did not move them and replicas could not share them.
Now they are tables of the one state database (SQLite embedded, PostgreSQL shared); an old file is
moved in once (:mod:`shopsentinel.ingest.sync_legacy`). See :mod:`shopsentinel.ingest.sync_state`
for what each row means. JSON documents (configs, cursors, entity payloads, metric definitions) are
stored as text, exactly as written.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from shopsentinel.core.errors import InputError
from shopsentinel.store.state import Base

BIG = BigInteger().with_variant(Integer, "sqlite")


class SyncStoreRow(Base):
    """A registered store: its zone, where its first sync begins, its sealed connector config."""

    __tablename__ = "sync_stores"
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(200), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime]
    config: Mapped[str] = mapped_column(Text)


class SyncCursorRow(Base):
    """Where a stream of a store resumes, saved in the transaction of the page it belongs to."""

    __tablename__ = "sync_cursors"
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(200), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime | None]


class SyncEntityRow(Base):
    """The latest version of an order/refund/review/stock snapshot and the span of hours it affects
    (``last_ts`` NULL: still open). ``ix_sync_entities_touching`` serves the recompute's read (one
    store, entities still open or ending after a time)."""

    __tablename__ = "sync_entities"
    __table_args__ = (Index("ix_sync_entities_touching", "platform", "store", "last_ts"),)
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(200), primary_key=True)
    family: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    first_ts: Mapped[datetime]
    last_ts: Mapped[datetime | None]
    payload: Mapped[str] = mapped_column(Text)


class SyncImportRow(Base):
    """A file of the watched folder already imported (or rejected), by path, size and mtime."""

    __tablename__ = "sync_imports"
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    size: Mapped[int] = mapped_column(BIG, primary_key=True)
    mtime: Mapped[float] = mapped_column(Float, primary_key=True)
    imported_at: Mapped[datetime | None]
    points: Mapped[int | None] = mapped_column(BIG)
    error: Mapped[str | None] = mapped_column(Text)


class SyncStockGroupRow(Base):
    """A declared shared-stock group: tolerance (units) and the sync lag it allows (hours)."""

    __tablename__ = "sync_stock_groups"
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tolerance: Mapped[float] = mapped_column(Float)
    lag_hours: Mapped[float] = mapped_column(Float)


class SyncStockMemberRow(Base):
    """A SKU of a store in a shared-stock group (one group at most); ``reference``: the ERP's figure."""

    __tablename__ = "sync_stock_members"
    __table_args__ = (Index("ix_sync_stock_members_group", "group_id"),)
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(200), primary_key=True)
    sku: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200))
    reference: Mapped[bool] = mapped_column(Boolean)


class SyncHealthRow(Base):
    """A store's sync health: last success/attempt, how far it is synced, the dirty window, failures."""

    __tablename__ = "sync_health"
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_success: Mapped[datetime | None]
    last_attempt: Mapped[datetime | None]
    synced_until: Mapped[datetime | None]
    dirty_from: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class MetricVersionRow(Base):
    """One version of a user-defined metric definition (``shopsentinel metrics define``)."""

    __tablename__ = "metric_versions"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    changed_at: Mapped[str | None] = mapped_column(String(64))


def is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` is a DuckDB database file (its header carries ``DUCK`` at byte 8)."""
    try:
        with path.open("rb") as f:
            return f.read(12)[8:12] == b"DUCK"
    except OSError:
        return False


def memory_engine() -> Engine:
    """A private in-memory SQLite state database holding these tables, points and stores (``sync
    check``, tests)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    from shopsentinel.store.state import PointRow, StoreRow

    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    tables = [PointRow, StoreRow, MetricVersionRow, SyncStoreRow, SyncCursorRow, SyncEntityRow, SyncImportRow,
              SyncStockGroupRow, SyncStockMemberRow, SyncHealthRow]
    Base.metadata.create_all(engine, tables=[t.__table__ for t in tables])  # type: ignore[misc]
    return engine


def open_state(where: Engine | Path | str) -> tuple[Engine, bool, str]:
    """The state database ``where`` names — an engine (used as it is), a database URL or a SQLite
    file path (opened and brought to the newest schema, as ``serve`` does) or ``:memory:`` — whether
    the caller owns the engine (disposes it when done), and a name to show (no password)."""
    if isinstance(where, Engine):
        return where, False, where.url.render_as_string(hide_password=True)
    text = str(where)
    if text == ":memory:":
        return memory_engine(), True, ":memory:"
    if "://" not in text and not text.startswith("sqlite:"):
        if is_duckdb_file(Path(text)):
            raise InputError(
                f"{text} 是旧版的 DuckDB 数据文件，不是状态数据库：请用状态数据库地址（--database-url），旧文件会在"
                f"服务启动或 --db 指定时自动迁入 / {text} is an old DuckDB data file, not a state database: give the "
                f"state database (--database-url); the old file is moved in at service start or when given as --db",
                file=text)
        text = f"sqlite:///{text}"
    from shopsentinel.store.db import open_database

    engine, _ = open_database(text)
    return engine, True, engine.url.render_as_string(hide_password=True)


SYNC_TABLES = ("sync_stores", "sync_cursors", "sync_entities", "sync_imports", "sync_stock_groups",
               "sync_stock_members", "sync_health")

__all__ = ["SYNC_TABLES", "MetricVersionRow", "SyncCursorRow", "SyncEntityRow", "SyncHealthRow", "SyncImportRow",
           "SyncStockGroupRow", "SyncStockMemberRow", "SyncStoreRow", "is_duckdb_file", "memory_engine", "open_state"]
