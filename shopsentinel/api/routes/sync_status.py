"""A store's platform sync: backfill progress per stream and sync health (GET only).

``GET /api/v1/stores/{platform}/{store}/sync`` answers what the store's connection has covered:
the history start (for a store connected without one, as far back as the platform allows), per
stream the covered share of ``[start, now]`` read from the persisted cursors, and the last
success, attempt and error. 404 when the store is not registered for syncing (or syncing is off:
``SHOPSENTINEL_SYNC_DB`` unset); 503 + Retry-After while a sync holds the sync database.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from shopsentinel.api.deps import Now, Reader, ServiceDep, sync_database
from shopsentinel.ingest.sync_progress import sync_progress

router = APIRouter(prefix="/api/v1/stores", tags=["stores"])


class StreamProgress(BaseModel):
    stream: str
    covered: float  # share of [start, now] read, 0 … 1
    percent: int


class SyncStatus(BaseModel):
    platform: str
    store: str
    start: datetime
    history_days: float
    covered: float  # the least-covered stream
    percent: int
    backfilled: bool
    streams: list[StreamProgress]
    synced_until: datetime | None
    last_success: datetime | None
    last_attempt: datetime | None
    last_error: str | None
    consecutive_failures: int
    message: str
    message_en: str


@router.get("/{platform}/{store}/sync", response_model=SyncStatus)
def store_sync_status(platform: str, store: str, service: ServiceDep, _reader: Reader, now: Now) -> SyncStatus:
    """The store's backfill progress per stream and its sync health."""
    with sync_database(service) as db:
        progress = sync_progress(db, platform, store, now)
    if progress is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"店铺未接入同步 / no synced store {platform}/{store}")
    percent = int(progress.covered * 100)
    if progress.backfilled:
        message, message_en = "历史回补完成", "History backfilled"
    elif progress.last_error:
        message, message_en = f"同步失败：{progress.last_error}", f"Sync failed: {progress.last_error}"
    else:
        message = f"历史回补中：{percent}%（共 {progress.history_days:g} 天）"
        message_en = f"Backfilling history: {percent}% (of {progress.history_days:g} days)"
    return SyncStatus(
        platform=platform, store=store, start=progress.start, history_days=progress.history_days,
        covered=progress.covered, percent=percent, backfilled=progress.backfilled,
        streams=[StreamProgress(stream=name, covered=share, percent=int(share * 100))
                 for name, share in sorted(progress.streams.items())],
        synced_until=progress.synced_until, last_success=progress.last_success, last_attempt=progress.last_attempt,
        last_error=progress.last_error, consecutive_failures=progress.consecutive_failures,
        message=message, message_en=message_en,
    )
