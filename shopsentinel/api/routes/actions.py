"""Signed action links from messages (认领 / 查看详情 / the chart image), usable from a phone without logging in.

``GET /actions/ack?token=`` shows what the message listed and one 认领 / Acknowledge button (a chat
app's link preview fetches the URL, so the GET changes nothing); the button POSTs the same token,
which acknowledges **every alert of the message** the link came with (a group message lists many),
each audited, in the name of the person the link was issued to (the on-duty person the message
@-mentioned). A link issued to nobody in particular (a group robot with nobody on duty) asks for a
name and records that, marked as given on the link — never a hash. ``GET /actions/view?token=``
opens the alert center's page of the alert; ``GET /actions/chart?token=`` serves the PNG chart the
message carried (the same image the e-mail attached). A tampered or foreign token is 403, an
expired one 410, each with a page that says so in Chinese and English.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.alerting import repository as alerts
from shopsentinel.api.deps import DbSession, Now, ServiceDep
from shopsentinel.core.secrets import SecretKeyError
from shopsentinel.notify.charts import ChartSpec, render_png
from shopsentinel.notify.links import (
    ActionClaim,
    ActionLinkExpired,
    ActionLinkInvalid,
    LinkAction,
    link_key,
    verify_action_token,
)
from shopsentinel.runtime.service import Service
from shopsentinel.store.repository import audit
from shopsentinel.store.state import AlertRow, OutboxRow, UserRow

router = APIRouter(prefix="/actions", tags=["actions"], include_in_schema=False)

MAX_NAME = 60
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>ShopSentinel</title>
<link rel="stylesheet" href="/static/action.css"></head><body class="action">{body}</body></html>"""


def _page(body: str, code: int = status.HTTP_200_OK) -> HTMLResponse:
    return HTMLResponse(PAGE.format(body=body), status_code=code)


def _claim(service: Service, token: str, action: LinkAction, now: datetime) -> ActionClaim | Response:
    """What the token grants, or the error page (the key is the service's: never a new one). Links are
    signed with the newest key and accepted with any configured one, so a key rotation does not void the
    认领 links already sent (until the old key is removed)."""
    try:
        newest, *older = service.secret_keys()
        try:
            return verify_action_token(link_key(newest), token, now=now, expected_action=action)
        except ActionLinkInvalid:
            for key in older:  # signed before a rotation
                try:
                    return verify_action_token(link_key(key), token, now=now, expected_action=action)
                except ActionLinkInvalid:
                    continue
            raise
    except SecretKeyError:
        return _page("<h1>服务密钥不可用 / Service key unavailable</h1><p>请在预警中心处理 / Please use the alert "
                     "center.</p>", status.HTTP_503_SERVICE_UNAVAILABLE)
    except ActionLinkExpired:
        return _page("<h1>链接已过期 / Link expired</h1><p>请在预警中心处理 / Please use the alert center.</p>",
                     status.HTTP_410_GONE)
    except ActionLinkInvalid:
        return _page("<h1>链接无效 / Invalid link</h1>", status.HTTP_403_FORBIDDEN)


@router.get("/view")
def view(service: ServiceDep, token: str = Query(min_length=1, max_length=2000), *, now: Now) -> Response:
    claim = _claim(service, token, LinkAction.VIEW, now)
    return claim if isinstance(claim, Response) else RedirectResponse(f"/alerts/{claim.alert_id}", status.HTTP_303_SEE_OTHER)


def _message(session: Session, claim: ActionClaim) -> OutboxRow | None:
    if not claim.message:
        return None
    return session.scalars(select(OutboxRow).where(OutboxRow.key == claim.message)).first()


def _claimed_alerts(session: Session, claim: ActionClaim) -> list[AlertRow]:
    """Every alert the link's message listed (in its order), or the one alert the link names."""
    message = _message(session, claim)
    ids = [str(a["id"]) for a in (message.payload.get("alerts", []) if message else []) if a.get("id")]
    ids = list(dict.fromkeys(ids)) or [claim.alert_id]
    rows = {r.id: r for r in session.scalars(select(AlertRow).where(AlertRow.id.in_(ids))).all()}
    return [rows[i] for i in ids if i in rows]


def _ack_claim(service: Service, session: DbSession, token: str, now: datetime) -> tuple[ActionClaim, list[AlertRow]] | Response:
    """The 认领 token's claim and the alerts of its message, or the error page."""
    claim = _claim(service, token, LinkAction.ACK, now)
    if isinstance(claim, Response):
        return claim
    rows = _claimed_alerts(session, claim)
    if not rows:
        return _page("<h1>告警不存在 / No such alert</h1>", status.HTTP_404_NOT_FOUND)
    return claim, rows


