"""The live point store: canonical points in the state database, upserted by key.

The key is ``(platform, store, sku, metric, ts)``; a point sent again replaces the stored value
(the latest arrival wins, like the latest line of a file in the backtest). Reads return the
canonical polars frame ``ts (UTC), platform, store, sku, metric, value`` that
:func:`shopsentinel.ingest.clean.clean` and :func:`shopsentinel.detect.panel.build_panel` take.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from shopsentinel.core.types import Point
from shopsentinel.store.state import PointRow

CHUNK = 5_000
FRAME_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "ts": pl.Datetime("us", "UTC"),
    "platform": pl.String,
    "store": pl.String,
    "sku": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
}


def _epoch(ts: datetime) -> int:
    return int(ts.astimezone(UTC).timestamp())


@dataclass
class _Cached:
    frame: pl.DataFrame
    lo: int  # the frame holds exactly the stored points with lo <= ts < hi (epoch seconds)
    hi: int


class PointStore:
    """Points of every store, in the same SQL database as the alert state.

    With ``cache=True`` the last frame read per store is kept and only the hours after it (or
    after the earliest point written since, for late data) are read again: evaluation reads the
    same trailing window every tick. At most ``cache_stores`` stores are kept (least recently
    read dropped first). Only writes through this object invalidate the cache, so set
    ``cache_stores=0`` when several processes write points into one database.
    """

    def __init__(self, engine: Engine, *, cache_stores: int = 100) -> None:
        self._engine = engine
        self._cache_stores = max(0, cache_stores)
        self._use_cache = self._cache_stores > 0
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._dirty: dict[tuple[str, str], int] = {}  # earliest ts written since the cache was filled
        self._lock = threading.Lock()

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

    def frame(self, platform: str, store: str, start: datetime, end: datetime) -> pl.DataFrame:
        """Points of one store with ``start <= ts < end``, as the canonical frame."""
        key, lo, hi = (platform, store), _epoch(start), _epoch(end)
        with self._lock:
            cached = self._cache.pop(key, None)
            dirty = self._dirty.pop(key, None)
        valid_hi = min(cached.hi, dirty) if cached is not None and dirty is not None else cached.hi if cached else lo
        if cached is None or not (cached.lo <= lo <= valid_hi):
            result = self._read(platform, store, lo, hi)
        else:
            kept = cached.frame.filter((pl.col("ts") >= _us(lo)) & (pl.col("ts") < _us(min(valid_hi, hi))))
            result = pl.concat([kept, self._read(platform, store, valid_hi, hi)]) if valid_hi < hi else kept
        if self._use_cache:
            with self._lock:
                self._cache[key] = _Cached(result, lo, hi)  # (re)inserted last: most recently read
                while len(self._cache) > self._cache_stores:
                    self._cache.pop(next(iter(self._cache)))
        return result

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


def _us(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


__all__ = ["PointStore"]
