"""The one metric store: the protocol every writer and reader of canonical points uses.

Points live in ONE place per install: the ``points`` table of the state database — SQLite for the
embedded install (one file, the default of ``serve``, ``make demo`` and ``shopsentinel import``),
PostgreSQL when several processes share it. :class:`shopsentinel.store.points.PointStore` is the
implementation; it speaks both dialects (bulk loads by ``COPY`` on PostgreSQL, ``executemany`` on
SQLite). The live API (``POST /points``), connector syncs (``shopsentinel sync`` and the service's
sync runner), ``shopsentinel import DIR``, the live evaluation, the alert center and the insight
pages read and write through it; ``shopsentinel store migrate`` moves an embedded install's data
into PostgreSQL (:mod:`shopsentinel.store.migrate`).

The backtest needs no store: it reads a folder of files straight into memory (docs/DECISIONS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import polars as pl

from shopsentinel.core.types import Point

StoreKey = tuple[str, str]


@dataclass(frozen=True)
class Written:
    """What one bulk write did. ``changed``: per store, the earliest time of a point that was new,
    changed a stored value or was deleted (an identical resend changes nothing); ``spans``: per
    store, the first and last time of the points written; ``replaced``: stored points whose value
    the write changed (the import's conflict count); ``deleted``: points a re-sync window removed;
    ``created``: stores the write registered (their first points)."""

    rows: int = 0
    changed: dict[StoreKey, datetime] = field(default_factory=dict)
    spans: dict[StoreKey, tuple[datetime, datetime]] = field(default_factory=dict)
    replaced: int = 0
    deleted: int = 0
    created: tuple[StoreKey, ...] = ()


class MetricStore(Protocol):
    """Canonical points ``ts (UTC), platform, store, sku, metric, value`` keyed by everything but
    the value: a point written again replaces the stored value (the latest write wins)."""

    def upsert(self, points: Sequence[Point]) -> dict[StoreKey, datetime]:
        """A few points (the live API path); returns :attr:`Written.changed`."""
        ...

    def write(self, frame: pl.DataFrame, *, now: datetime | None = None) -> Written:
        """A bulk load of a canonical frame in one transaction (all or nothing)."""
        ...

    def replace(self, platform: str, store: str, frame: pl.DataFrame, start: datetime, end: datetime,
                metrics: Sequence[str], *, now: datetime | None = None) -> Written:
        """A connector's re-sync window: the store's points of ``metrics`` in ``[start, end)``
        become exactly ``frame`` (plus ``frame``'s points of other metrics), in one transaction."""
        ...

    def frame(self, platform: str, store: str, start: datetime, end: datetime) -> pl.DataFrame:
        """One store's points with ``start <= ts < end`` (the evaluation window)."""
        ...

    def read(self, *, platform: str | None = None, store: str | None = None, metric: str | None = None,
             start: datetime | None = None, end: datetime | None = None) -> pl.DataFrame:
        """Points matching every given filter, ordered by metric, sku, ts."""
        ...

    def latest(self, platform: str | None = None) -> dict[StoreKey, datetime]:
        """The newest point time of each store."""
        ...

    def first_point_at(self, platform: str, store: str, metric: str) -> dict[str, datetime]:
        """Per SKU, the first time the store has a point of ``metric``."""
        ...

    def count(self) -> int:
        ...


__all__ = ["MetricStore", "StoreKey", "Written"]
