"""Signed action links from messages (认领 / 查看详情), usable from a phone without logging in.

``GET /actions/ack?token=`` shows the alert and one 认领 / Acknowledge button (a chat app's link
preview fetches the URL, so the GET changes nothing); the button POSTs the same token, which
acknowledges the alert as ``link:<alert id>`` — audited like any acknowledgement. ``GET
/actions/view?token=`` opens the alert center's page of the alert. A tampered or foreign token is
403, an expired one 410, each with a page that says so in Chinese and English.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from shopsentinel.alerting import repository as alerts
from shopsentinel.api.deps import DbSession, Now
from shopsentinel.core.secrets import load_key
from shopsentinel.notify.links import (
    ActionLinkExpired,
    ActionLinkInvalid,
    LinkAction,
    link_key,
    verify_action_token,
)
from shopsentinel.store.repository import audit
from shopsentinel.store.state import AlertRow

router = APIRouter(prefix="/actions", tags=["actions"], include_in_schema=False)

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>ShopSentinel</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}
button{{font-size:1.1rem;padding:.6rem 1.4rem}}</style></head><body>{body}</body></html>"""


def _page(body: str, code: int = status.HTTP_200_OK) -> HTMLResponse:
    return HTMLResponse(PAGE.format(body=body), status_code=code)


def _claim(token: str, action: LinkAction, now: datetime) -> str | Response:
    """The alert id the token grants ``action`` on, or the error page."""
    try:
        return verify_action_token(link_key(load_key()), token, now=now, expected_action=action).alert_id
    except ActionLinkExpired:
        return _page("<h1>链接已过期 / Link expired</h1><p>请在预警中心处理 / Please use the alert center.</p>",
                     status.HTTP_410_GONE)
    except ActionLinkInvalid:
        return _page("<h1>链接无效 / Invalid link</h1>", status.HTTP_403_FORBIDDEN)


@router.get("/view")
def view(token: str = Query(min_length=1, max_length=2000), *, now: Now) -> Response:
    claim = _claim(token, LinkAction.VIEW, now)
    return claim if isinstance(claim, Response) else RedirectResponse(f"/alerts/{claim}", status.HTTP_303_SEE_OTHER)


def _acked_alert(session: Session, token: str, now: datetime) -> AlertRow | Response:
    """The alert an ack token names, or the page saying why not (bad/expired token, no such alert)."""
    claim = _claim(token, LinkAction.ACK, now)
    if isinstance(claim, Response):
        return claim
    row = alerts.get_alert(session, claim)
    return row if row is not None else _page("<h1>告警不存在 / No such alert</h1>", status.HTTP_404_NOT_FOUND)


@router.get("/ack")
def confirm_ack(session: DbSession, token: str = Query(min_length=1, max_length=2000), *, now: Now) -> Response:
    row = _acked_alert(session, token, now)
    if isinstance(row, Response):
        return row
    state = f"<p>已由 {escape(row.acked_by)} 认领 / acknowledged by {escape(row.acked_by)}</p>" if row.acked_by else (
        '<form method="post"><button type="submit">认领 / Acknowledge</button></form>')
    return _page(f"<h1>{escape(row.message or row.rule)}</h1><p>{escape(row.message_en)}</p>{state}")


@router.post("/ack")
def acknowledge(session: DbSession, token: str = Query(default="", max_length=2000), *, now: Now) -> Response:
    row = _acked_alert(session, token, now)
    if isinstance(row, Response):
        return row
    if not row.acked_by:
        actor = f"link:{row.id[:12]}"
        alerts.acknowledge(session, row, actor, now)
        audit(session, actor, "alert.ack", row.id, now, via="action-link")
        session.commit()
    return _page(f"<h1>已认领 / Acknowledged</h1><p>{escape(row.message or row.rule)}</p>")