def _person(session: Session, username: str) -> str:
    row = session.scalars(select(UserRow).where(UserRow.username == username)).first()
    return row.display_name or row.username if row is not None else username


def _started(service: Service, row: AlertRow) -> str:
    """When the alert started, in the team's local time (the display time zone, Beijing by default)."""
    zone = ZoneInfo(service.settings.display_timezone)
    start = row.starts_at if row.starts_at.tzinfo else row.starts_at.replace(tzinfo=UTC)
    local = start.astimezone(zone)
    offset = local.strftime("%z")
    name = "北京时间" if service.settings.display_timezone == "Asia/Shanghai" else service.settings.display_timezone
    return (f'<p class="started">开始于 / started <time datetime="{start.isoformat()}">{local:%Y-%m-%d %H:%M}</time>'
            f"（{escape(name)}，UTC{offset[:3]}:{offset[3:]}）</p>")


def _listing(rows: list[AlertRow]) -> str:
    items = "".join(f"<li>{escape(r.message or r.rule)}</li>" for r in rows[:10])
    more = f"<li>还有 {len(rows) - 10} 条 / {len(rows) - 10} more</li>" if len(rows) > 10 else ""
    return f"<ul>{items}{more}</ul>"


def _ack_form(claim: ActionClaim, session: Session, problem: str = "") -> str:
    if claim.user:
        who = escape(_person(session, claim.user))
        return (f'<p>认领人 / by: {who}</p><form method="post"><button type="submit">认领 / Acknowledge</button></form>')
    warn = f'<p style="color:#b71c1c">{escape(problem)}</p>' if problem else ""
    return (f'{warn}<form method="post"><label>您的姓名 / Your name<br><input name="name" required maxlength="{MAX_NAME}">'
            '</label><br><button type="submit">认领 / Acknowledge</button></form>')


@router.get("/ack")
def confirm_ack(service: ServiceDep, session: DbSession, token: str = Query(min_length=1, max_length=2000), *,
                now: Now) -> Response:
    found = _ack_claim(service, session, token, now)
    if isinstance(found, Response):
        return found
    claim, rows = found
    open_rows = [r for r in rows if not r.acked_by]
    head = (f"<h1>{escape(rows[0].message or rows[0].rule)}</h1><p>{escape(rows[0].message_en)}</p>"
            f"{_started(service, rows[0])}")
    if not open_rows:
        by = sorted({r.acked_by or "" for r in rows})
        names = escape("、".join(by))
        return _page(f"{head}<p>已由 {names} 认领 / acknowledged by {names}</p>")
    count = f"<p>认领后本消息的 {len(open_rows)} 条告警都标记为已认领 / acknowledges all {len(open_rows)} alerts of this message</p>"
    return _page(f"{head}{count}{_listing(open_rows)}{_ack_form(claim, session)}")


@router.post("/ack")
def acknowledge(service: ServiceDep, session: DbSession, token: str = Query(default="", max_length=2000),
                name: str = Form(default="", max_length=200), *, now: Now) -> Response:
    found = _ack_claim(service, session, token, now)
    if isinstance(found, Response):
        return found
    claim, rows = found
    given = " ".join(name.split())[:MAX_NAME]
    if not claim.user and not given:
        return _page(_ack_form(claim, session, "请填写您的姓名再认领 / Please give your name"), status.HTTP_400_BAD_REQUEST)
    # The person the link was issued to; else the name given on the page, marked as such.
    actor = claim.user or f"{given}（链接认领）"
    done = [r for r in rows if not r.acked_by]
    for row in done:
        alerts.acknowledge(session, row, actor, now)
        audit(session, actor, "alert.ack", row.id, now, via="action-link", message=claim.message or "",
              identity="link-recipient" if claim.user else "name-given")
    session.commit()
    return _page(f"<h1>已认领 / Acknowledged</h1><p>{len(done)} 条告警已由 {escape(actor)} 认领 / "
                 f"{len(done)} alerts acknowledged by {escape(actor)}</p>{_listing(rows)}")


@router.get("/chart")
def chart(service: ServiceDep, session: DbSession, token: str = Query(min_length=1, max_length=2000), *,
          now: Now) -> Response:
    """The message's chart as a PNG (the link expires like the others: 403 tampered, 410 expired)."""
    claim = _claim(service, token, LinkAction.CHART, now)
    if isinstance(claim, Response):
        return claim
    message = _message(session, claim)
    raw = message.payload.get("chart") if message is not None else None
    try:
        spec = ChartSpec.model_validate(raw) if raw else None
    except ValidationError:
        spec = None
    if spec is None:
        return _page("<h1>图表不存在 / No such chart</h1>", status.HTTP_404_NOT_FOUND)
    return Response(render_png(spec), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
