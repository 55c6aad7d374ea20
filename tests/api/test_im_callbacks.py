"""认领 from the DingTalk group (api/routes/im_callbacks.py): the robot's callback, signed as DingTalk signs
it, acknowledges every open alert of the latest message in the name of the directory's person with that
DingTalk id; unsigned, mis-signed or stale callbacks and unknown senders acknowledge nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shopsentinel.alerting.manager import AlertManager
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import Severity
from shopsentinel.notify import Notification
from shopsentinel.notify.channels.dingtalk import sign_dingtalk
from shopsentinel.store.state import AlertRow, AuditRow, OutboxRow
from tests.support.service import Api

TOKEN, SECRET = "callback-robot-token", "SECcallback-robot-secret-01"
APP_SECRET = "app-secret-of-the-internal-robot"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
URL = "/api/v1/im/dingtalk/robot"


def _fire(api: Api, store: str) -> str:
    now = api.service.clock.now()
    event = AlertEvent(rule="traffic.crash", severity=Severity.CRITICAL, kind="business", category="traffic",
                       platform="tmall", store=store, sku="", metric="uv", start=now, end=None,
                       message=f"{store} 流量骤降", message_en="traffic crash")
    with api.service.sessions() as session:
        AlertManager().reconcile(session, "tmall", store, [event], now=now, create_from=EPOCH)
        session.commit()
        return session.scalars(select(AlertRow.id).where(AlertRow.store == store)).one()


def _send_group_message(api: Api, ids: list[str]) -> None:
    now = api.service.clock.now()
    note = Notification(key="group-1", title="流量骤降 2 个店铺", severity="critical", alerts=[
        {"id": i, "ts": now.isoformat(), "state": "firing", "platform": "tmall", "store": f"tm-{n}", "metric": "uv",
         "rule": "traffic.crash", "severity": "critical", "kind": "business", "value": 1.0}
        for n, i in enumerate(ids)])
    with api.service.sessions() as session:
        session.add(OutboxRow(key="group-1", alert_id=ids[0], payload=note.model_dump(mode="json"), muted=False,
                              created_at=now, status="pending", attempts=0, last_error="", channel="robot"))
        session.commit()
    api.service.tick()
    with api.service.sessions() as session:
        assert session.scalars(select(OutboxRow.status).where(OutboxRow.key == "group-1")).one() == "sent"


def _callback(api: Api, staff: str, text: str, *, at: datetime | None = None, secret: str = APP_SECRET,
              signed: bool = True) -> Any:
    stamp = int((at or api.service.clock.now()).timestamp() * 1000)
    headers = {"timestamp": str(stamp), "sign": sign_dingtalk(secret, stamp)} if signed else {}
    body = {"msgtype": "text", "text": {"content": text}, "senderStaffId": staff, "senderNick": "群成员",
            "conversationId": "cid-1", "isInAtList": True}
    return api.as_token("").post(URL, content=json.dumps(body, ensure_ascii=False),
                                 headers={**headers, "content-type": "application/json"})


def _acked(api: Api) -> dict[str, str | None]:
    with api.service.sessions() as session:
        return {r.store: r.acked_by for r in session.scalars(select(AlertRow)).all()}


@pytest.mark.usefixtures("secret_key")
def test_the_group_acknowledges_with_a_reply_in_the_persons_name(
        api: Api, clock: ManualClock, robot: tuple[Any, str]) -> None:
    _fake, base_url = robot
    made = api.put("/api/v1/channels", json={"name": "robot", "kind": "dingtalk", "medium": "im", "settings": {
        "access_token": TOKEN, "secret": SECRET, "base_url": base_url, "callback_secret": APP_SECRET}})
    assert made.status_code == 200, made.text
    assert APP_SECRET not in made.text and APP_SECRET not in api.get("/api/v1/channels").text
    person = api.post("/api/v1/users", json={"username": "zhang", "display_name": "张运营", "password": "long-enough-1",
                                             "im_ids": {"dingtalk": "staff-zhang"}})
    assert person.status_code == 201, person.text
    ids = [_fire(api, "tm-0"), _fire(api, "tm-1")]
    _send_group_message(api, ids)

    assert _callback(api, "staff-zhang", "认领", signed=False).status_code == 403
    assert _callback(api, "staff-zhang", "认领", secret="someone-elses").status_code == 403
    assert _callback(api, "staff-zhang", "认领", at=clock.now() - timedelta(hours=2)).status_code == 403
    stranger = _callback(api, "staff-unknown", " 认领")
    assert stranger.status_code == 200 and "用户目录" in stranger.json()["text"]["content"]
    chat = _callback(api, "staff-zhang", "今天流量怎么了")
    assert chat.status_code == 200 and "回复「认领」" in chat.json()["text"]["content"]
    assert _acked(api) == {"tm-0": None, "tm-1": None}

    done = _callback(api, "staff-zhang", "@ShopSentinel 认领")
    assert done.status_code == 200, done.text
    assert done.json()["text"]["content"].startswith("已由 张运营 认领：tm-0 流量骤降等 2 条")
    assert _acked(api) == {"tm-0": "zhang", "tm-1": "zhang"}  # the whole group, in the person's name
    with api.service.sessions() as session:
        trail = session.scalars(select(AuditRow).where(AuditRow.action == "alert.ack")).all()
        assert sorted(r.target for r in trail) == sorted(ids) and {r.actor for r in trail} == {"zhang"}
    again = _callback(api, "staff-zhang", "认领")
    assert "没有待认领" in again.json()["text"]["content"]


def test_a_channel_without_callbacks_or_of_another_kind_is_not_found(api: Api) -> None:
    assert api.as_token("").post("/api/v1/im/dingtalk/nope", json={}).status_code == 404
