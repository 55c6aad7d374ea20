"""The business calendar: promotions, holidays, maintenance windows (rules mute during them)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from shopsentinel.api.deps import DbSession, Editor, Now, Reader, RowId, ServiceDep
from shopsentinel.api.schemas import CalendarCreate, CalendarList, CalendarPublic
from shopsentinel.core.types import CalendarEvent
from shopsentinel.store.repository import (
    add_calendar_event,
    audit,
    delete_calendar_event,
    list_calendar,
    seed_calendar,
)

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])


@router.get("", response_model=CalendarList)
def calendar(session: DbSession, _reader: Reader) -> CalendarList:
    return CalendarList(items=[
        CalendarPublic(id=r.id, start=r.starts_at, end=r.ends_at, platform=r.platform, store=r.store, name=r.name, kind=r.kind)
        for r in list_calendar(session)
    ])


@router.post("", response_model=CalendarPublic, status_code=status.HTTP_201_CREATED)
def add_event(body: CalendarCreate, service: ServiceDep, session: DbSession, principal: Editor, now: Now) -> CalendarPublic:
    row = add_calendar_event(session, CalendarEvent(body.start, body.end, body.platform, body.store, body.name, body.kind))
    audit(session, principal.user, "calendar.add", str(row.id), now, name=body.name, kind=body.kind)
    session.commit()
    return CalendarPublic(id=row.id, start=row.starts_at, end=row.ends_at, platform=row.platform, store=row.store,
                          name=row.name, kind=row.kind)


@router.delete("/{event_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_event(event_id: RowId, session: DbSession, principal: Editor, now: Now) -> None:
    if not delete_calendar_event(session, event_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no calendar event {event_id}")
    audit(session, principal.user, "calendar.delete", str(event_id), now)
    session.commit()


class SeedIn(BaseModel):
    year: int = Field(ge=2004, le=2100)
    countries: list[str] = Field(default_factory=lambda: ["US"], max_length=20,
                                 description="ISO codes of overseas markets whose public holidays to add")


class SeedResult(BaseModel):
    added: int
    skipped: int
    names: list[str]


@router.post("/seed", response_model=SeedResult)
def seed(body: SeedIn, session: DbSession, principal: Editor, now: Now) -> SeedResult:
    """Add the year's Chinese holidays (调休 named), overseas holidays and platform festivals (双11, 618,
    双12, 年货节, Black Friday, Prime Day). Events already there (same name, start, platform, store) are
    skipped, so seeding twice adds nothing; each event can then be edited or deleted like any other."""
    try:
        added, skipped = seed_calendar(session, body.year, body.countries)
    except (NotImplementedError, KeyError) as exc:  # a country the holidays package does not know
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"未知国家或年份 / unknown country or year: {exc}") from None
    audit(session, principal.user, "calendar.seed", str(body.year), now, added=len(added), countries=",".join(body.countries))
    session.commit()
    return SeedResult(added=len(added), skipped=skipped, names=sorted(set(added)))
