# Verbatim copy of the module as revision 0013 shipped it (DuckDB files), kept only so tests can
# write a real old-format file through the old code path and check the one-time move (0015).
# ruff: noqa
# type: ignore
"""The sync engine's persisted state in one DuckDB file: stores, cursors, entities, health — and
the metric store its points go to.

Points are not kept here: the hourly points a sync computes are written once, into the install's
one metric store (the state database's ``points``, :mod:`shopsentinel.store.metricstore`), which
the live evaluation and the alert center read. Attach it with ``SyncDB(path, points=store)`` or
:meth:`SyncDB.attach_points` (the service's sync runner attaches the service's own); a SyncDB
without one keeps its points in a private in-memory SQLite store (``sync check``, tests). A file
of an earlier version still holding a ``sync_points`` table has those points moved into the
attached store once, then the table is dropped.

Tables (all keyed, so every write is an idempotent upsert)::

    sync_stores    (platform, store) → timezone, start, sealed config JSON (secrets encrypted)
    sync_cursors   (platform, store, stream) → cursor JSON, saved with the page it belongs to
    sync_entities  (platform, store, family, key) → latest version of each order/refund/review/
                   snapshot, with the time span it affects hourly metrics (last_ts NULL = still open)
    sync_health    (platform, store) → last success/attempt, synced_until, dirty_from, last error,
                   consecutive failures
    sync_stock_groups (group_id) → tolerance (units), lag_hours: a declared shared-stock group
    sync_stock_members (platform, store, sku) → group_id, reference (the ERP's figure): its SKUs

A page is stored in one transaction (entities + cursor + ``dirty_from``), its traffic points just
before it in the metric store's own, so a process killed between pages resumes from the cursor of
the last stored page (re-reading a page whose points were stored rewrites the same values) and
still recomputes every hour the stored entities touch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from shopsentinel.sources.base import Entity, Order, OrderLine, Refund, Review, StockSnapshot
from shopsentinel.sources.hourly import LOGISTICS_DONE, POINT_SCHEMA, entity_key, family_of
from shopsentinel.sources.kit.http import TrafficPoint
from shopsentinel.store.metricstore import MetricStore, Written
from shopsentinel.store.points import PointStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_stores (
    platform VARCHAR NOT NULL, store VARCHAR NOT NULL, timezone VARCHAR NOT NULL, start TIMESTAMP NOT NULL,
    config JSON NOT NULL, PRIMARY KEY (platform, store)
);
CREATE TABLE IF NOT EXISTS sync_cursors (
    platform VARCHAR NOT NULL, store VARCHAR NOT NULL, stream VARCHAR NOT NULL, cursor JSON NOT NULL,
    saved_at TIMESTAMP, PRIMARY KEY (platform, store, stream)
);
CREATE TABLE IF NOT EXISTS sync_entities (
    platform VARCHAR NOT NULL, store VARCHAR NOT NULL, family VARCHAR NOT NULL, key VARCHAR NOT NULL,
    first_ts TIMESTAMP NOT NULL, last_ts TIMESTAMP, payload JSON NOT NULL,
    PRIMARY KEY (platform, store, family, key)
);
CREATE TABLE IF NOT EXISTS sync_imports (
    path VARCHAR NOT NULL, size BIGINT NOT NULL, mtime DOUBLE NOT NULL, imported_at TIMESTAMP,
    points BIGINT, error VARCHAR, PRIMARY KEY (path, size, mtime)
);
CREATE TABLE IF NOT EXISTS sync_stock_groups (
    group_id VARCHAR NOT NULL PRIMARY KEY, tolerance DOUBLE NOT NULL, lag_hours DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_stock_members (
    platform VARCHAR NOT NULL, store VARCHAR NOT NULL, sku VARCHAR NOT NULL, group_id VARCHAR NOT NULL,
    reference BOOLEAN NOT NULL, PRIMARY KEY (platform, store, sku)
);
CREATE TABLE IF NOT EXISTS sync_health (
    platform VARCHAR NOT NULL, store VARCHAR NOT NULL, last_success TIMESTAMP, last_attempt TIMESTAMP,
    synced_until TIMESTAMP, dirty_from TIMESTAMP, last_error VARCHAR,
    consecutive_failures INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (platform, store)
);
"""


@dataclass(frozen=True)
class StoreRecord:
    platform: str
    store: str
    timezone: str
    start: datetime  # where the first sync (and the first hourly bucket) begins
    config: dict[str, Any]  # as stored: secret fields sealed


@dataclass(frozen=True)
class Health:
    platform: str
    store: str
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    synced_until: datetime | None = None
    dirty_from: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0


