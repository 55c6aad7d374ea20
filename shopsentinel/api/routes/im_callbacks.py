"""认领 from the chat itself: a DingTalk group member @-mentions the robot with 「认领」 (issue 13, "One message
per problem": 认领 records who, "from the signed link or the IM user id").

Set-up: a DingTalk enterprise-internal robot (企业内部机器人) in the alert group, its 消息接收地址 set to
``https://<host>/api/v1/im/dingtalk/<channel>``, and its AppSecret stored on that DingTalk channel as
``callback_secret`` (sealed like every secret). DingTalk signs each callback like the robot webhook
(PLATFORMS.md §8): header ``timestamp`` (epoch ms) and ``sign`` = Base64(HMAC-SHA256(key=AppSecret,
timestamp + "\\n" + AppSecret)); a callback older than an hour, unsigned or mis-signed is refused (403)
before its body is read as a command.

What 「认领」 acknowledges: every open alert of the newest message this channel delivered that still has
one — the whole group, as the 认领 link does. Who: the person of the user directory whose
``im_ids.dingtalk`` is the sender's ``senderStaffId``; a sender the directory does not know acknowledges
nothing and is told how to fix it (an acknowledgement always names a person, never an id or a hash). The
answer is DingTalk's reply message, which it posts to the group.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.alerting import repository as alerts
from shopsentinel.api.deps import DbSession, Now, ServiceDep
from shopsentinel.core.secrets import SecretBox, SecretKeyError
from shopsentinel.notify.channels.dingtalk import sign_dingtalk
from shopsentinel.store.repository import audit
from shopsentinel.store.state import AlertRow, ChannelRow, OutboxRow, UserRow

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/im", tags=["im"])

MAX_BODY = 64 * 1024
MAX_SKEW_MS = 3600 * 1000  # DingTalk: a callback is valid for one hour
ACK_WORDS = ("认领", "ack")
LOOK_BACK = 50  # messages of the channel searched for one with open alerts


def _reply(text: str) -> JSONResponse:
    return JSONResponse({"msgtype": "text", "text": {"content": text}})


def _refuse(code: int, zh: str, en: str) -> JSONResponse:
    return JSONResponse({"detail": f"{zh} / {en}"}, status_code=code)


def _callback_secret(service: Any, row: ChannelRow) -> str | None:
    sealed = row.settings.get("callback_secret")
    if not sealed:
        return None
    opened = SecretBox(service.secret_keys()).open_fields({"callback_secret": sealed}, ["callback_secret"])
    value = opened.get("callback_secret")
    return str(value) if value else None


def _signed(secret: str, timestamp: str, sign: str, now: datetime) -> bool:
    if not timestamp.isdigit() or not sign:
        return False
    if abs(int(now.timestamp() * 1000) - int(timestamp)) > MAX_SKEW_MS:
        return False
    return hmac.compare_digest(sign.encode(), sign_dingtalk(secret, int(timestamp)).encode())


def _person(session: Session, staff_id: str) -> UserRow | None:
    if not staff_id:
        return None
    for row in session.scalars(select(UserRow).where(UserRow.active.is_(True))).all():
        if str((row.im_ids or {}).get("dingtalk", "")) == staff_id:
            return row
    return None


def _open_alerts_of_latest_message(session: Session, channel: str) -> list[AlertRow]:
    """The open (firing, unacknowledged) alerts of the newest delivered message of ``channel`` that has any."""
    messages = session.scalars(select(OutboxRow).where(OutboxRow.channel == channel, OutboxRow.status == "sent")
                               .order_by(OutboxRow.id.desc()).limit(LOOK_BACK)).all()
    for message in messages:
        ids = list(dict.fromkeys(str(a["id"]) for a in message.payload.get("alerts", []) if a.get("id")))
        if not ids:
            continue
        rows = {r.id: r for r in session.scalars(select(AlertRow).where(AlertRow.id.in_(ids))).all()}
        open_rows = [rows[i] for i in ids if i in rows and rows[i].state == "firing" and not rows[i].acked_by]
        if open_rows:
            return open_rows
    return []


@router.post("/dingtalk/{channel}", summary="DingTalk robot callback: 「认领」 in the group acknowledges the latest alert message")
async def dingtalk_callback(channel: str, request: Request, service: ServiceDep, session: DbSession, now: Now) -> JSONResponse:
    row = session.scalars(select(ChannelRow).where(ChannelRow.name == channel)).first()
    if row is None or row.kind != "dingtalk":
        return _refuse(status.HTTP_404_NOT_FOUND, "没有这个钉钉渠道", "no such DingTalk channel")
    try:
        secret = _callback_secret(service, row)
    except SecretKeyError:
        return _refuse(status.HTTP_503_SERVICE_UNAVAILABLE, "服务密钥不可用", "service key unavailable")
    if secret is None:
        return _refuse(status.HTTP_404_NOT_FOUND, "该渠道未设置回调密钥（callback_secret）",
                       "this channel has no callback_secret")
    if not _signed(secret, request.headers.get("timestamp", ""), request.headers.get("sign", ""), now):
        logger.warning("钉钉回调签名无效或已过期，已拒绝 / DingTalk callback refused: bad or stale signature (channel %s)",
                       channel)
        return _refuse(status.HTTP_403_FORBIDDEN, "签名无效或已过期", "bad or stale signature")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _refuse(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "消息过大", "body too large")
    try:
        body = json.loads(raw)
        text = str((body.get("text") or {}).get("content", "")).strip()
        staff_id = str(body.get("senderStaffId") or "")
        nick = str(body.get("senderNick") or "")
    except (ValueError, AttributeError):
        return _refuse(status.HTTP_422_UNPROCESSABLE_ENTITY, "无法解析回调内容", "callback body is not DingTalk JSON")
    if not any(word in text.lower() for word in ACK_WORDS):
        return _reply("回复「认领」即可认领本群最近一条告警消息中的全部告警。/ Reply 「认领」 (ack) to acknowledge the "
                      "alerts of the latest alert message.")
    person = _person(session, staff_id)
    if person is None:
        return _reply(f"{nick or '您'}：用户目录中没有钉钉 ID 为 {staff_id or '（空）'} 的人，未认领。请管理员在「用户」页为您"
                      f"填写钉钉 ID 后再试。/ No user has DingTalk id {staff_id or '(none)'}: nothing acknowledged; an "
                      "admin can add it on the Users page.")
    open_rows = _open_alerts_of_latest_message(session, channel)
    name = person.display_name or person.username
    if not open_rows:
        return _reply(f"{name}：没有待认领的告警。/ Nothing left to acknowledge.")
    for alert in open_rows:
        alerts.acknowledge(session, alert, person.username, now)
        audit(session, person.username, "alert.ack", alert.id, now, via="dingtalk-callback", identity="im-user-id",
              im_user=staff_id)
    session.commit()
    first = open_rows[0].message or open_rows[0].rule
    more = f"等 {len(open_rows)} 条" if len(open_rows) > 1 else ""
    return _reply(f"已由 {name} 认领：{first}{more}。/ Acknowledged by {name}: {len(open_rows)} alert(s).")


__all__ = ["router"]
