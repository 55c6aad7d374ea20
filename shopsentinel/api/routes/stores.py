"""Stores: registered automatically by ingest; name, time zone and currency are editable."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status

from shopsentinel.api.deps import DbSession, Editor, Now, Reader, ServiceDep
from shopsentinel.api.schemas import RuleLearningPublic, StoreLearning, StoreList, StorePublic, StoreUpdate
from shopsentinel.detect.learning import LearningState, store_learning
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


@router.get("/{platform}/{store}/learning", response_model=StoreLearning)
def store_learning_state(platform: str, store: str, service: ServiceDep, session: DbSession, _reader: Reader,
                         now: Now) -> StoreLearning:
    """Each alerting rule's learning state for the store, from its first point to now (学习期)."""
    row = get_store(session, platform, store)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no store {platform}/{store}")
    history = 0.0
    if row.first_point_at is not None:
        first = row.first_point_at if row.first_point_at.tzinfo else row.first_point_at.replace(tzinfo=UTC)
        history = max(0.0, (_utc(now) - first).total_seconds() / 3600.0)
    states = store_learning([r for r in service.rules.current().enabled() if r.mode == "alert"], history)
    order = {"learning": 0, "partial": 1, "ready": 2}
    least = min(states, key=lambda s: (order[s.state], -s.days_left)) if states else None
    days_left = max((s.days_left for s in states if s.state != "ready"), default=0)
    state: LearningState
    if least is None or least.state == "ready":
        state, message, message_en = "ready", "全部规则已就绪", "All rules ready"
    elif least.state == "learning":
        state = "learning"
        message = f"学习期：还需 {least.days_left} 天数据"
        message_en = f"Learning: {least.days_left} more day{'s' if least.days_left != 1 else ''} of data needed"
    else:
        state = "partial"
        message = f"历史较短，判断从宽：还需 {days_left} 天数据达到完整精度"
        message_en = f"Short history, wide bands: {days_left} more day{'s' if days_left != 1 else ''} to full precision"
    return StoreLearning(
        platform=platform, store=store, history_days=round(history / 24.0, 2), state=state, days_left=days_left,
        message=message, message_en=message_en,
        rules=[RuleLearningPublic(rule=s.rule, state=s.state, days_left=s.days_left,
                                  starts_after_days=s.starts_after_days, ready_after_days=s.ready_after_days,
                                  message=s.message, message_en=s.message_en) for s in states],
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
