"""A calm start (issue 13, item 3): a new store's data-quality findings of its first 72 hours (from its
first point) go to the in-app inbox only, muted with the reason, and reach no channel — except a sync
failure the user's own setup causes; after 72 hours they reach the channels again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shopsentinel.alerting.mute import CALM_START_NOTE, CalmStart
from shopsentinel.core.clock import ManualClock
from shopsentinel.notify.outbox import INBOX
from shopsentinel.sim.channels import FakeDingTalk
from shopsentinel.store.state import AlertEventRow, AlertRow, OutboxRow, StoreRow

TOKEN, SECRET = "calm-robot-token", "SECcalm-robot-secret-0001"


pytestmark = pytest.mark.usefixtures("secret_key")  # robot and secret_key: tests/support/channels.py


def data_alert(api: Any, alert_id: str, rule: str, now: datetime, message: str, store: str = "tm-new") -> None:
    with api.service.sessions() as session:
        session.add(AlertRow(id=alert_id, rule=rule, severity="critical", kind="data", category="data", platform="tmall",
                             store=store, sku="", metric="orders", state="firing", starts_at=now,
                             message=message, created_at=now, updated_at=now))
        session.flush()
        session.add(AlertEventRow(alert_id=alert_id, event="firing", ts=now, actor="system", detail="", recorded_at=now))
        session.commit()


def settle(api: Any, clock: ManualClock) -> None:
    for _ in range(3):  # past group_wait: whatever is due is sent
        clock.advance(timedelta(seconds=31))
        api.service.notify()


def texts(fake: FakeDingTalk) -> str:
    return "\n".join(str(m.payload["markdown"]["text"]) for m in fake.received)


def test_new_store_data_alerts_go_to_the_inbox_for_72_hours_then_to_channels(api: Any, clock: ManualClock, robot: Any) -> None:
    fake, base_url = robot
    assert api.put("/api/v1/channels", json={
        "name": "ops-robot", "kind": "dingtalk", "medium": "im", "receiver": "default",
        "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "markdown"},
    }).status_code == 200  # fmt: skip
    first = clock.now()
    with api.service.sessions() as session:
        session.add_all([StoreRow(platform="tmall", store="tm-new", name="新店", timezone="Asia/Shanghai", first_point_at=first,
                                  last_point_at=first, created_at=first),
                         StoreRow(platform="tmall", store="tm-old", name="老店", timezone="Asia/Shanghai",
                                  first_point_at=first - timedelta(days=30), last_point_at=first, created_at=first)])
        session.commit()
    data_alert(api, "quiet-1", "data.metric_silent", clock.now(), "新店订单停报")
    data_alert(api, "sync-1", "data.sync_failed", clock.now(), "新店授权失效同步失败")  # the user's setup: they must hear it
    data_alert(api, "old-1", "data.metric_silent", clock.now(), "老店订单停报", store="tm-old")  # not new: no calm start
    settle(api, clock)
    sent = texts(fake)
    assert "新店授权失效同步失败" in sent and "老店订单停报" in sent
    assert "新店订单停报" not in sent
    with api.service.sessions() as session:
        inbox = {r.alert_id: r for r in session.scalars(select(OutboxRow).where(OutboxRow.channel == INBOX))}
        assert inbox["quiet-1"].muted and inbox["quiet-1"].payload["muted_note"] == CALM_START_NOTE
        assert "新店铺接入 72 小时内的数据质量提示只进站内信" in inbox["quiet-1"].payload["muted_note"]
        assert not inbox["sync-1"].muted and not inbox["old-1"].muted
        assert not session.scalars(select(OutboxRow).where(OutboxRow.alert_id == "quiet-1", OutboxRow.channel != INBOX)).all()

    clock.advance(timedelta(hours=72))  # the calm start is over: the same finding, still firing, reaches the robot
    before = len(fake.received)
    data_alert(api, "quiet-2", "data.metric_silent", clock.now(), "新店退款停报")
    settle(api, clock)
    later = "\n".join(str(m.payload["markdown"]["text"]) for m in fake.received[before:])
    assert "新店订单停报" in later and "新店退款停报" in later
    with api.service.sessions() as session:
        quiet2 = session.scalars(select(OutboxRow).where(OutboxRow.alert_id == "quiet-2", OutboxRow.channel == INBOX)).one()
        assert not quiet2.muted


def test_calm_start_muter_spares_business_alerts_and_user_caused_sync_failures() -> None:
    from datetime import UTC

    t0 = datetime(2026, 11, 10, tzinfo=UTC)
    calm = CalmStart({("jd", "jd-1"): t0})
    data = {"platform": "jd", "store": "jd-1", "kind": "data", "rule": "data.metric_silent"}
    assert calm.mutes(data, t0 + timedelta(hours=71)) and calm.reason(data, t0) == CALM_START_NOTE
    assert not calm.mutes(data, t0 + timedelta(hours=72))
    assert not calm.mutes({**data, "kind": "business", "rule": "traffic.crash"}, t0)
    assert not calm.mutes({**data, "rule": "data.sync_failed"}, t0)
    assert not calm.mutes({**data, "store": "jd-2"}, t0)
