"""The SQL behind the alert-center pages: aggregates for the overview (GROUP BY, never a Python
loop over all alerts), the filtered and paged alert list, an alert's timeline and similar alerts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from shopsentinel.store.state import (
    AlertEventRow,
    AlertRow,
    CommentRow,
    FeedbackRow,
    NotificationAttemptRow,
    OutboxRow,
    StoreRow,
)

SEVERITIES = ("fatal", "critical", "warning", "info")
RECENT_LOOKBACK = timedelta(days=14)
SIMILAR_LOOKBACK = timedelta(days=180)
SORTS = {
    "starts_at": AlertRow.starts_at,
    "severity": case({s: i for i, s in enumerate(SEVERITIES)}, value=AlertRow.severity, else_=9),
    "store": AlertRow.store,
    "rule": AlertRow.rule,
    "updated_at": AlertRow.updated_at,
}


@dataclass
class StoreHealth:
    platform: str
    store: str
    name: str
    light: str  # red | yellow | green
    firing: dict[str, int]
    data_alerts: int
    last_point_at: datetime | None
    lag_hours: float | None


@dataclass
class Overview:
    firing_total: int
    by_severity: dict[str, int]
    by_platform: dict[str, dict[str, int]]
    stores: list[StoreHealth]
    days: list[str]
    daily: dict[str, list[int]]  # severity → count per day
    latest_id: str | None
    acked: int = 0

    def lights(self) -> dict[str, int]:
        counts = {"red": 0, "yellow": 0, "green": 0}
        for store in self.stores:
            counts[store.light] += 1
        return counts
    extra: dict[str, Any] = field(default_factory=dict)


def overview(session: Session, now: datetime, days: int = 14) -> Overview:
    firing = (select(AlertRow.platform, AlertRow.store, AlertRow.severity, AlertRow.kind, func.count(), func.count(AlertRow.acked_at))
              .where(AlertRow.state == "firing").group_by(AlertRow.platform, AlertRow.store, AlertRow.severity, AlertRow.kind))
    acked = 0
    by_store: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(SEVERITIES, 0))
    data_alerts: dict[tuple[str, str], int] = defaultdict(int)
    by_platform: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SEVERITIES, 0))
    by_severity = dict.fromkeys(SEVERITIES, 0)
    for platform, store, severity, kind, n, n_acked in session.execute(firing).all():
        acked += n_acked
        by_store[(platform, store)][severity] = by_store[(platform, store)].get(severity, 0) + n
        by_platform[platform][severity] = by_platform[platform].get(severity, 0) + n
        by_severity[severity] = by_severity.get(severity, 0) + n
        if kind == "data":
            data_alerts[(platform, store)] += n
    stores = []
    for row in session.execute(select(StoreRow.platform, StoreRow.store, StoreRow.name, StoreRow.last_point_at)
                               .order_by(StoreRow.platform, StoreRow.store)).all():
        counts = by_store.get((row.platform, row.store), dict.fromkeys(SEVERITIES, 0))
        light = "red" if counts["fatal"] or counts["critical"] else "yellow" if counts["warning"] else "green"
        lag = (now - row.last_point_at).total_seconds() / 3600 if row.last_point_at else None
        stores.append(StoreHealth(row.platform, row.store, row.name, light, counts, data_alerts.get((row.platform, row.store), 0),
                                  row.last_point_at, lag))
    stores.sort(key=lambda s: ({"red": 0, "yellow": 1, "green": 2}[s.light], -s.firing["fatal"] - s.firing["critical"],
                               -sum(s.firing.values()), s.platform, s.store))
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    edges = [start + timedelta(days=d + 1) for d in range(days)]
    bucket = case(*[(AlertRow.starts_at < e, i) for i, e in enumerate(edges)], else_=days)
    daily = {s: [0] * days for s in SEVERITIES}
    query = (select(bucket, AlertRow.severity, func.count()).where(AlertRow.starts_at >= start)
             .group_by(bucket, AlertRow.severity))
    for i, severity, n in session.execute(query).all():
        if 0 <= i < days and severity in daily:
            daily[severity][i] = n
    return Overview(sum(by_severity.values()), by_severity, dict(sorted(by_platform.items())), stores,
                    [f"{start + timedelta(days=d):%m-%d}" for d in range(days)], daily, None, acked)


@dataclass(frozen=True)
class AlertFilter:
    state: str = ""
    platform: str = ""
    store: str = ""
    severity: str = ""
    kind: str = ""
    text: str = ""
    sort: str = "starts_at"
    desc: bool = True
    page: int = 1
    per_page: int = 50

    def query(self) -> Select[Any]:
        query = select(AlertRow)
        for column, value in ((AlertRow.state, self.state), (AlertRow.platform, self.platform),
                              (AlertRow.store, self.store), (AlertRow.severity, self.severity), (AlertRow.kind, self.kind)):
            if value:
                query = query.where(column == value)
        if self.text:
            like = f"%{self.text.replace('%', '').replace('_', '')}%"
            query = query.where(or_(AlertRow.message.ilike(like), AlertRow.message_en.ilike(like), AlertRow.rule.ilike(like),
                                    AlertRow.metric.ilike(like), AlertRow.store.ilike(like)))
        return query

    def params(self, **override: Any) -> dict[str, Any]:
        values = {"state": self.state, "platform": self.platform, "store": self.store, "severity": self.severity,
                  "kind": self.kind, "q": self.text, "sort": self.sort, "dir": "desc" if self.desc else "asc",
                  "page": self.page}
        values.update(override)
        return {k: v for k, v in values.items() if v not in ("", None)}


def alert_page(session: Session, f: AlertFilter) -> tuple[list[AlertRow], int]:
    base = f.query()
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    order = SORTS.get(f.sort, AlertRow.starts_at)
    rows = session.scalars(base.order_by(order.desc() if f.desc else order.asc(), AlertRow.id)
                           .offset((f.page - 1) * f.per_page).limit(f.per_page)).all()
    return list(rows), int(total)


def filter_options(session: Session) -> dict[str, list[str]]:
    stores = session.execute(select(StoreRow.platform, StoreRow.store).order_by(StoreRow.platform, StoreRow.store)).all()
    return {"platforms": sorted({p for p, _ in stores}), "stores": sorted({s for _, s in stores})}


def recent_alerts(session: Session, now: datetime, since: datetime | None, limit: int = 20,
                  lookback: timedelta = RECENT_LOOKBACK) -> list[AlertRow]:
    """The newest alerts by creation, among those starting within ``lookback`` of now (the index on
    ``starts_at`` keeps this independent of how many alerts are stored; an alert's episode never starts
    much earlier than it is created — the late-data margin — so nothing new is missed)."""
    query = (select(AlertRow).where(AlertRow.starts_at >= now - lookback)
             .order_by(AlertRow.created_at.desc(), AlertRow.id).limit(limit))
    if since is not None:
        query = query.where(AlertRow.created_at > since)
    return list(session.scalars(query).all())


@dataclass(frozen=True)
class TimelineEntry:
    ts: datetime
    kind: str  # event | notification | comment | feedback
    what: str
    actor: str
    detail: str


def timeline(session: Session, alert_id: str) -> list[TimelineEntry]:
    entries = [TimelineEntry(e.ts, "event", e.event, e.actor, e.detail)
               for e in session.scalars(select(AlertEventRow).where(AlertEventRow.alert_id == alert_id)).all()]
    entries += [TimelineEntry(c.created_at, "comment", "comment", c.author, c.body)
                for c in session.scalars(select(CommentRow).where(CommentRow.alert_id == alert_id)).all()]
    entries += [TimelineEntry(f.created_at, "feedback", f.verdict, f.author, f.note)
                for f in session.scalars(select(FeedbackRow).where(FeedbackRow.alert_id == alert_id)).all()]
    outbox = session.execute(select(OutboxRow.id, OutboxRow.created_at, OutboxRow.status, OutboxRow.channel, OutboxRow.muted,
                                    OutboxRow.payload).where(OutboxRow.alert_id == alert_id)).all()
    ids = [o.id for o in outbox]
    for o in outbox:
        state = str((o.payload or {}).get("state", ""))
        entries.append(TimelineEntry(o.created_at, "notification", f"{state} {'muted' if o.muted else o.status}".strip(),
                                     o.channel or "in-app", ""))
    if ids:
        for a in session.scalars(select(NotificationAttemptRow).where(NotificationAttemptRow.outbox_id.in_(ids))).all():
            entries.append(TimelineEntry(a.ts, "notification", a.outcome, a.channel, a.error))
    return sorted(entries, key=lambda e: e.ts)


def similar_alerts(session: Session, row: AlertRow, limit: int = 5) -> list[tuple[AlertRow, list[CommentRow]]]:
    """Resolved alerts of the same rule on the same store, or of the same rule on the same metric, newest first."""
    # same store first: the (state, platform, store) index finds them without scanning other stores
    same_store = (select(AlertRow).where(AlertRow.state == "resolved", AlertRow.platform == row.platform,
                                         AlertRow.store == row.store, AlertRow.rule == row.rule, AlertRow.id != row.id)
                  .order_by(AlertRow.starts_at.desc()).limit(limit))
    found = list(session.scalars(same_store).all())
    if len(found) < limit:  # then the same rule on the same metric elsewhere, newest first along the starts_at index
        elsewhere = (select(AlertRow).where(AlertRow.starts_at >= row.starts_at - SIMILAR_LOOKBACK,
                                            AlertRow.state == "resolved", AlertRow.rule == row.rule,
                                            AlertRow.metric == row.metric, AlertRow.store != row.store)
                     .order_by(AlertRow.starts_at.desc()).limit(limit - len(found)))
        found += session.scalars(elsewhere).all()
    comments = comments_of(session, [a.id for a in found])
    return [(a, comments.get(a.id, [])) for a in found]


def comments_of(session: Session, alert_ids: list[str]) -> dict[str, list[CommentRow]]:
    comments: dict[str, list[CommentRow]] = defaultdict(list)
    if alert_ids:
        for c in session.scalars(select(CommentRow).where(CommentRow.alert_id.in_(alert_ids)).order_by(CommentRow.id)).all():
            comments[c.alert_id].append(c)
    return dict(comments)


def incident_members(session: Session, incident: str, platform: str, store: str) -> list[AlertRow]:
    """An incident's alerts (all of one store), root cause first; found through the store index."""
    if not incident:
        return []
    rows = session.scalars(select(AlertRow).where(AlertRow.state.in_(("firing", "resolved")), AlertRow.platform == platform,
                                                  AlertRow.store == store, AlertRow.incident == incident)).all()
    return sorted(rows, key=lambda a: (a.root_rank, a.starts_at, a.id))


__all__ = ["AlertFilter", "Overview", "StoreHealth", "TimelineEntry", "alert_page", "comments_of", "filter_options", "incident_members",
           "overview", "recent_alerts", "similar_alerts", "timeline"]


def rca_note(session: Session, row: AlertRow) -> tuple[str, str] | None:
    """The response loop's one-line root cause (zh, en) for this alert, or for its incident."""
    from shopsentinel.store.response_state import RcaNoteRow

    note = session.get(RcaNoteRow, row.id)
    if note is None and row.incident:
        note = session.scalars(select(RcaNoteRow).where(RcaNoteRow.incident == row.incident)
                               .order_by(RcaNoteRow.computed_at)).first()
    return (note.text_zh, note.text_en) if note is not None and (note.text_zh or note.text_en) else None

