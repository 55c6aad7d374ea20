"""Stores: registered automatically by ingest; name, time zone and currency are editable."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from shopsentinel.api.deps import DbSession, Editor, Now, Reader, ServiceDep
from shopsentinel.api.schemas import StoreList, StorePublic, StoreUpdate
from shopsentinel.store.repository import audit, get_store, list_stores
from shopsentinel.store.state import StoreRow

router = APIRouter(prefix="/api/v1/stores", tags=["stores"])


def _public(row: StoreRow) -> StorePublic:
    return StorePublic(platform=row.platform, store=row.store, name=row.name, timezone=row.timezone,
                       currency=row.currency, first_point_at=row.first_point_at, last_point_at=row.last_point_at)


@router.get("", response_model=StoreList)
def stores(session: DbSession, _reader: Reader) -> StoreList:
    return StoreList(items=[_public(r) for r in list_stores(session)])


@router.get("/{platform}/{store}", response_model=StorePublic)
def store_detail(platform: str, store: str, session: DbSession, _reader: Reader) -> StorePublic:
    row = get_store(session, platform, store)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no store {platform}/{store}")
    return _public(row)


@router.patch("/{platform}/{store}", response_model=StorePublic)
def update_store(platform: str, store: str, body: StoreUpdate, service: ServiceDep, session: DbSession,
                 principal: Editor, now: Now) -> StorePublic:
    row = get_store(session, platform, store)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no store {platform}/{store}")
    changes = body.model_dump(exclude_none=True)
    for name, value in changes.items():
        setattr(row, name, value)
    audit(session, principal.user, "store.update", f"{platform}/{store}", now, **changes)
    session.commit()
    service.scheduler.enqueue([(platform, store)])
    return _public(row)
