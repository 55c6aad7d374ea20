"""One mute interface: silences, recurring time intervals, maintenance windows, "mute until
resolved" and inhibition all answer ``mutes(alert, now)`` / ``reason(alert, now)``; one mute stage
per pipeline run composes them and is the only place the pipeline asks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.alerting import mute as mute_module
from shopsentinel.alerting.inhibit import Inhibition, firing_by_store, inhibition_note
from shopsentinel.alerting.mute import (
    MaintenanceWindow,
    MutedUntilResolved,
    Muter,
    MuteStage,
    Silences,
    maintenance_windows,
)
from shopsentinel.alerting.pipeline import route_and_group
from shopsentinel.alerting.routing import LabelMatcher
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.alerting.routing_repository import save_routing_config
from shopsentinel.alerting.silences import Matcher, Silence
from shopsentinel.alerting.timeintervals import TimeInterval, TimeRange
from shopsentinel.notify.outbox import INBOX
from shopsentinel.store.db import open_database
from shopsentinel.store.state import AlertEventRow, AlertRow, CalendarRow, ChannelRow, OutboxRow, SilenceRow

NOW = datetime(2026, 11, 11, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
H = timedelta(hours=1)


def alert(alert_id: str, rule: str = "orders.low", store: str = "tm-1", *, incident: str = "", root_rank: int = 99,
          starts_at: datetime = NOW - H, state: str = "firing", muted_by: str | None = None) -> AlertRow:
    return AlertRow(id=alert_id, rule=rule, severity="critical", kind="business", category="sales", platform="tmall",
                    store=store, sku="", metric="orders", state=state, starts_at=starts_at, incident=incident,
                    root_rank=root_rank, message=f"{rule} in {store}", muted_by=muted_by, created_at=starts_at,
                    updated_at=starts_at)


# --- each muter -------------------------------------------------------------------------------


def test_a_silence_mutes_matching_alerts_until_it_expires() -> None:
    silence = Silence([Matcher(name="store", value="tm-1")], NOW - H, NOW + H, id=7)
    row = alert("a1")
    assert silence.mutes(row, NOW) and silence.mutes({"store": "tm-1"}, NOW)
    assert silence.reason(row, NOW) == "静默中 / silenced by 7"
    assert not silence.mutes(alert("a2", store="tm-2"), NOW)
    assert not silence.mutes(row, NOW + H) and silence.reason(row, NOW + H) is None  # expired
    both = Silences((silence, Silence([Matcher(name="rule", value="orders.*", regex=True)], NOW - H, NOW + H, id=9)))
    assert both.reason(row, NOW) == "静默中 / silenced by 7, 9"  # one note naming every matching silence


def test_a_time_interval_mutes_inside_its_recurring_window() -> None:
    mornings = TimeInterval(name="mornings", times=[TimeRange.model_validate({"start": "10:00", "end": "12:00"})],
                            timezone="Asia/Shanghai", matchers=[LabelMatcher(name="category", value="sales")])
    row = alert("a1")
    assert mornings.mutes(row, NOW)  # 11:00 in Shanghai; category comes from the row's routing labels
    assert mornings.reason(row, NOW) == "静默时段 mornings / muted by time interval mornings"
    assert not mornings.mutes(row, NOW + 2 * H) and mornings.reason(row, NOW + 2 * H) is None


def test_a_maintenance_window_mutes_its_platform_and_store_while_open(sessions: sessionmaker[Session]) -> None:
    window = MaintenanceWindow("平台系统维护", NOW - H, NOW + H, platform="tmall", store="tm-1")
    assert window.mutes(alert("a1"), NOW)
    assert not window.mutes(alert("a2", store="tm-2"), NOW)
    assert not window.mutes(alert("a1"), NOW + H)  # closed (end exclusive)
    assert "平台系统维护" in (window.reason(alert("a1"), NOW) or "")
    assert MaintenanceWindow("all", NOW - H, NOW + H).mutes(alert("a3", store="anything"), NOW)  # "" = everyone
    with sessions() as session:
        session.add_all([
            CalendarRow(starts_at=NOW - H, ends_at=NOW + H, platform="tmall", store="", name="维护", kind="maintenance"),
            CalendarRow(starts_at=NOW - H, ends_at=NOW + H, platform="tmall", store="", name="双11", kind="promotion"),
            CalendarRow(starts_at=NOW - 3 * H, ends_at=NOW - H, platform="", store="", name="昨晚维护", kind="maintenance"),
        ])  # fmt: skip
        session.commit()
        assert [w.name for w in maintenance_windows(session, NOW)] == ["维护"]  # open maintenance events only


def test_mute_until_resolved_mutes_that_episode() -> None:
    muter = MutedUntilResolved()
    assert muter.mutes(alert("a1", muted_by="wang"), NOW)
    assert muter.reason(alert("a1", muted_by="wang"), NOW) == "已静默至恢复 / muted until resolved by wang"
    assert not muter.mutes(alert("a2"), NOW) and not muter.mutes({"store": "tm-1"}, NOW)


def test_inhibition_mutes_the_symptoms_of_a_firing_root() -> None:
    root = alert("root", "traffic.crash", incident="inc", root_rank=0, starts_at=NOW - 2 * H)
    symptom = alert("symptom", incident="inc", root_rank=1)
    elsewhere = alert("other", store="tm-2", incident="inc2", root_rank=1)
    inhibition = Inhibition(firing_by_store([root, symptom, elsewhere]))
    assert inhibition.mutes(symptom, NOW) and inhibition.reason(symptom, NOW) == inhibition_note(root)
    assert not inhibition.mutes(root, NOW) and not inhibition.mutes(elsewhere, NOW)
    assert not inhibition.mutes({"store": "tm-1"}, NOW)  # labels name no incident


def test_every_muter_answers_the_same_protocol() -> None:
    muters: list[Muter] = [Silence([], NOW - H, NOW + H), Silences(()), TimeInterval(name="x"),
                           MaintenanceWindow("m", NOW - H, NOW + H), MutedUntilResolved(), Inhibition({})]
    for m in muters:
        assert isinstance(m.mutes(alert("a1"), NOW), bool)


def test_the_stage_composes_muters_and_inhibits_firing_notifications_only() -> None:
    root = alert("root", "traffic.crash", incident="inc", root_rank=0, starts_at=NOW - 2 * H)
    symptom = alert("symptom", incident="inc", root_rank=1)
    silence = Silence([Matcher(name="store", value="tm-1")], NOW - H, NOW + H, id=3)
    stage = MuteStage([Silences((silence,))], Inhibition(firing_by_store([root, symptom])))
    muted = stage.check(symptom, NOW)
    assert muted and muted.silenced and muted.root is root
    assert muted.note == f"静默中 / silenced by 3；{inhibition_note(root)}"  # silence first, then inhibition
    assert stage.check(symptom, NOW, state="resolved").note == "静默中 / silenced by 3"  # a resolution is news
    only_inhibited = MuteStage([], Inhibition(firing_by_store([root, symptom]))).check(symptom, NOW)
    assert only_inhibited and not only_inhibited.silenced  # counted in its root's message, not dropped
    assert not MuteStage([]).check(symptom, NOW)
    assert stage.mutes(symptom, NOW) and stage.mutes({"store": "tm-1"}, NOW)


# --- one stage in the pipeline ----------------------------------------------------------------


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine, factory = open_database(database_url)
    yield factory
    engine.dispose()


KINDS = ["none", "silence", "time_interval", "maintenance", "mute_until_resolved", "inhibition"]
NOTES = {
    "silence": "静默中 / silenced by",
    "time_interval": "muted by time interval mornings",
    "maintenance": "maintenance window 天猫维护",
    "mute_until_resolved": "muted until resolved by wang",
    "inhibition": "inhibited by root cause traffic.crash",
}


def _scenario(session: Session, kind: str) -> None:
    """tm-1's orders.low (muted by ``kind``) and tm-2's orders.low (never muted), a DingTalk robot."""
    session.add(ChannelRow(name="ops-robot", kind="dingtalk", medium="im", receiver="default", settings={},
                           created_by="t", created_at=NOW))
    rows = [alert("symptom", incident="inc", root_rank=1, muted_by="wang" if kind == "mute_until_resolved" else None),
            alert("control", store="tm-2")]
    if kind == "inhibition":
        rows.insert(0, alert("root", "traffic.crash", incident="inc", root_rank=0, starts_at=NOW - 2 * H))
    session.add_all(rows)
    session.flush()
    session.add_all([AlertEventRow(alert_id=r.id, event="firing", ts=r.starts_at, actor="system", detail="",
                                   recorded_at=NOW) for r in rows])
    if kind == "silence":
        session.add(SilenceRow(matchers=[{"name": "store", "value": "tm-1"}], starts_at=NOW - H, ends_at=NOW + H,
                               created_by="t", created_at=NOW))
    if kind == "time_interval":
        window = TimeInterval(name="mornings", times=[TimeRange.model_validate({"start": "10:00", "end": "12:00"})],
                              matchers=[LabelMatcher(name="store", value="tm-1")])
        save_routing_config(session, RoutingConfig(time_intervals=[window]), "t", NOW)
    if kind == "maintenance":
        session.add(CalendarRow(starts_at=NOW - H, ends_at=NOW + H, platform="tmall", store="tm-1", name="天猫维护",
                                kind="maintenance"))
    session.commit()


@pytest.mark.parametrize("kind", KINDS)
def test_the_pipeline_asks_one_mute_stage_for_inbox_messages_and_pages(
        sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    stages: list[MuteStage] = []
    asked: list[str] = []
    load, check = MuteStage.load.__func__, MuteStage.check  # type: ignore[attr-defined]

    def counting_load(cls: type[MuteStage], *args: Any, **kwargs: Any) -> MuteStage:
        stage: MuteStage = load(cls, *args, **kwargs)
        stages.append(stage)
        return stage

    def spying_check(self: MuteStage, row: AlertRow, now: datetime, **kwargs: Any) -> Any:
        assert self is stages[-1]  # the run's own stage, no other
        asked.append(row.id)
        return check(self, row, now, **kwargs)

    monkeypatch.setattr(MuteStage, "load", classmethod(counting_load))
    monkeypatch.setattr(MuteStage, "check", spying_check)
    with sessions() as session:
        _scenario(session, kind)
        for minute in (0, 1):  # the group waits 30 s, then flushes
            route_and_group(session, NOW + minute * timedelta(minutes=1))
            session.commit()
        entries = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
    assert len(stages) == 2  # one mute stage per pipeline run
    assert asked.count("symptom") >= 3  # inbox, then routing on each run: all through that stage
    inbox = {e.alert_id: e for e in entries if e.channel == INBOX}
    messages = [e for e in entries if e.channel == "ops-robot"]
    listed = {line["id"] for e in messages for line in e.payload["alerts"]}
    assert inbox["control"].muted is False and "control" in listed  # the other store is never muted
    symptom = inbox["symptom"]
    assert symptom.key == "symptom:firing"
    if kind == "none":
        assert symptom.muted is False and symptom.payload["muted_note"] is None and "symptom" in listed
        return
    assert symptom.muted is True and NOTES[kind] in symptom.payload["muted_note"]
    assert "symptom" not in listed  # muted: no channel message lists it
    if kind == "inhibition":
        [root_message] = [e for e in messages if e.payload["alerts"][0]["id"] == "root"]
        assert "已抑制 1 条由 traffic.crash 引起的告警（orders.low）" in root_message.payload["muted_note"]
    else:
        assert [e.payload["alerts"][0]["id"] for e in messages] == ["control"]


def test_the_pipeline_writes_each_state_change_to_the_inbox_once(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _scenario(session, "none")
        row = session.get(AlertRow, "symptom")
        assert row is not None
        row.state, row.ends_at = "resolved", NOW
        session.add(AlertEventRow(alert_id="symptom", event="resolved", ts=NOW, actor="admin", detail="", recorded_at=NOW))
        session.commit()
        route_and_group(session, NOW)
        route_and_group(session, NOW + timedelta(minutes=1))
        session.commit()
        keys = [e.key for e in session.scalars(select(OutboxRow).where(OutboxRow.channel == INBOX).order_by(OutboxRow.id))]
    assert keys == ["symptom:firing", "control:firing", "symptom:resolved"]


def test_the_mute_module_documents_how_to_add_a_muter() -> None:
    assert "A new kind of mute" in (mute_module.__doc__ or "")
