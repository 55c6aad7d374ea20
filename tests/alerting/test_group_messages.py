"""One message per problem (issue 13, item 5), through the real service on SQLite and PostgreSQL and a
signature-checking DingTalk fake on loopback: 20 alerts of one store in one group under an
escalation policy give one DingTalk message per escalation step — the group's severity, the top 3
alerts and "还有 17 条", the on-duty person's mobile in ``at.atMobiles`` — and the 认领 link of that
message acknowledges all 20, each audited in the on-duty person's name, which stops the escalation.
A recovery says what recovered and after how long."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from shopsentinel.core.clock import ManualClock
from shopsentinel.sim.channels import FakeDingTalk, Received
from shopsentinel.store.state import AlertEventRow, AlertRow, UserRow

TOKEN, SECRET = "group-robot-token", "SECgroup-robot-secret-0001"
PUBLIC = "https://sentinel.example.com"
ON_DUTY_MOBILE, DIRECTOR_MOBILE = "13900000009", "13900000011"


pytestmark = pytest.mark.usefixtures("secret_key")  # robot and secret_key: tests/support/channels.py


def user(username: str, name: str, phone: str, duties: list[str], now: datetime) -> UserRow:
    return UserRow(username=username, display_name=name, role="editor", duties=duties, email="", phone=phone, im_ids={},
                   locale="zh-CN", active=True, password_hash="", created_at=now)


def setup_team(api: Any, base_url: str, clock: ManualClock) -> None:
    """A DingTalk robot, 王运营 (运营负责人) on duty and 赵总 (总监), a two-step escalation policy."""
    assert api.put("/api/v1/channels", json={
        "name": "ops-robot", "kind": "dingtalk", "medium": "im", "receiver": "default",
        "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "actionCard"},
    }).status_code == 200  # fmt: skip
    with api.service.sessions() as session:
        session.add_all([user("wang", "王运营", ON_DUTY_MOBILE, ["ops_lead"], clock.now()),
                         user("zhao", "赵总", DIRECTOR_MOBILE, ["director"], clock.now())])
        session.commit()
    policy = {"name": "store-ops", "steps": [{"after_minutes": 0, "role": "ops_lead"}, {"after_minutes": 15, "role": "director"}]}
    assert api.put("/api/v1/escalation-policies/store-ops", json=policy).status_code == 200
    assert api.put("/api/v1/routing", json={"route": {"receiver": "default", "escalation_policy": "store-ops"}}).status_code == 200


def fire_twenty(api: Any, clock: ManualClock) -> list[str]:
    """20 alerts of tm-1 at once: 19 low-stock SKUs (warning) and one traffic crash (critical)."""
    now = clock.now()
    rows = [AlertRow(id="crash-tm-1", rule="traffic.crash", severity="critical", kind="business", category="traffic",
                     platform="tmall", store="tm-1", sku="", metric="uv", state="firing", starts_at=now - timedelta(hours=1),
                     value=12.0, expected=480.0, lower=300.0, upper=650.0, message="流量骤降 97%", created_at=now, updated_at=now)]
    rows += [AlertRow(id=f"stock-{i:02d}", rule="stock.low", severity="warning", kind="business", category="inventory",
                      platform="tmall", store="tm-1", sku=f"SKU-{i:02d}", metric="stock", state="firing",
                      starts_at=now - timedelta(minutes=30), value=2.0, expected=40.0, lower=10.0, upper=None,
                      message=f"库存告急：SKU-{i:02d} 仅剩 2 件", created_at=now, updated_at=now) for i in range(19)]
    with api.service.sessions() as session:
        session.add_all(rows)
        session.flush()
        session.add_all([AlertEventRow(alert_id=r.id, event="firing", ts=r.starts_at, actor="system", detail="",
                                       recorded_at=now) for r in rows])
        session.commit()
    return [r.id for r in rows]


def escalations(fake: FakeDingTalk) -> list[Received]:
    return [m for m in fake.received if "升级" in m.payload["actionCard"]["title"]]


def card_text(message: Received) -> str:
    return str(message.payload["actionCard"]["text"])


def ack_path(message: Received) -> str:
    url = next(b["actionURL"] for b in message.payload["actionCard"]["btns"] if "认领" in b["title"])
    assert url.startswith(f"{PUBLIC}/actions/ack?token=")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def tick_minutes(api: Any, clock: ManualClock, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(timedelta(minutes=1))
        api.service.notify()


def test_twenty_alerts_page_once_per_step_and_one_ack_link_acknowledges_all(
        api_factory: Any, database_url: str, clock: ManualClock, robot: Any) -> None:
    fake, base_url = robot
    api = api_factory(database_url, clock, public_url=PUBLIC)
    setup_team(api, base_url, clock)
    ids = fire_twenty(api, clock)
    api.service.notify()
    [step1] = escalations(fake)  # step 1 pages at once: one message for the 20 alerts, not 20
    tick_minutes(api, clock, 5)  # the group's own message follows group_wait; still one page for step 1
    assert len(escalations(fake)) == 1
    group_messages = [m for m in fake.received if m not in escalations(fake)]
    assert len(group_messages) == 1 and len(fake.received) == 2
    title = step1.payload["actionCard"]["title"]
    assert title.startswith("[严重] 【升级 1/2】流量骤降 97% 等 20 条告警")  # the group's highest severity
    text = card_text(step1)
    assert "共 20 条告警（告警中 20，已恢复 0）" in text and "还有 17 条" in text
    assert text.count("**stock**") == 2 and "**uv**" in text  # the top 3: root cause first, then two SKUs
    assert text.count("【严重】") == 1 and "警告" not in text  # one severity for the card
    assert step1.payload["at"]["atMobiles"] == [ON_DUTY_MOBILE] and f"@{ON_DUTY_MOBILE}" in text
    assert group_messages[0].payload["at"]["atMobiles"] == [ON_DUTY_MOBILE]  # the group's message @s the on-duty too

    path = ack_path(step1)
    page = api.get(path)  # a link preview: shows who and how many, changes nothing
    assert page.status_code == 200 and "王运营" in page.text and "20 条告警" in page.text
    with api.service.sessions() as session:
        assert session.scalars(select(AlertRow.acked_by)).all() == [None] * 20
    done = api.post(path)
    assert done.status_code == 200 and "20 条告警已由 wang 认领" in done.text
    with api.service.sessions() as session:
        acked = {r.id: r.acked_by for r in session.scalars(select(AlertRow))}
    assert acked == dict.fromkeys(ids, "wang")
    audit = [e for e in api.get("/api/v1/audit", params={"limit": 500}).json() if e["action"] == "alert.ack"]
    assert sorted(e["target"] for e in audit) == sorted(ids) and {e["actor"] for e in audit} == {"wang"}

    tick_minutes(api, clock, 30)  # past step 2 (15 min): acknowledged, so nobody else is paged
    assert len(escalations(fake)) == 1
    assert api.post(path).status_code == 200  # a second tap changes nothing
    assert len([e for e in api.get("/api/v1/audit", params={"limit": 500}).json() if e["action"] == "alert.ack"]) == 20


def test_unacknowledged_group_pages_the_next_step_once_and_recovery_says_how_long(
        api_factory: Any, database_url: str, clock: ManualClock, robot: Any) -> None:
    fake, base_url = robot
    api = api_factory(database_url, clock, public_url=PUBLIC)
    setup_team(api, base_url, clock)
    ids = fire_twenty(api, clock)
    api.service.notify()
    tick_minutes(api, clock, 40)
    steps = [m.payload["actionCard"]["title"].split("【升级 ")[1].split("】")[0] for m in escalations(fake)]
    assert steps == ["1/2", "2/2"]
    step2 = escalations(fake)[1]
    assert step2.payload["at"]["atMobiles"] == [DIRECTOR_MOBILE] and "还有 17 条" in card_text(step2)
    # A new SKU joining the group later does not page the steps again.
    with api.service.sessions() as session:
        now = clock.now()
        session.add(AlertRow(id="stock-late", rule="stock.low", severity="warning", kind="business", category="inventory",
                             platform="tmall", store="tm-1", sku="SKU-99", metric="stock", state="firing", starts_at=now,
                             value=1.0, expected=40.0, message="库存告急：SKU-99 仅剩 1 件", created_at=now, updated_at=now))
        session.flush()
        session.add(AlertEventRow(alert_id="stock-late", event="firing", ts=now, actor="system", detail="", recorded_at=now))
        session.commit()
    tick_minutes(api, clock, 20)
    assert len(escalations(fake)) == 2

    before = len(fake.received)
    with api.service.sessions() as session:  # everything recovers: 2 h 15 min after the crash began
        for row in session.scalars(select(AlertRow)):
            row.state, row.ends_at = "resolved", row.starts_at + timedelta(hours=2, minutes=15)
            session.add(AlertEventRow(alert_id=row.id, event="resolved", ts=row.ends_at, actor="system", detail="",
                                      recorded_at=clock.now()))
        session.commit()
    tick_minutes(api, clock, 6)
    [recovery] = fake.received[before:]
    payload = recovery.payload
    body = payload.get("markdown") or payload["actionCard"]
    assert body["title"].startswith("[") and "已恢复：流量骤降 97% 等 21 条，持续 2 小时 15 分" in body["title"]
    assert "已恢复，持续 2 小时 15 分" in body["text"]  # each listed alert says how long it lasted
    assert len(ids) == 20