@dataclass(frozen=True)
class StockMember:
    """One SKU of one store in a shared-stock group; ``reference``: the ERP's figure (or the warehouse
    the platforms copy), which every other member is compared with."""

    platform: str
    store: str
    sku: str
    reference: bool = False

    @property
    def key(self) -> str:
        return f"{self.platform}/{self.store}/{self.sku}"


@dataclass(frozen=True)
class StockGroup:
    """A declared shared-stock group (opt-in): SKUs that sell one pool of stock, so their stock figures
    are meant to be equal — within ``tolerance`` units, once ``lag_hours`` of sync delay have passed."""

    name: str
    members: tuple[StockMember, ...]
    tolerance: float = 0.0
    lag_hours: float = 2.0


# ---------------------------------------------------------------- times: naive UTC in the database


def to_db(moment: datetime | None) -> datetime | None:
    """Aware → naive UTC (the columns are plain TIMESTAMP, always UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment is not None else None


def from_db(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


# ---------------------------------------------------------------- entity (de)serialization


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def entity_to_json(entity: Entity) -> str:
    data = asdict(entity)
    for name, value in data.items():
        if isinstance(value, datetime):
            data[name] = _iso(value)
    return json.dumps({"family": family_of(entity), **data}, ensure_ascii=False, sort_keys=True)


def entity_from_json(text: str) -> Entity:
    data = json.loads(text)
    family = data.pop("family")
    times = {k: _time(v) for k, v in data.items() if k.endswith("_at") or k == "at"}
    data.update(times)
    if family == "orders":
        data["lines"] = tuple(OrderLine(**line) for line in data.get("lines", ()))
        return Order(**data)
    if family == "refunds":
        return Refund(**data)
    if family == "reviews":
        return Review(**data)
    return StockSnapshot(**data)


def affected_span(entity: Entity) -> tuple[datetime, datetime | None]:
    """First and last moment whose hourly metrics this entity can change (None = still open)."""
    if isinstance(entity, Order):
        moments = [m for m in (entity.created_at, entity.paid_at, entity.updated_at, entity.shipped_at,
                               entity.last_tracking_at) if m is not None]
        in_transit = entity.shipped_at is not None and entity.status not in LOGISTICS_DONE | {"退款中"}
        return min(moments), (None if in_transit else max(moments))
    if isinstance(entity, StockSnapshot):
        return entity.at, entity.at
    return entity.created_at, entity.created_at


# ---------------------------------------------------------------- the database


def private_point_store() -> PointStore:
    """An in-memory SQLite metric store of its own (``sync check``, tests): the points and stores tables."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    from shopsentinel.store.state import PointRow, StoreRow

    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    StoreRow.metadata.create_all(engine, tables=[PointRow.__table__, StoreRow.__table__])  # type: ignore[list-item]
    return PointStore(engine, cache_stores=0)


