"""The metric store of every install: canonical points in the state database, upserted by key.

The key is ``(platform, store, sku, metric, ts)``; a point sent again replaces the stored value
(the latest arrival wins, like the latest line of a file in the backtest). Reads return the
canonical polars frame ``ts (UTC), platform, store, sku, metric, value`` that
:func:`shopsentinel.ingest.clean.clean` and :func:`shopsentinel.detect.panel.build_panel` take.

Two write paths, one table (:class:`~shopsentinel.store.metricstore.MetricStore`):

* :meth:`PointStore.upsert` / :meth:`~PointStore.upsert_in` — a few points per call (``POST
  /points``): one multi-row ``INSERT … ON CONFLICT DO UPDATE … RETURNING``.
* :meth:`PointStore.write` / :meth:`~PointStore.replace` — bulk loads (``shopsentinel import``,
  connector syncs, ``store migrate``): the frame goes into a temporary table (``COPY`` on
  PostgreSQL, ``executemany`` on SQLite), then one ``INSERT … SELECT … ON CONFLICT`` moves it in,
  so conflicts are counted and the changed hours found in SQL, not row by row. Bulk writes register
  unknown stores (``stores.first_point_at``, what the scheduler's periodic pass evaluates) and bump
  the store's ``points_version`` in the same transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import bindparam, func, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from shopsentinel.core.types import Point
from shopsentinel.store.metricstore import StoreKey, Written
from shopsentinel.store.partitions import ensure_months, is_partitioned, month_start, months_between
from shopsentinel.store.repository import note_points
from shopsentinel.store.state import PointRow, StoreRow

CHUNK = 5_000
FRAME_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "ts": pl.Datetime("us", "UTC"),
    "platform": pl.String,
    "store": pl.String,
    "sku": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
}
KEY = ("platform", "store", "sku", "metric", "ts")
INCOMING = "shopsentinel_incoming_points"


def _epoch(ts: datetime) -> int:
    return int(ts.astimezone(UTC).timestamp())


@dataclass
class _Cached:
    frame: pl.DataFrame
    lo: int  # the frame holds exactly the stored points with lo <= ts < hi (epoch seconds)
    hi: int
    version: int | None  # the store's points_version when the frame was read


class PointStore:
    """Points of every store, in the same SQL database as the alert state (SQLite or PostgreSQL).

    With ``cache=True`` the last frame read per store is kept and only the hours after it (or
    after the earliest point written since, for late data) are read again: evaluation reads the
    same trailing window every tick. At most ``cache_stores`` stores are kept (least recently
    read dropped first). Writes through this object invalidate the cache; bulk writes from other
    processes (``shopsentinel import``, a CLI sync) bump the store's ``points_version``, which a
    cached read checks, so they are seen at the next read. Set ``cache_stores=0`` when several
    processes write points through the live API path into one database.
    """

    def __init__(self, engine: Engine, *, cache_stores: int = 100) -> None:
        self._engine = engine
        self._cache_stores = max(0, cache_stores)
        self._use_cache = self._cache_stores > 0
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._dirty: dict[tuple[str, str], int] = {}  # earliest ts written since the cache was filled
        self._lock = threading.Lock()
        self._partitioned: bool | None = None  # PostgreSQL's monthly partitions (revision 0012)
        self._months: set[datetime] = set()  # month partitions known to exist

    def _ensure_months(self, conn: Connection | None, months: set[datetime], *, own_transaction: bool = False) -> None:
        """Month partitions for ``months`` (PostgreSQL; see :mod:`.partitions`), on ``conn`` (not
        remembered: the caller's transaction may still roll back) or in a short transaction of their own."""
        if self._engine.dialect.name != "postgresql" or not (months - self._months):
            return
        if conn is None:
            with self._engine.begin() as own:
                self._ensure_months(own, months, own_transaction=True)
            return
        if self._partitioned is None:
            self._partitioned = is_partitioned(conn)
        if self._partitioned:
            ensure_months(conn, months - self._months)
        if not self._partitioned or own_transaction:
            self._months |= months

    @property
    def engine(self) -> Engine:
        return self._engine

    # ------------------------------------------------------------------ the live API path
    def upsert(self, points: Sequence[Point]) -> dict[tuple[str, str], datetime]:
        """Store points in a transaction of their own; a repeated key takes the newest value.

        Returns, per ``(platform, store)`` whose data moved, the earliest time of a point that was
        new or changed a stored value: a point sent again with the value already stored changes
        nothing, so the caller re-evaluates only stores whose data really moved, and only when the
        change reaches into hours it judges.
        """
        if not points:
            return {}
        with self._engine.begin() as conn:
            changed = self.upsert_in(conn, points)
        self.invalidate(changed)  # after the commit, so a concurrent read cannot miss it
        return changed

    def upsert_in(self, conn: Connection, points: Sequence[Point]) -> dict[tuple[str, str], datetime]:
        """:meth:`upsert` on the caller's connection and inside its transaction (an API request
        holds one connection, not two, so requests never wait on the pool for a second one).
        The caller commits, then calls :meth:`invalidate` with what this returned."""
        if not points:
            return {}
        self._ensure_months(None, {month_start(p.ts) for p in points})  # a new month: its partition first
        latest: dict[tuple[str, str, str, str, int], float] = {}
        for p in points:  # within one batch too, the later point wins
            latest[(p.platform, p.store, p.sku, p.metric, _epoch(p.ts))] = float(p.value)
        rows = [
            {"platform": k[0], "store": k[1], "sku": k[2], "metric": k[3], "ts": k[4], "value": v}
            for k, v in latest.items()
        ]
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        earliest: dict[tuple[str, str], int] = {}
        for i in range(0, len(rows), CHUNK):
            stmt = insert(PointRow)
            stmt = stmt.on_conflict_do_update(
                index_elements=["platform", "store", "sku", "metric", "ts"],
                set_={"value": stmt.excluded.value},
                where=PointRow.value != stmt.excluded.value,  # an identical resend writes nothing
            )
            returned = conn.execute(stmt.returning(PointRow.platform, PointRow.store, PointRow.ts),
                                    rows[i : i + CHUNK])
            for platform, store, ts in returned:
                key = (platform, store)
                earliest[key] = min(earliest.get(key, ts), ts)
        return {key: _us(ts) for key, ts in earliest.items()}

    def invalidate(self, changed: dict[tuple[str, str], datetime]) -> None:
        """Forget cached hours from the earliest changed point on (call after the commit)."""
        with self._lock:
            for key, moment in changed.items():
                ts = _epoch(moment)
                self._dirty[key] = min(self._dirty.get(key, ts), ts)

    # ------------------------------------------------------------------ bulk loads
    def write(self, frame: pl.DataFrame, *, now: datetime | None = None, register: bool = True) -> Written:
        """Upsert a canonical frame in one transaction of its own (all or nothing). ``register=False``
        leaves the stores table alone (``store migrate`` copies it as it is)."""
        with self._engine.begin() as conn:
            written = self._bulk(conn, frame, None, now, register=register)
        self.invalidate(written.changed)
        return written

    def write_in(self, conn: Connection, frame: pl.DataFrame, *, now: datetime | None = None) -> Written:
        """:meth:`write` inside the caller's transaction (the import stores its stores and calendar
        in the same one); the caller commits, then calls :meth:`invalidate` with ``changed``."""
        return self._bulk(conn, frame, None, now)

    def replace(self, platform: str, store: str, frame: pl.DataFrame, start: datetime, end: datetime,
                metrics: Sequence[str], *, now: datetime | None = None) -> Written:
        """A re-sync window: the store's stored points of ``metrics`` in ``[start, end)`` that
        ``frame`` no longer has are deleted, ``frame`` is upserted — one transaction."""
        with self._engine.begin() as conn:
            written = self._bulk(conn, frame, (platform, store, _epoch(start), _epoch(end), list(metrics)), now)
        self.invalidate(written.changed)
        return written

    def _bulk(self, conn: Connection, frame: pl.DataFrame,
              window: tuple[str, str, int, int, list[str]] | None, now: datetime | None, *,
              register: bool = True) -> Written:
        rows = _rows(frame)
        if not rows and window is None:
            return Written()
        self._load_incoming(conn, rows)
        changed: dict[StoreKey, int] = {}
        replaced = deleted = 0
        join = " AND ".join(f"p.{c} = i.{c}" for c in KEY)
        for platform, store, first, n_replaced in conn.execute(text(
            f"SELECT i.platform, i.store, min(i.ts), sum(CASE WHEN p.value IS NULL THEN 0 ELSE 1 END) "
            f"FROM {INCOMING} i LEFT JOIN points p ON {join} "
            f"WHERE p.value IS NULL OR p.value <> i.value GROUP BY i.platform, i.store")):
            changed[(platform, store)] = int(first)
            replaced += int(n_replaced or 0)
        spans = {(p, s): (int(lo), int(hi)) for p, s, lo, hi in conn.execute(text(
            f"SELECT platform, store, min(ts), max(ts) FROM {INCOMING} GROUP BY platform, store"))}
        if spans:
            self._ensure_months(conn, set(months_between(_us(min(lo for lo, _ in spans.values())),
                                                         _us(max(hi for _, hi in spans.values())))))
        if window is not None:
            deleted = self._delete_window(conn, window, changed)
        conn.execute(text(
            f"INSERT INTO points (platform, store, sku, metric, ts, value) "
            f"SELECT platform, store, sku, metric, ts, value FROM {INCOMING} WHERE true "
            f"ON CONFLICT (platform, store, sku, metric, ts) DO UPDATE SET value = excluded.value "
            f"WHERE points.value <> excluded.value"))
        conn.execute(text(f"DROP TABLE {INCOMING}"))  # on failure the caller's rollback or the next load clears it
        created: list[StoreKey] = []
        if not register:
            return Written(len(rows), {k: _us(v) for k, v in changed.items()},
                           {k: (_us(lo), _us(hi)) for k, (lo, hi) in spans.items()}, replaced, deleted)
        if spans:
            session = Session(bind=conn)
            moment = now or datetime.now(UTC)
            created = [(r.platform, r.store) for r in note_points(
                session, {k: (_us(lo), _us(hi)) for k, (lo, hi) in spans.items()}, moment)]
            session.flush()
        if changed:
            conn.execute(update(StoreRow).where(tuple_(StoreRow.platform, StoreRow.store).in_(sorted(changed)))
                         .values(points_version=StoreRow.points_version + 1)
                         .execution_options(synchronize_session=False))
        return Written(len(rows), {k: _us(v) for k, v in changed.items()},
                       {k: (_us(lo), _us(hi)) for k, (lo, hi) in spans.items()}, replaced, deleted, tuple(created))

    def _load_incoming(self, conn: Connection, rows: list[tuple[str, str, str, str, int, float]]) -> None:
        postgres = self._engine.dialect.name == "postgresql"
        temp = "TEMPORARY" if postgres else "TEMP"
        real = "DOUBLE PRECISION" if postgres else "REAL"
        # IF NOT EXISTS + DELETE: a load that failed may have left the table on this pooled connection
        # (SQLite's driver runs DDL outside the transaction it rolls back)
        conn.execute(text(f"CREATE {temp} TABLE IF NOT EXISTS {INCOMING} (platform VARCHAR(64) NOT NULL, store VARCHAR(200) NOT NULL, "
                          f"sku VARCHAR(200) NOT NULL, metric VARCHAR(200) NOT NULL, ts BIGINT NOT NULL, "
                          f"value {real} NOT NULL, PRIMARY KEY (platform, store, sku, metric, ts))"))
        conn.execute(text(f"DELETE FROM {INCOMING}"))
        if not rows:
            return
        if postgres:
            cursor = conn.connection.cursor()
            with cursor.copy(f"COPY {INCOMING} (platform, store, sku, metric, ts, value) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.close()
        else:
            conn.exec_driver_sql(f"INSERT INTO {INCOMING} VALUES (?, ?, ?, ?, ?, ?)", rows)  # type: ignore[arg-type]
        if postgres:
            conn.execute(text(f"ANALYZE {INCOMING}"))

    def _delete_window(self, conn: Connection, window: tuple[str, str, int, int, list[str]],
                       changed: dict[StoreKey, int]) -> int:
        platform, store, lo, hi, metrics = window
        if not metrics:
            return 0
        gone = (
            "FROM points WHERE platform = :platform AND store = :store AND ts >= :lo AND ts < :hi "
            "AND metric IN :metrics AND NOT EXISTS (SELECT 1 FROM " + INCOMING + " i WHERE i.platform = points.platform "
            "AND i.store = points.store AND i.sku = points.sku AND i.metric = points.metric AND i.ts = points.ts)"
        )
        params = {"platform": platform, "store": store, "lo": lo, "hi": hi, "metrics": metrics}
        expanding: BindParameter[list[str]] = bindparam("metrics", expanding=True)
        first, n = conn.execute(text(f"SELECT min(ts), count(*) {gone}").bindparams(expanding), params).one()
        if not n:
            return 0
        conn.execute(text(f"DELETE {gone}").bindparams(expanding), params)
        key = (platform, store)
        changed[key] = min(changed.get(key, int(first)), int(first))
        return int(n)

    # ------------------------------------------------------------------ reads
    def frame(self, platform: str, store: str, start: datetime, end: datetime) -> pl.DataFrame:
        """Points of one store with ``start <= ts < end``, as the canonical frame."""
        key, lo, hi = (platform, store), _epoch(start), _epoch(end)
        with self._lock:
            cached = self._cache.pop(key, None)
            dirty = self._dirty.pop(key, None)
        version = self._version(platform, store) if self._use_cache else None
        if cached is not None and cached.version != version:
            cached = None  # another process bulk-wrote this store since it was cached
        valid_hi = min(cached.hi, dirty) if cached is not None and dirty is not None else cached.hi if cached else lo
        if cached is None or not (cached.lo <= lo <= valid_hi):
            result = self._read(platform, store, lo, hi)
        else:
            kept = cached.frame.filter((pl.col("ts") >= _us(lo)) & (pl.col("ts") < _us(min(valid_hi, hi))))
            result = pl.concat([kept, self._read(platform, store, valid_hi, hi)]) if valid_hi < hi else kept
        if self._use_cache:
            with self._lock:
                self._cache[key] = _Cached(result, lo, hi, version)  # (re)inserted last: most recently read
                while len(self._cache) > self._cache_stores:
                    self._cache.pop(next(iter(self._cache)))
        return result

    def _version(self, platform: str, store: str) -> int | None:
        with self._engine.connect() as conn:
            value = conn.execute(select(StoreRow.points_version).where(
                StoreRow.platform == platform, StoreRow.store == store)).scalar()
        return None if value is None else int(value)

    def _read(self, platform: str, store: str, lo: int, hi: int) -> pl.DataFrame:
        query = (
            select(PointRow.ts, PointRow.sku, PointRow.metric, PointRow.value)
            .where(PointRow.platform == platform, PointRow.store == store)
            .where(PointRow.ts >= lo, PointRow.ts < hi)
            .order_by(PointRow.ts, PointRow.metric, PointRow.sku)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return pl.DataFrame(schema=FRAME_SCHEMA)
        ts, skus, metrics, values = zip(*rows, strict=True)
        return pl.DataFrame(
            {
                "ts": pl.Series(ts, dtype=pl.Int64) * 1_000_000,
                "platform": pl.Series([platform] * len(rows), dtype=pl.String),
                "store": pl.Series([store] * len(rows), dtype=pl.String),
                "sku": pl.Series(skus, dtype=pl.String),
                "metric": pl.Series(metrics, dtype=pl.String),
                "value": pl.Series(values, dtype=pl.Float64),
            }
        ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))

    def read(self, *, platform: str | None = None, store: str | None = None, metric: str | None = None,
             start: datetime | None = None, end: datetime | None = None) -> pl.DataFrame:
        """Points matching every given filter, ordered by metric, sku, ts (uncached)."""
        query = select(PointRow.ts, PointRow.platform, PointRow.store, PointRow.sku, PointRow.metric, PointRow.value)
        for column, value in ((PointRow.platform, platform), (PointRow.store, store), (PointRow.metric, metric)):
            if value is not None:
                query = query.where(column == value)
        if start is not None:
            query = query.where(PointRow.ts >= _epoch(start))
        if end is not None:
            query = query.where(PointRow.ts < _epoch(end))
        query = query.order_by(PointRow.metric, PointRow.sku, PointRow.ts, PointRow.platform, PointRow.store)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return pl.DataFrame(schema=FRAME_SCHEMA)
        ts, platforms, stores, skus, metrics, values = zip(*rows, strict=True)
        return pl.DataFrame({
            "ts": pl.Series(ts, dtype=pl.Int64) * 1_000_000, "platform": pl.Series(platforms, dtype=pl.String),
            "store": pl.Series(stores, dtype=pl.String), "sku": pl.Series(skus, dtype=pl.String),
            "metric": pl.Series(metrics, dtype=pl.String), "value": pl.Series(values, dtype=pl.Float64),
        }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))

    def latest(self, platform: str | None = None) -> dict[StoreKey, datetime]:
        query = select(PointRow.platform, PointRow.store, func.max(PointRow.ts)).group_by(PointRow.platform, PointRow.store)
        if platform is not None:
            query = query.where(PointRow.platform == platform)
        with self._engine.connect() as conn:
            return {(p, s): _us(int(ts)) for p, s, ts in conn.execute(query)}

    def first_point_at(self, platform: str, store: str, metric: str) -> dict[str, datetime]:
        query = (select(PointRow.sku, func.min(PointRow.ts))
                 .where(PointRow.platform == platform, PointRow.store == store, PointRow.metric == metric,
                        PointRow.sku != "")
                 .group_by(PointRow.sku))
        with self._engine.connect() as conn:
            return {str(sku): _us(int(ts)) for sku, ts in conn.execute(query)}

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(PointRow)).scalar() or 0)


def _rows(frame: pl.DataFrame) -> list[tuple[str, str, str, str, int, float]]:
    """The frame's points as key + value tuples, ts in epoch seconds; the last of a repeated key wins."""
    if frame.is_empty():
        return []
    ts = pl.col("ts")
    if frame.schema["ts"] != pl.Int64:
        ts = ts.dt.epoch("s")
    rows = (frame.select("platform", "store", pl.col("sku").fill_null(""), "metric", ts.alias("ts"),
                         pl.col("value").cast(pl.Float64))
            .unique(subset=list(KEY), keep="last", maintain_order=True))
    return list(rows.iter_rows())


def _us(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


__all__ = ["FRAME_SCHEMA", "PointStore"]
