"""Backfill progress of a registered store: per stream, the covered share of ``[start, now]``.

A newly connected store's first sync reads as much history as the platform keeps (see
:func:`shopsentinel.sources.registry.history_start`), window by window through the same cursors
as every later sync, so progress is read straight from the persisted cursors:

* a windowed stream (orders, refunds, reviews) has read everything before its ``since`` — or,
  mid-window, before the window's ``start``;
* a snapshot stream (stock, prices) is covered once a full scan has finished (``scanned_at``);
* a stream with no cursor yet has covered nothing.

>>> from datetime import UTC, datetime
>>> start, now = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC)
>>> stream_covered({"since": "2026-01-06T00:00:00+00:00", "phase": "backfill"}, start, now)
0.5
>>> stream_covered({"since": "2026-01-06T00:00:00Z", "window": {"start": "2026-01-02T00:00:00+00:00"}}, start, now)
0.1
>>> stream_covered({"fingerprints": {}, "scanned_at": "2026-01-11T00:00:00+00:00"}, start, now)
1.0
>>> stream_covered({}, start, now)
0.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopsentinel.ingest.sync_state import SyncDB


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stream_covered(cursor: dict[str, Any], start: datetime, now: datetime) -> float:
    """The share of ``[start, now]`` this stream's cursor has read (0.0 … 1.0)."""
    if "scanned_at" in cursor:
        return 1.0
    window = cursor.get("window")
    reached = _moment(window.get("start")) if isinstance(window, dict) else _moment(cursor.get("since"))
    span = (now - start).total_seconds()
    if reached is None or span <= 0:
        return 0.0 if reached is None else 1.0
    return round(max(0.0, min(1.0, (reached - start).total_seconds() / span)), 4)


@dataclass(frozen=True)
class SyncProgress:
    """What the store's sync has covered so far (the backfill on connect, then the live edge)."""

    platform: str
    store: str
    start: datetime  # where the history starts (the platform's limit for a store connected without one)
    now: datetime
    streams: dict[str, float] = field(default_factory=dict)  # stream → covered share of [start, now]
    synced_until: datetime | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0

    @property
    def covered(self) -> float:
        """The least-covered stream's share (the store is backfilled when every stream is)."""
        return min(self.streams.values()) if self.streams else 0.0

    @property
    def backfilled(self) -> bool:
        return self.synced_until is not None and self.covered >= 0.999

    @property
    def history_days(self) -> float:
        return round((self.now - self.start).total_seconds() / 86400, 2)


def sync_progress(db: SyncDB, platform: str, store: str, now: datetime) -> SyncProgress | None:
    """The store's per-stream progress, or None if it is not registered for syncing."""
    record = db.store(platform, store)
    if record is None:
        return None
    now = now.astimezone(UTC)
    health = db.health(platform, store)
    streams = {name: stream_covered(cursor, record.start, now) for name, cursor in db.cursors(platform, store).items()}
    return SyncProgress(platform, store, record.start, now, streams, health.synced_until, health.last_success,
                        health.last_attempt, health.last_error, health.consecutive_failures)


__all__ = ["SyncProgress", "stream_covered", "sync_progress"]
