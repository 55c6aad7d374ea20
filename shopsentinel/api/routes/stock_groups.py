"""Shared-stock groups (issue 13, "Cross-platform stock"): the SKUs that sell one pool of stock, so their
stock figures are meant to be equal — opt-in, per group, with a tolerance and a sync lag.

``库存同步失败`` compares only the members of a declared group (or each member with the group's
reference, the ERP's figure); different stock per platform is otherwise normal and never an alert.
``GET /api/v1/stock-groups`` lists them, ``PUT /api/v1/stock-groups/{name}`` declares or replaces one
(a SKU belongs to one group at most: declaring it here moves it), ``DELETE`` removes one. The groups
live in the sync database beside the stores they compare (``SHOPSENTINEL_SYNC_DB``; 404 when syncing is
off, 503 + Retry-After while a sync holds it). The CLI's ``shopsentinel stock-groups import FILE``
declares the same from a CSV.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, field_validator

from shopsentinel.api.deps import Editor, Reader, ServiceDep, sync_database
from shopsentinel.core.types import PLATFORM_NAMES_ZH
from shopsentinel.ingest.sync_state import StockGroup, StockMember
from shopsentinel.store.repository import audit

router = APIRouter(prefix="/api/v1/stock-groups", tags=["stores"])


class Member(BaseModel):
    platform: str = Field(min_length=1, max_length=64)
    store: str = Field(min_length=1, max_length=200)
    sku: str = Field(min_length=1, max_length=200)
    reference: bool = Field(default=False, description="the ERP's (or warehouse's) figure the others are compared with")

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        if value not in PLATFORM_NAMES_ZH:
            raise ValueError(f"未知平台 {value!r}（可选：{', '.join(sorted(PLATFORM_NAMES_ZH))}）/ unknown platform")
        return value


class GroupBody(BaseModel):
    members: list[Member] = Field(min_length=2, max_length=200)
    tolerance: float = Field(default=0.0, ge=0, le=1e6, description="units the figures may differ by")
    lag_hours: float = Field(default=2.0, ge=0, le=168, description="sync delay allowed before a difference counts")

    @field_validator("members")
    @classmethod
    def _distinct(cls, members: list[Member]) -> list[Member]:
        keys = [(m.platform, m.store, m.sku) for m in members]
        if len(set(keys)) != len(keys):
            raise ValueError("同一 SKU 重复出现 / a member appears twice")
        if sum(m.reference for m in members) > 1:
            raise ValueError("最多一个基准（reference）/ at most one reference member")
        return members


class GroupPublic(BaseModel):
    """A group as stored (members may since have moved to another group: one left compares nothing)."""

    name: str
    members: list[Member]
    tolerance: float
    lag_hours: float


def _public(group: StockGroup) -> GroupPublic:
    return GroupPublic(name=group.name, tolerance=group.tolerance, lag_hours=group.lag_hours,
                       members=[Member(platform=m.platform, store=m.store, sku=m.sku, reference=m.reference)
                                for m in group.members])


@router.get("", response_model=list[GroupPublic])
def list_groups(service: ServiceDep, _reader: Reader) -> list[GroupPublic]:
    with sync_database(service) as db:
        return [_public(g) for g in db.stock_groups()]


@router.put("/{name}", response_model=GroupPublic)
def put_group(name: str, body: GroupBody, service: ServiceDep, principal: Editor) -> GroupPublic:
    name = name.strip()
    if not name or len(name) > 100:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "组名需 1–100 个字符 / name: 1–100 characters")
    members = sorted((StockMember(m.platform, m.store, m.sku, m.reference) for m in body.members),
                     key=lambda m: (m.platform, m.store, m.sku))  # the order the database lists them in
    group = StockGroup(name, tuple(members), body.tolerance, body.lag_hours)
    with sync_database(service) as db:
        db.put_stock_group(group)
    with service.sessions() as session:
        audit(session, principal.user, "stock_group.put", name, service.clock.now(), members=len(group.members))
        session.commit()
    return _public(group)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_group(name: str, service: ServiceDep, principal: Editor) -> None:
    with sync_database(service) as db:
        if name not in {g.name for g in db.stock_groups()}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"没有库存组 {name} / no stock group {name}")
        db.delete_stock_group(name)
    with service.sessions() as session:
        audit(session, principal.user, "stock_group.delete", name, service.clock.now())
        session.commit()


__all__ = ["router"]
