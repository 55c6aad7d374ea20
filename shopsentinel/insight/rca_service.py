"""RCA against the live service's state: load an alert's incident and the points it needs, analyse,
and remember the one-line result so notifications can print it.

Notification rendering must not touch the database, so the notes are kept in a small in-process
cache (filled when the note is computed or read) that :mod:`shopsentinel.notify.templates` asks
through its ``ROOT_CAUSE_NOTES`` hook.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.insight.rca import (
    BASELINE_WEEKS,
    MAX_WINDOW,
    WEEK,
    RcaResult,
    Target,
    analyze,
    incident_target,
)
from shopsentinel.notify.base import Language
from shopsentinel.store.points import PointStore
from shopsentinel.store.response_state import RcaNoteRow
from shopsentinel.store.state import AlertRow, IncidentRow, PointRow, StoreRow

LINKED_STORES = 5


class NoteCache:
    """alert id → (zh, en) one-liners, least recently used dropped past ``size``."""

    def __init__(self, size: int = 20_000) -> None:
        self._notes: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, alert_id: str, zh: str, en: str) -> None:
        with self._lock:
            self._notes[alert_id] = (zh, en)
            self._notes.move_to_end(alert_id)
            while len(self._notes) > self._size:
                self._notes.popitem(last=False)

    def get(self, alert_id: str, lang: Language) -> str | None:
        with self._lock:
            found = self._notes.get(alert_id)
        if found is None:
            return None
        return found[0] if lang == "zh" else found[1]


NOTES = NoteCache()


def incident_alerts(session: Session, alert: AlertRow) -> list[AlertRow]:
    if not alert.incident:
        return [alert]
    rows = list(session.scalars(select(AlertRow).where(AlertRow.incident == alert.incident)).all())
    return rows or [alert]


def _linked_stores(session: Session, target: Target) -> list[tuple[str, str]]:
    """Other stores to check: those selling the same SKU, else the same shop name on other platforms."""
    if target.sku:
        query = (select(PointRow.platform, PointRow.store).where(PointRow.sku == target.sku, PointRow.metric == "units_sold")
                 .distinct().limit(LINKED_STORES + 1))
        pairs = [(p, s) for p, s in session.execute(query).all()]
    else:
        name = session.scalar(select(StoreRow.name).where(StoreRow.platform == target.platform, StoreRow.store == target.store))
        pairs = [(p, s) for p, s in session.execute(
            select(StoreRow.platform, StoreRow.store).where(StoreRow.name == name).limit(LINKED_STORES + 1)).all()] if name else []
    return [p for p in pairs if p != (target.platform, target.store)][:LINKED_STORES]


def analyze_alerts(session: Session, points: PointStore, alerts: list[AlertRow], now: datetime) -> RcaResult:
    target = incident_target(alerts, now)
    lo = target.start - BASELINE_WEEKS * WEEK - timedelta(hours=1)
    hi = min(max(target.end, target.start + timedelta(hours=1)), target.start + MAX_WINDOW) + timedelta(hours=1)
    frame = points.frame(target.platform, target.store, lo, hi)
    linked = [points.frame(p, s, lo, hi) for p, s in _linked_stores(session, target)]
    return analyze(frame, target, linked_frames=linked)


def alert_rca(session: Session, points: PointStore, alert: AlertRow, now: datetime) -> RcaResult:
    """RCA of the incident the alert belongs to (the alert alone when it has none)."""
    return analyze_alerts(session, points, incident_alerts(session, alert), now)


def incident_rca(session: Session, points: PointStore, incident_id: str, now: datetime) -> RcaResult | None:
    incident = session.get(IncidentRow, incident_id)
    if incident is None:
        return None
    rows = list(session.scalars(select(AlertRow).where(AlertRow.incident == incident_id)).all())
    return analyze_alerts(session, points, rows, now) if rows else None


def note_rca(session: Session, points: PointStore, alert: AlertRow, now: datetime) -> RcaNoteRow:
    """Compute (once) and store the alert's one-line RCA; cache it for notification templates."""
    row = session.get(RcaNoteRow, alert.id)
    if row is None:
        result = alert_rca(session, points, alert, now)
        row = RcaNoteRow(alert_id=alert.id, incident=alert.incident, text_zh=result.text_zh, text_en=result.text_en,
                         cause=result.cause, result=result.as_dict(), computed_at=now)
        session.add(row)
        session.flush()
    NOTES.put(alert.id, row.text_zh, row.text_en)
    return row


def alerts_without_note(session: Session, since: datetime, limit: int = 200) -> list[AlertRow]:
    """Firing business alerts that began after ``since`` and have no RCA note yet (newest first)."""
    noted = select(RcaNoteRow.alert_id)
    query = (select(AlertRow).where(AlertRow.state == "firing", AlertRow.kind == "business", AlertRow.starts_at >= since,
                                    AlertRow.id.not_in(noted))
             .order_by(AlertRow.starts_at.desc()).limit(limit))
    return list(session.scalars(query).all())


__all__ = ["NOTES", "NoteCache", "alert_rca", "alerts_without_note", "analyze_alerts", "incident_rca", "note_rca"]
