"""The sync engine's persisted state — stores, cursors, entities, health, shared-stock groups,
imported files — in the state database, and the metric store its points go to.

The tables (revision 0015, :mod:`shopsentinel.store.sync_tables`) live in the same database as the
alerts and the points (SQLite file embedded, PostgreSQL shared), so ``shopsentinel stores add``
and the web register stores while ``serve`` runs, ``store migrate`` moves them, and replicas share
them. ``SyncDB(engine)`` uses the caller's engine (the service's own); ``SyncDB(url)`` opens and
migrates a state database of its own; ``SyncDB(":memory:")`` is a private in-memory one (``sync
check``, tests). Until 0015 this state was a DuckDB file (``SHOPSENTINEL_SYNC_DB``): such a file is
moved in once by :func:`shopsentinel.store.legacy_duckdb.move_sync_file` (at ``serve`` start and
in the CLI), then kept renamed ``….moved``.

Points are not kept here: the hourly points a sync computes are written once, into the install's
one metric store (the state database's ``points``, :mod:`shopsentinel.store.metricstore`), which
the live evaluation and the alert center read. By default that is the points table of the same
database; the service's sync runner attaches the service's own store (same table, its caches).

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
still recomputes every hour the stored entities touch. Concurrent writers (serve and the CLI, two
workers) never lose an update: cursors, entities and health are written with ``INSERT … ON
CONFLICT`` in the page's transaction, counters are incremented in SQL, and on PostgreSQL the
entities a page replaces are locked (``FOR UPDATE``) while their old spans are read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import polars as pl
from sqlalchemy import Table, case, delete, func, literal, or_, select, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from shopsentinel.sources.base import Entity, Order, OrderLine, Refund, Review, StockSnapshot
from shopsentinel.sources.hourly import LOGISTICS_DONE, POINT_SCHEMA, entity_key, family_of
from shopsentinel.sources.kit.http import TrafficPoint
from shopsentinel.store.metricstore import MetricStore, Written
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import PointRow
from shopsentinel.store.sync_tables import (
    SyncCursorRow,
    SyncEntityRow,
    SyncHealthRow,
    SyncImportRow,
    SyncStockGroupRow,
    SyncStockMemberRow,
    SyncStoreRow,
    memory_engine,
    open_state,
)

STORES = cast(Table, SyncStoreRow.__table__)
CURSORS = cast(Table, SyncCursorRow.__table__)
ENTITIES = cast(Table, SyncEntityRow.__table__)
IMPORTS = cast(Table, SyncImportRow.__table__)
GROUPS = cast(Table, SyncStockGroupRow.__table__)
MEMBERS = cast(Table, SyncStockMemberRow.__table__)
HEALTH = cast(Table, SyncHealthRow.__table__)
KEYS_PER_QUERY = 500  # keys bound in one IN (…): well under SQLite's and PostgreSQL's limits


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


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` or, on a primary-key conflict, overwrite the other columns (one statement)."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    stmt = _insert(conn)(table)
    others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=others) if others
                 else stmt.on_conflict_do_nothing(index_elements=keys), rows)


def private_point_store() -> PointStore:
    """An in-memory SQLite metric store of its own: the points and stores tables."""
    return PointStore(memory_engine(), cache_stores=0)


class SyncDB:
    """The sync tables of a state database (an engine, a database URL, a SQLite file path or
    ``:memory:``), and the metric store the syncs write their points into (``points``; by default
    the same database's; see the module docstring)."""

    def __init__(self, where: Engine | Path | str, *, points: MetricStore | None = None) -> None:
        self.engine, self._owned, self.path = open_state(where)
        self._store: MetricStore | None = points
        self._conn: Connection | None = None  # the open transaction of :meth:`transaction`

    @property
    def metric_store(self) -> MetricStore:
        if self._store is None:
            self._store = PointStore(self.engine, cache_stores=0)
        return self._store

    def attach_points(self, store: MetricStore) -> None:
        """Write and read points in ``store`` from now on (the service's own, with its caches)."""
        self._store = store

    def close(self) -> None:
        if self._owned:
            self.engine.dispose()

    def __enter__(self) -> SyncDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """The open :meth:`transaction`'s connection, or a transaction of its own (committed at the end)."""
        if self._conn is not None:
            yield self._conn
            return
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """The open :meth:`transaction`'s connection, or a connection of its own (nothing to commit)."""
        if self._conn is not None:
            yield self._conn
            return
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[SyncDB]:
        """Every call inside runs in one transaction: committed at the end, rolled back on an error
        (``keys rotate`` re-seals all store credentials this way)."""
        if self._conn is not None:
            yield self
            return
        with self.engine.begin() as conn:
            self._conn = conn
            try:
                yield self
            finally:
                self._conn = None

    # stores -----------------------------------------------------------------
    def put_store(self, record: StoreRecord) -> None:
        with self._begin() as conn:
            _upsert(conn, STORES, [{"platform": record.platform, "store": record.store, "timezone": record.timezone,
                                    "start": record.start, "config": json.dumps(record.config, ensure_ascii=False)}])

    def stores(self) -> list[StoreRecord]:
        with self._read() as conn:
            rows = conn.execute(select(STORES.c.platform, STORES.c.store, STORES.c.timezone, STORES.c.start,
                                       STORES.c.config).order_by(STORES.c.platform, STORES.c.store)).all()
        return [StoreRecord(p, s, tz, start, json.loads(cfg)) for p, s, tz, start, cfg in rows]

    def store(self, platform: str, store: str) -> StoreRecord | None:
        with self._read() as conn:
            row = conn.execute(select(STORES.c.timezone, STORES.c.start, STORES.c.config).where(
                STORES.c.platform == platform, STORES.c.store == store)).first()
        return StoreRecord(platform, store, row[0], row[1], json.loads(row[2])) if row else None

    # cursors ----------------------------------------------------------------
    def cursor(self, platform: str, store: str, stream: str) -> dict[str, Any]:
        with self._read() as conn:
            text = conn.execute(select(CURSORS.c.cursor).where(
                CURSORS.c.platform == platform, CURSORS.c.store == store, CURSORS.c.stream == stream)).scalar()
        return dict(json.loads(text)) if text else {}

    def cursors(self, platform: str, store: str) -> dict[str, dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(select(CURSORS.c.stream, CURSORS.c.cursor).where(
                CURSORS.c.platform == platform, CURSORS.c.store == store).order_by(CURSORS.c.stream)).all()
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
        with self._begin() as conn:
            dirty = self._store_entities(conn, platform, store, entities)
            _upsert(conn, CURSORS, [{"platform": platform, "store": store, "stream": stream,
                                     "cursor": json.dumps(cursor, ensure_ascii=False, default=str), "saved_at": now}])
            if dirty is not None:
                self._ensure_health(conn, platform, store)
                earlier = or_(HEALTH.c.dirty_from.is_(None), HEALTH.c.dirty_from > dirty)
                conn.execute(update(HEALTH).where(HEALTH.c.platform == platform, HEALTH.c.store == store).values(
                    dirty_from=case((earlier, literal(dirty, HEALTH.c.dirty_from.type)), else_=HEALTH.c.dirty_from)))
        return written

    def _store_entities(self, conn: Connection, platform: str, store: str, entities: list[Entity]) -> datetime | None:
        """Upsert a page's entities in one statement; return the earliest hour they touch, old
        versions included, or None for an empty page."""
        latest = {(family_of(e), entity_key(e)): e for e in entities}  # the last version in the page wins
        if not latest:
            return None
        spans = {k: affected_span(e) for k, e in latest.items()}
        starts = [first for first, _ in spans.values()]
        keys = sorted({key for _, key in latest})
        for i in range(0, len(keys), KEYS_PER_QUERY):
            query = select(ENTITIES.c.family, ENTITIES.c.key, ENTITIES.c.first_ts).where(
                ENTITIES.c.platform == platform, ENTITIES.c.store == store,
                ENTITIES.c.key.in_(keys[i:i + KEYS_PER_QUERY]))
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()  # a concurrent writer of the same entities waits
            starts += [first_ts for family, key, first_ts in conn.execute(query) if (family, key) in latest]
        _upsert(conn, ENTITIES, [
            {"platform": platform, "store": store, "family": family, "key": key, "first_ts": spans[family, key][0],
             "last_ts": spans[family, key][1], "payload": entity_to_json(entity)}
            for (family, key), entity in latest.items()])
        return min(starts)

    def entities_touching(self, platform: str, store: str, since: datetime) -> list[Entity]:
        with self._read() as conn:
            rows = conn.execute(select(ENTITIES.c.payload).where(
                ENTITIES.c.platform == platform, ENTITIES.c.store == store,
                or_(ENTITIES.c.last_ts.is_(None), ENTITIES.c.last_ts >= since))).scalars().all()
        return [entity_from_json(row) for row in rows]

    def entity_count(self, platform: str, store: str) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(ENTITIES.c.family, func.count()).where(
                ENTITIES.c.platform == platform, ENTITIES.c.store == store).group_by(ENTITIES.c.family)
                .order_by(ENTITIES.c.family)).all()
        return {family: int(n) for family, n in rows}

    # points (in the metric store) -------------------------------------------
    def replace_points(
        self, platform: str, store: str, frame: pl.DataFrame, start: datetime, end: datetime, metrics: list[str],
        *, now: datetime | None = None,
    ) -> Written:
        """Swap the entity-derived points of ``[start, end)`` for ``frame`` in one transaction."""
        return self.metric_store.replace(platform, store, frame, start, end, metrics, now=now)

    def points(self, platform: str | None = None, store: str | None = None, *,
               metric: str | None = None, since: datetime | None = None) -> pl.DataFrame:
        """The stored points (of one platform/store/metric, from ``since`` on), ordered by metric, sku, ts."""
        return self.metric_store.read(platform=platform, store=store, metric=metric, start=since).select(
            pl.col(c).cast(t) for c, t in POINT_SCHEMA.items())

    def points_as_of(self, platform: str, store: str, metric: str, since: datetime) -> pl.DataFrame:
        """The store's points of ``metric`` from ``since`` on, plus each SKU's last point before
        ``since`` (its level then: a snapshot holds until it changes) — what an as-of comparison over
        ``[since, now]`` needs, without reading the metric's whole history. Ordered by sku, ts."""
        store_ = self.metric_store
        recent = store_.read(platform=platform, store=store, metric=metric, start=since)
        if not isinstance(store_, PointStore):  # another metric store: its whole history, filtered here
            older = store_.read(platform=platform, store=store, metric=metric, end=since)
            before = older.sort("ts").group_by("sku", maintain_order=True).last()
        else:
            cut = int(since.astimezone(UTC).timestamp())
            last = (select(PointRow.sku, func.max(PointRow.ts).label("ts"))
                    .where(PointRow.platform == platform, PointRow.store == store, PointRow.metric == metric,
                           PointRow.ts < cut).group_by(PointRow.sku).subquery())
            query = select(PointRow.ts, PointRow.sku, PointRow.value).join(
                last, (PointRow.sku == last.c.sku) & (PointRow.ts == last.c.ts)).where(
                PointRow.platform == platform, PointRow.store == store, PointRow.metric == metric)
            with store_.engine.connect() as conn:
                rows = conn.execute(query).all()
            before = pl.DataFrame(
                [(datetime.fromtimestamp(ts, UTC), platform, store, sku, metric, value) for ts, sku, value in rows],
                schema=POINT_SCHEMA, orient="row")
        frame = pl.concat([before.select(list(POINT_SCHEMA)).cast(POINT_SCHEMA),  # type: ignore[arg-type]
                           recent.select(list(POINT_SCHEMA)).cast(POINT_SCHEMA)])  # type: ignore[arg-type]
        return frame.sort("sku", "ts")

    def first_point_at(self, platform: str, store: str, metric: str) -> dict[str, datetime]:
        """Per SKU, the first hour the store has a point of ``metric`` (e.g. a SKU's first sale)."""
        return self.metric_store.first_point_at(platform, store, metric)

    # shared-stock groups --------------------------------------------------------
    def put_stock_group(self, group: StockGroup) -> None:
        """Declare (or redeclare) a group; a SKU belongs to one group at most, so it moves here."""
        with self._begin() as conn:
            _upsert(conn, GROUPS, [{"group_id": group.name, "tolerance": float(group.tolerance),
                                    "lag_hours": float(group.lag_hours)}])
            conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == group.name))
            _upsert(conn, MEMBERS, [{"platform": m.platform, "store": m.store, "sku": m.sku, "group_id": group.name,
                                     "reference": bool(m.reference)} for m in group.members])

    def delete_stock_group(self, name: str) -> None:
        with self._begin() as conn:
            conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == name))
            conn.execute(delete(GROUPS).where(GROUPS.c.group_id == name))

    def stock_groups(self) -> list[StockGroup]:
        members: dict[str, list[StockMember]] = {}
        with self._read() as conn:
            for p, s, sku, group, reference in conn.execute(
                select(MEMBERS.c.platform, MEMBERS.c.store, MEMBERS.c.sku, MEMBERS.c.group_id, MEMBERS.c.reference)
                .order_by(MEMBERS.c.group_id, MEMBERS.c.platform, MEMBERS.c.store, MEMBERS.c.sku)
            ):
                members.setdefault(group, []).append(StockMember(p, s, sku, bool(reference)))
            rows = conn.execute(select(GROUPS.c.group_id, GROUPS.c.tolerance, GROUPS.c.lag_hours)
                                .order_by(GROUPS.c.group_id)).all()
        return [StockGroup(name, tuple(members.get(name, ())), float(tol), float(lag)) for name, tol, lag in rows]

    # health -----------------------------------------------------------------
    @staticmethod
    def _ensure_health(conn: Connection, platform: str, store: str) -> None:
        conn.execute(_insert(conn)(HEALTH).values(platform=platform, store=store, consecutive_failures=0)
                     .on_conflict_do_nothing(index_elements=["platform", "store"]))

    @staticmethod
    def _health(row: Any) -> Health:
        return Health(row.platform, row.store, row.last_success, row.last_attempt, row.synced_until, row.dirty_from,
                      row.last_error, int(row.consecutive_failures))

    def health(self, platform: str, store: str) -> Health:
        with self._read() as conn:
            row = conn.execute(select(HEALTH).where(HEALTH.c.platform == platform, HEALTH.c.store == store)).first()
        return self._health(row) if row is not None else Health(platform, store)

    def all_health(self) -> list[Health]:
        """The health of every registered store or store with a health row, by platform and store."""
        with self._read() as conn:
            keys = conn.execute(union(select(STORES.c.platform, STORES.c.store), select(HEALTH.c.platform, HEALTH.c.store))
                                .order_by("platform", "store")).all()
            rows = {(r.platform, r.store): self._health(r) for r in conn.execute(select(HEALTH))}
        return [rows.get((p, s), Health(p, s)) for p, s in keys]

    def record_failure(self, platform: str, store: str, now: datetime, error: str) -> None:
        with self._begin() as conn:
            self._ensure_health(conn, platform, store)
            conn.execute(update(HEALTH).where(HEALTH.c.platform == platform, HEALTH.c.store == store).values(
                last_attempt=now, last_error=error, consecutive_failures=HEALTH.c.consecutive_failures + 1))

    def record_success(self, platform: str, store: str, now: datetime, synced_until: datetime) -> None:
        with self._begin() as conn:
            self._ensure_health(conn, platform, store)
            conn.execute(update(HEALTH).where(HEALTH.c.platform == platform, HEALTH.c.store == store).values(
                last_attempt=now, last_success=now, synced_until=synced_until, dirty_from=None, last_error=None,
                consecutive_failures=0))

    def upsert_points(self, frames: list[pl.DataFrame], *, now: datetime | None = None) -> int:
        """Insert or replace points of several frames in one transaction (all or nothing)."""
        frames = [f for f in frames if f.height]
        if not frames:
            return 0
        return self.metric_store.write(pl.concat([f.select(list(POINT_SCHEMA)) for f in frames]), now=now).rows

    # imported files (the watched folder) ---------------------------------------
    def import_seen(self, path: str, size: int, mtime: float) -> bool:
        with self._read() as conn:
            row = conn.execute(select(IMPORTS.c.size).where(
                IMPORTS.c.path == path, IMPORTS.c.size == size, IMPORTS.c.mtime == mtime)).first()
        return row is not None

    def record_import(self, path: str, size: int, mtime: float, now: datetime, points: int | None, error: str | None) -> None:
        with self._begin() as conn:
            _upsert(conn, IMPORTS, [{"path": path, "size": size, "mtime": mtime, "imported_at": now, "points": points,
                                     "error": error}])
