"""Overview, alert list (filters, sorting, paging, bulk actions), alert detail and incidents,
plus the small JSON endpoint the overview and the list poll for new alerts."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopsentinel.alerting import repository as alerts
from shopsentinel.alerting.silences import Matcher
from shopsentinel.store.repository import audit, calendar_events, get_store
from shopsentinel.store.state import AlertRow, CommentRow, IncidentRow
from shopsentinel.store.users import list_users
from shopsentinel.web import queries
from shopsentinel.web.charts import Line, bar_chart, line_chart
from shopsentinel.web.core import (
    Csrf,
    EditorUser,
    Viewer,
    Web,
    local_time,
    redirect,
    render,
    safe_path,
    seller_backend,
    view_zone,
)
from shopsentinel.web.i18n import translate
from shopsentinel.web.series import detail_series

router = APIRouter(include_in_schema=False)
OVERVIEW_CARDS = 60  # store lights drawn on the overview (worst first); the stores page lists every store


def _alert(session: Session, alert_id: str) -> AlertRow:
    row = alerts.get_alert(session, alert_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return row


@router.get("/")
def overview(request: Request, user: Viewer, web: Web) -> Response:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        data = queries.overview(session, now)
        recent = queries.recent_alerts(session, now, None, limit=10)
    chart = bar_chart(data.days, [(s, data.daily[s]) for s in queries.SEVERITIES], title="alerts per day", chart_id="daily-chart")
    return render(request, "overview.html", data=data, recent=recent, chart=chart, now=now, cards=OVERVIEW_CARDS)


@router.get("/poll")
def poll(request: Request, user: Viewer, web: Web, since: str = "") -> JSONResponse:
    """What changed since the page was drawn: firing counts and the newest alerts (created after ``since``)."""
    after = None
    if since:
        try:
            after = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since: an ISO-8601 time") from None
    with web.service.sessions() as session:
        counts = dict(session.execute(select(AlertRow.severity, func.count()).where(AlertRow.state == "firing")
                                      .group_by(AlertRow.severity)).all())
        fresh = queries.recent_alerts(session, web.service.clock.now(), after, limit=20)
        latest = fresh[0].created_at if fresh else after
    return JSONResponse({
        "firing": {s: int(counts.get(s, 0)) for s in queries.SEVERITIES},
        "new": [{"id": a.id, "severity": a.severity, "platform": a.platform, "store": a.store, "rule": a.rule,
                 "message": a.message_en if user.lang == "en" and a.message_en else a.message,
                 "starts_at": local_time(a.starts_at, zone=view_zone(request)), "state": a.state,
                 "labels": {"severity": translate(user.lang, f"sev.{a.severity}"),
                            "platform": translate(user.lang, f"platform.{a.platform}"),
                            "state": translate(user.lang, f"state.{a.state}")}}
                for a in fresh if after is not None],
        "cursor": f"{latest:%Y-%m-%dT%H:%M:%S.%fZ}" if latest else "",
    }, headers={"Cache-Control": "no-store"})


def _filter(request: Request) -> queries.AlertFilter:
    q = request.query_params
    try:
        page = max(1, int(q.get("page", "1")))
        per_page = min(200, max(10, int(q.get("per_page", "50"))))
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "page and per_page are numbers") from None
    sort = q.get("sort", "starts_at")
    return queries.AlertFilter(
        state=q.get("state", "") if q.get("state") in ("firing", "resolved") else "",
        platform=q.get("platform", ""), store=q.get("store", ""),
        severity=q.get("severity", "") if q.get("severity") in queries.SEVERITIES else "",
        kind=q.get("kind", "") if q.get("kind") in ("business", "data", "external") else "",
        text=q.get("q", "")[:100], sort=sort if sort in queries.SORTS else "starts_at",
        desc=q.get("dir", "desc") != "asc", page=page, per_page=per_page)


@router.get("/alerts")
def alert_list(request: Request, user: Viewer, web: Web) -> Response:
    f = _filter(request)
    with web.service.sessions() as session:
        rows, total = queries.alert_page(session, f)
        options = queries.filter_options(session)
    pages = max(1, (total + f.per_page - 1) // f.per_page)
    latest = max((r.created_at for r in rows), default=None)
    default_view = f == queries.AlertFilter(per_page=f.per_page)  # newest first, no filter: new rows can go on top
    return render(request, "alerts.html", rows=rows, total=total, f=f, pages=pages, options=options, live_insert=default_view,
                  severities=queries.SEVERITIES, qs=lambda **kw: urlencode(f.params(**kw)),
                  cursor=f"{latest:%Y-%m-%dT%H:%M:%S.%fZ}" if latest else "", now=web.service.clock.now())


@router.post("/alerts/bulk")
def bulk(request: Request, user: EditorUser, _csrf: Csrf, web: Web, action: Annotated[str, Form()],
         ids: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI reads the default, never mutates it
         hours: Annotated[int, Form(ge=1, le=24 * 30)] = 4, back: Annotated[str, Form()] = "/alerts") -> Response:
    if action not in ("ack", "silence"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "action: ack or silence")
    now = web.service.clock.now()
    with web.service.sessions() as session:
        rows = [r for r in (alerts.get_alert(session, i) for i in ids[:500]) if r is not None]
        for row in rows:
            if action == "ack" and row.acked_at is None:
                alerts.acknowledge(session, row, user.username, now)
                audit(session, user.username, "alert.ack", row.id, now, via="web.bulk")
        if action == "silence" and rows:
            for (platform, store, rule) in sorted({(r.platform, r.store, r.rule) for r in rows}):
                matchers = [Matcher(name="platform", value=platform), Matcher(name="store", value=store),
                            Matcher(name="rule", value=rule)]
                silence = alerts.add_silence(session, [m.model_dump() for m in matchers], now, now + timedelta(hours=hours),
                                             "bulk silence from the alert list", user.username, now)
                audit(session, user.username, "silence.create", str(silence.id), now, matchers=silence.matchers)
        session.commit()
    return redirect(request, safe_path(back, "/alerts"))


@dataclass(frozen=True)
class SimilarView:
    alert: AlertRow
    comments: list[CommentRow]
    cause: str = ""
    fix: str = ""
    reasons: tuple[str, ...] = ()


def _similar(session: Session, row: AlertRow) -> list[SimilarView]:
    """Resolved past alerts like this one: ranked by the knowledge base (``shopsentinel.insight.kb``,
    with the cause and fix recorded at resolution) when it is there, else same rule + store, then
    same rule + metric; each with its comments."""
    try:
        kb: Any = importlib.import_module("shopsentinel.insight.kb")
        found = kb.similar_alerts(session, row.id, 20)
    except Exception:  # noqa: BLE001 - no (or an unmigrated) knowledge base: fall back to our own query
        session.rollback()
        found = None
    if found is None:
        return [SimilarView(a, c) for a, c in queries.similar_alerts(session, row)]
    rows = {a.id: a for a in session.scalars(select(AlertRow).where(AlertRow.id.in_([f.alert_id for f in found]))).all()}
    picked = [f for f in found if f.alert_id in rows and rows[f.alert_id].state == "resolved"][:5]
    comments = queries.comments_of(session, [f.alert_id for f in picked])
    return [SimilarView(rows[f.alert_id], comments.get(f.alert_id, []), f.cause, f.fix, tuple(f.reasons)) for f in picked]


@router.get("/alerts/{alert_id}")
def alert_detail(alert_id: str, request: Request, user: Viewer, web: Web) -> Response:
    service = web.service
    now = service.clock.now()
    with service.sessions() as session:
        row = _alert(session, alert_id)
        store = get_store(session, row.platform, row.store)
        series = None
        if store is not None:
            series = detail_series(row, store, service.points, calendar_events(session), service.catalog,
                                   service.rules.current(), now, service.settings.eval_window_days)
        members = queries.incident_members(session, row.incident, row.platform, row.store)
        rca = queries.rca_note(session, row)
        entries = queries.timeline(session, row.id)
        similar = _similar(session, row)
        people = [u.username for u in list_users(session) if u.active]
        session.expunge_all()
    main = related = None
    if series is not None and series.times:
        zone = view_zone(request)
        labels = [(i, local_time(ts, "%m-%d %H", zone)) for i, ts in enumerate(series.times) if i % max(1, len(series.times) // 6) == 0]
        main = line_chart([Line("lastweek", series.last_week, "lastweek", "last week"),
                           Line("expected", series.expected, "expected", "expected"),
                           Line("value", series.value, "value", row.metric)],
                          lower=series.lower, upper=series.upper, window=series.window, x_labels=labels,
                          title=f"{row.metric} trend", chart_id="trend-chart")
        related = {m: line_chart([Line(m, v, "related", m)], window=series.window, x_labels=labels, height=110,
                                 title=m, chart_id=f"related-{m}") for m, v in series.related.items()}
    metric = service.catalog.get(row.metric) if row.metric in service.catalog else None
    return render(request, "alert.html", a=row, main=main, related=related or {}, members=members, timeline=entries,
                  similar=similar, backend=seller_backend(row.platform, row.store), metric=metric, people=people, rca=rca,
                  catalog=service.catalog)


def _act(request: Request, web: Web, alert_id: str, action: str, actor: str, **detail: str) -> Response:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        row = _alert(session, alert_id)
        if action == "ack":
            alerts.acknowledge(session, row, actor, now)
        elif action == "assign":
            alerts.assign(session, row, detail["assignee"], actor, now)
        elif action == "resolve":
            if not alerts.resolve_by_hand(session, row, actor, now, detail.get("note", "")):
                raise HTTPException(status.HTTP_409_CONFLICT, "alert is already resolved")
        elif action == "comment":
            alerts.add_comment(session, row, actor, detail["body"], now)
        elif action == "feedback":
            alerts.add_feedback(session, row, actor, detail["verdict"], detail.get("note", ""), now)
        audit(session, actor, f"alert.{action}", row.id, now, via="web", **detail)
        session.commit()
    return redirect(request, f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id}/ack")
def ack(alert_id: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    return _act(request, web, alert_id, "ack", user.username)


@router.post("/alerts/{alert_id}/assign")
def assign(alert_id: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web,
           assignee: Annotated[str, Form(min_length=1, max_length=200)]) -> Response:
    return _act(request, web, alert_id, "assign", user.username, assignee=assignee)


@router.post("/alerts/{alert_id}/resolve")
def resolve(alert_id: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web,
            note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _act(request, web, alert_id, "resolve", user.username, note=note)


@router.post("/alerts/{alert_id}/comment")
def comment(alert_id: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web,
            body: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    return _act(request, web, alert_id, "comment", user.username, body=body)


@router.post("/alerts/{alert_id}/feedback")
def feedback(alert_id: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web,
             verdict: Annotated[str, Form(pattern="^(valid|false_alarm|expected)$")]) -> Response:
    return _act(request, web, alert_id, "feedback", user.username, verdict=verdict)


@router.get("/incidents")
def incident_list(request: Request, user: Viewer, web: Web, store: Annotated[str, Query(max_length=200)] = "") -> Response:
    with web.service.sessions() as session:
        items = alerts.list_incidents(session, store=store or None, limit=200)
        items = [(i, sorted(m, key=lambda a: (a.root_rank, a.starts_at))) for i, m in items]
        session.expunge_all()
    return render(request, "incidents.html", items=items, store=store)


@router.get("/incidents/{incident_id}")
def incident_detail(incident_id: str, request: Request, user: Viewer, web: Web) -> Response:
    with web.service.sessions() as session:
        incident = session.get(IncidentRow, incident_id)
        if incident is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}")
        members = queries.incident_members(session, incident_id, incident.platform, incident.store)
        session.expunge_all()
    return render(request, "incident.html", incident=incident, members=members,
                  backend=seller_backend(incident.platform, incident.store))