class SyncDB:
    """One DuckDB connection holding the sync tables (file path, or ``:memory:``), and the metric
    store the syncs write their points into (``points``; see the module docstring)."""

    def __init__(self, path: Path | str, *, points: MetricStore | None = None) -> None:
        self.path = str(path)
        self.db = duckdb.connect(self.path)
        self.db.execute(SCHEMA)
        self._store: MetricStore | None = None
        self._private: PointStore | None = None
        if points is not None:
            self.attach_points(points)

    @property
    def metric_store(self) -> MetricStore:
        if self._store is None:
            self._private = private_point_store()
            self.attach_points(self._private)
        assert self._store is not None
        return self._store

    def attach_points(self, store: MetricStore) -> None:
        """Write and read points in ``store`` from now on; legacy ``sync_points`` rows move into it once."""
        self._store = store
        legacy = self.db.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sync_points'").fetchone()
        if not legacy or not legacy[0]:
            return
        rows = self.db.execute("SELECT ts, platform, store, sku, metric, value FROM sync_points").fetchall()
        if rows:
            store.write(pl.DataFrame([(from_db(ts), p, s, sku, m, v) for ts, p, s, sku, m, v in rows],
                                     schema=POINT_SCHEMA, orient="row"))
        self.db.execute("DROP TABLE sync_points")

    def close(self) -> None:
        self.db.close()
        if self._private is not None:
            self._private.engine.dispose()

    def __enter__(self) -> SyncDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # stores -----------------------------------------------------------------
    def put_store(self, record: StoreRecord) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sync_stores VALUES (?, ?, ?, ?, ?)",
            [record.platform, record.store, record.timezone, to_db(record.start), json.dumps(record.config, ensure_ascii=False)],
        )

    def stores(self) -> list[StoreRecord]:
        rows = self.db.execute("SELECT platform, store, timezone, start, config FROM sync_stores ORDER BY 1, 2").fetchall()
        return [StoreRecord(p, s, tz, start.replace(tzinfo=UTC), json.loads(cfg)) for p, s, tz, start, cfg in rows]

    def store(self, platform: str, store: str) -> StoreRecord | None:
        return next((r for r in self.stores() if (r.platform, r.store) == (platform, store)), None)

    # cursors ----------------------------------------------------------------
    def cursor(self, platform: str, store: str, stream: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT cursor FROM sync_cursors WHERE platform = ? AND store = ? AND stream = ?", [platform, store, stream]
        ).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def cursors(self, platform: str, store: str) -> dict[str, dict[str, Any]]:
        rows = self.db.execute(
            "SELECT stream, cursor FROM sync_cursors WHERE platform = ? AND store = ? ORDER BY 1", [platform, store]
        ).fetchall()
        return {stream: json.loads(cursor) for stream, cursor in rows}

    # pages ------------------------------------------------------------------
    def store_page(
        self, platform: str, store: str, stream: str, entities: list[Entity], traffic: list[TrafficPoint],
        cursor: dict[str, Any], now: datetime,
    ) -> Written:
        """The traffic points into the metric store, then entities, the cursor and the dirty window,
        all or nothing. Returns what the point write did."""
        written = Written()
        if traffic:
            frame = pl.DataFrame([(p.hour.astimezone(UTC), platform, store, "", p.metric, float(p.value)) for p in traffic],
                                 schema=POINT_SCHEMA, orient="row")
            written = self.metric_store.write(frame, now=now)
        self.db.execute("BEGIN TRANSACTION")
        try:
            dirty = self._store_entities(platform, store, entities)
            self.db.execute(
                "INSERT OR REPLACE INTO sync_cursors VALUES (?, ?, ?, ?, ?)",
                [platform, store, stream, json.dumps(cursor, ensure_ascii=False, default=str), to_db(now)],
            )
            if dirty is not None:
                self._ensure_health(platform, store)
                self.db.execute(
                    "UPDATE sync_health SET dirty_from = LEAST(COALESCE(dirty_from, ?), ?) WHERE platform = ? AND store = ?",
                    [to_db(dirty), to_db(dirty), platform, store],
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return written

    def _store_entities(self, platform: str, store: str, entities: list[Entity]) -> datetime | None:
        """Upsert a page's entities in one statement (row-by-row upserts cost ~4 ms each); return
        the earliest hour they touch, old versions included, or None for an empty page."""
        latest = {(family_of(e), entity_key(e)): e for e in entities}  # the last version in the page wins
        if not latest:
            return None
        spans = {k: affected_span(e) for k, e in latest.items()}
        old = self.db.execute(
            "SELECT family, key, first_ts FROM sync_entities WHERE platform = ? AND store = ? AND key IN (SELECT unnest(?))",
            [platform, store, [key for _, key in latest]],
        ).fetchall()
        starts = [first for first, _ in spans.values()]
        starts += [first_ts.replace(tzinfo=UTC) for family, key, first_ts in old if (family, key) in latest]
        page = pl.DataFrame(
            [(platform, store, family, key, to_db(spans[family, key][0]), to_db(spans[family, key][1]),
              entity_to_json(entity)) for (family, key), entity in latest.items()],
            schema={"platform": pl.String, "store": pl.String, "family": pl.String, "key": pl.String,
                    "first_ts": pl.Datetime("us"), "last_ts": pl.Datetime("us"), "payload": pl.String},
            orient="row",
        )
        self.db.register("_sync_page", page)
        try:
            self.db.execute("INSERT OR REPLACE INTO sync_entities SELECT * FROM _sync_page")
        finally:
            self.db.unregister("_sync_page")
        return min(starts)

    def entities_touching(self, platform: str, store: str, since: datetime) -> list[Entity]:
        rows = self.db.execute(
            "SELECT payload FROM sync_entities WHERE platform = ? AND store = ? AND (last_ts IS NULL OR last_ts >= ?)",
            [platform, store, to_db(since)],
        ).fetchall()
        return [entity_from_json(row[0]) for row in rows]

    def entity_count(self, platform: str, store: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT family, count(*) FROM sync_entities WHERE platform = ? AND store = ? GROUP BY 1 ORDER BY 1",
            [platform, store],
        ).fetchall()
        return {family: int(n) for family, n in rows}

    # points (in the metric store) -------------------------------------------
    def replace_points(
        self, platform: str, store: str, frame: pl.DataFrame, start: datetime, end: datetime, metrics: list[str],
        *, now: datetime | None = None,
    ) -> Written:
        """Swap the entity-derived points of ``[start, end)`` for ``frame`` in one transaction."""
        return self.metric_store.replace(platform, store, frame, start, end, metrics, now=now)

    def points(self, platform: str | None = None, store: str | None = None) -> pl.DataFrame:
        """The stored points (of one platform/store), ordered by metric, sku, ts."""
        return self.metric_store.read(platform=platform, store=store).select(
            pl.col(c).cast(t) for c, t in POINT_SCHEMA.items())

    def first_point_at(self, platform: str, store: str, metric: str) -> dict[str, datetime]:
        """Per SKU, the first hour the store has a point of ``metric`` (e.g. a SKU's first sale)."""
        return self.metric_store.first_point_at(platform, store, metric)

    # shared-stock groups --------------------------------------------------------
    def put_stock_group(self, group: StockGroup) -> None:
        """Declare (or redeclare) a group; a SKU belongs to one group at most, so it moves here."""
        self.db.execute("BEGIN TRANSACTION")
        try:
            self.db.execute("INSERT OR REPLACE INTO sync_stock_groups VALUES (?, ?, ?)",
                            [group.name, float(group.tolerance), float(group.lag_hours)])
            self.db.execute("DELETE FROM sync_stock_members WHERE group_id = ?", [group.name])
            for m in group.members:
                self.db.execute("INSERT OR REPLACE INTO sync_stock_members VALUES (?, ?, ?, ?, ?)",
                                [m.platform, m.store, m.sku, group.name, m.reference])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def delete_stock_group(self, name: str) -> None:
        self.db.execute("DELETE FROM sync_stock_members WHERE group_id = ?", [name])
        self.db.execute("DELETE FROM sync_stock_groups WHERE group_id = ?", [name])

    def stock_groups(self) -> list[StockGroup]:
        members: dict[str, list[StockMember]] = {}
        for p, s, sku, group, reference in self.db.execute(
            "SELECT platform, store, sku, group_id, reference FROM sync_stock_members ORDER BY 4, 1, 2, 3"
        ).fetchall():
            members.setdefault(group, []).append(StockMember(p, s, sku, bool(reference)))
        rows = self.db.execute("SELECT group_id, tolerance, lag_hours FROM sync_stock_groups ORDER BY 1").fetchall()
        return [StockGroup(name, tuple(members.get(name, ())), float(tol), float(lag)) for name, tol, lag in rows]

    # health -----------------------------------------------------------------
    def _ensure_health(self, platform: str, store: str) -> None:
        self.db.execute(
            "INSERT INTO sync_health (platform, store) VALUES (?, ?) ON CONFLICT DO NOTHING", [platform, store]
        )

    def health(self, platform: str, store: str) -> Health:
        row = self.db.execute(
            "SELECT last_success, last_attempt, synced_until, dirty_from, last_error, consecutive_failures "
            "FROM sync_health WHERE platform = ? AND store = ?", [platform, store],
        ).fetchone()
        if row is None:
            return Health(platform, store)
        last_success, last_attempt, synced_until, dirty_from = (from_db(t) for t in row[:4])
        return Health(platform, store, last_success, last_attempt, synced_until, dirty_from, row[4], int(row[5]))

    def all_health(self) -> list[Health]:
        keys = self.db.execute(
            "SELECT platform, store FROM sync_stores UNION SELECT platform, store FROM sync_health ORDER BY 1, 2"
        ).fetchall()
        return [self.health(p, s) for p, s in keys]

    def record_failure(self, platform: str, store: str, now: datetime, error: str) -> None:
        self._ensure_health(platform, store)
        self.db.execute(
            "UPDATE sync_health SET last_attempt = ?, last_error = ?, consecutive_failures = consecutive_failures + 1 "
            "WHERE platform = ? AND store = ?", [to_db(now), error, platform, store],
        )

    def record_success(self, platform: str, store: str, now: datetime, synced_until: datetime) -> None:
        self._ensure_health(platform, store)
        self.db.execute(
            "UPDATE sync_health SET last_attempt = ?, last_success = ?, synced_until = ?, dirty_from = NULL, "
            "last_error = NULL, consecutive_failures = 0 WHERE platform = ? AND store = ?",
            [to_db(now), to_db(now), to_db(synced_until), platform, store],
        )

    def upsert_points(self, frames: list[pl.DataFrame], *, now: datetime | None = None) -> int:
        """Insert or replace points of several frames in one transaction (all or nothing)."""
        frames = [f for f in frames if f.height]
        if not frames:
            return 0
        return self.metric_store.write(pl.concat([f.select(list(POINT_SCHEMA)) for f in frames]), now=now).rows

    # imported files (the watched folder) ---------------------------------------
    def import_seen(self, path: str, size: int, mtime: float) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM sync_imports WHERE path = ? AND size = ? AND mtime = ?", [path, size, mtime]
        ).fetchone()
        return row is not None

    def record_import(self, path: str, size: int, mtime: float, now: datetime, points: int | None, error: str | None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sync_imports VALUES (?, ?, ?, ?, ?, ?)", [path, size, mtime, to_db(now), points, error]
        )
