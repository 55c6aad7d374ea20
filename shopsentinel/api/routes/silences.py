"""Silences: matchers (equality or regex) with an expiry. They mute notifications only."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from shopsentinel.alerting import repository as repo
from shopsentinel.alerting.silences import Matcher
from shopsentinel.api.deps import DbSession, Editor, Now, Reader, RowId
from shopsentinel.api.schemas import SilenceCreate, SilenceList, SilencePublic
from shopsentinel.store.repository import audit
from shopsentinel.store.state import SilenceRow

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])


def _public(row: SilenceRow, now_active: bool) -> SilencePublic:
    return SilencePublic(id=row.id, matchers=[Matcher.model_validate(m) for m in row.matchers], starts_at=row.starts_at,
                         ends_at=row.ends_at, comment=row.comment, created_by=row.created_by, active=now_active)


@router.get("", response_model=SilenceList)
def list_silences(session: DbSession, _reader: Reader, now: Now, active: bool = False) -> SilenceList:
    rows = repo.list_silences(session, active_at=now if active else None)
    return SilenceList(items=[_public(r, r.starts_at <= now < r.ends_at) for r in rows])


@router.post("", response_model=SilencePublic, status_code=status.HTTP_201_CREATED)
def create_silence(body: SilenceCreate, session: DbSession, principal: Editor, now: Now) -> SilencePublic:
    starts = body.starts_at or now
    if body.ends_at <= starts:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "ends_at must be in the future")
    row = repo.add_silence(session, [m.model_dump() for m in body.matchers], starts, body.ends_at, body.comment, principal.user, now)
    audit(session, principal.user, "silence.create", str(row.id), now, matchers=row.matchers)
    session.commit()
    return _public(row, starts <= now < body.ends_at)


@router.get("/{silence_id}", response_model=SilencePublic)
def get_silence(silence_id: RowId, session: DbSession, _reader: Reader, now: Now) -> SilencePublic:
    row = repo.get_silence(session, silence_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no silence {silence_id}")
    return _public(row, row.starts_at <= now < row.ends_at)


@router.delete("/{silence_id}", response_model=SilencePublic)
def expire_silence(silence_id: RowId, session: DbSession, principal: Editor, now: Now) -> SilencePublic:
    row = repo.get_silence(session, silence_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no silence {silence_id}")
    repo.expire_silence(session, row, now)
    audit(session, principal.user, "silence.expire", str(row.id), now)
    session.commit()
    return _public(row, False)
