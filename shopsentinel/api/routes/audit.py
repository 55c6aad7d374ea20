"""The audit log: every change, who made it and when (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from shopsentinel.api.deps import Admin, DbSession
from shopsentinel.api.schemas import AuditPublic
from shopsentinel.store.repository import list_audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=list[AuditPublic])
def audit_log(session: DbSession, _admin: Admin, limit: int = Query(default=200, ge=1, le=5000)) -> list[AuditPublic]:
    return [AuditPublic(id=r.id, ts=r.ts, actor=r.actor, action=r.action, target=r.target, detail=r.detail) for r in list_audit(session, limit)]
