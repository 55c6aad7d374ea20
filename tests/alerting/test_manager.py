"""The alert manager's reconciliation, directly: idempotent, one alert per episode, an episode
whose start moved is the same alert, old episodes are not new alerts once the window slides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.alerting.manager import AlertManager
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import Severity
from shopsentinel.runtime.evaluation import Window, create_from, judged_from, window_for
from shopsentinel.store.db import open_database
from shopsentinel.store.state import AlertEventRow, AlertRow, OutboxRow, StoreRow

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)


def episode(start: datetime, end: datetime | None, rule: str = "orders.drop") -> AlertEvent:
    return AlertEvent(rule=rule, severity=Severity.CRITICAL, kind="business", category="sales", platform="jd",
                      store="jd-1", sku="", metric="orders", start=start, end=end, message="订单下跌")


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine, factory = open_database(database_url)
    yield factory
    engine.dispose()


def apply(sessions: sessionmaker[Session], events: list[AlertEvent], now: datetime, since: datetime = T0) -> list[str]:
    with sessions() as session:
        changes = AlertManager().reconcile(session, "jd", "jd-1", events, now=now, create_from=since)
        session.commit()
    return [c.state for c in changes]


def counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    """Alerts, their state changes, and outbox entries: the manager writes none (the notification
    pipeline announces the state changes)."""
    with sessions() as s:
        return tuple(int(s.scalar(select(func.count()).select_from(t)) or 0) for t in (AlertRow, AlertEventRow, OutboxRow))  # type: ignore[return-value]


def test_reconcile_is_idempotent_and_resolves_once(sessions: sessionmaker[Session]) -> None:
    start = T0 + 10 * H
    assert apply(sessions, [episode(start, None)], T0 + 12 * H) == ["firing"]
    assert apply(sessions, [episode(start, None)], T0 + 13 * H) == []
    assert counts(sessions) == (1, 1, 0)
    assert apply(sessions, [episode(start, T0 + 15 * H)], T0 + 16 * H) == ["resolved"]
    assert apply(sessions, [episode(start, T0 + 15 * H)], T0 + 17 * H) == []
    assert counts(sessions) == (1, 2, 0)


def test_episode_seen_after_it_ended_records_both_states(sessions: sessionmaker[Session]) -> None:
    assert apply(sessions, [episode(T0 + 2 * H, T0 + 5 * H)], T0 + 24 * H) == ["firing", "resolved"]
    with sessions() as s:
        row = s.scalars(select(AlertRow)).one()
        assert (row.state, row.starts_at, row.ends_at) == ("resolved", T0 + 2 * H, T0 + 5 * H)


def test_moved_start_is_the_same_alert(sessions: sessionmaker[Session]) -> None:
    apply(sessions, [episode(T0 + 18 * H, None)], T0 + 20 * H)
    # judged again on a slid window, the same episode now seems to start an hour earlier and has ended
    assert apply(sessions, [episode(T0 + 17 * H, T0 + 21 * H)], T0 + 22 * H) == ["resolved"]
    assert counts(sessions)[0] == 1
    assert apply(sessions, [episode(T0 + 17 * H, None, rule="other.rule")], T0 + 22 * H) == ["firing"]


def test_episodes_before_create_from_are_not_new(sessions: sessionmaker[Session]) -> None:
    assert apply(sessions, [episode(T0 + 2 * H, None)], T0 + 100 * H, since=T0 + 50 * H) == []
    assert counts(sessions) == (0, 0, 0)


def test_window_and_creation_bound() -> None:
    store = StoreRow(platform="jd", store="jd-1", name="jd-1", timezone="Asia/Shanghai", currency="",
                     first_point_at=T0 + timedelta(minutes=30), created_at=T0)
    now = T0 + timedelta(days=10, minutes=20)
    anchored = window_for(store, now, window_days=21)
    assert anchored == Window(T0, T0 + timedelta(days=10))
    assert create_from(store, anchored, timedelta(hours=48)) == T0  # full history: every episode counts
    sliding = window_for(store, T0 + timedelta(days=30), window_days=21)
    assert sliding is not None and sliding.start == T0 + timedelta(days=9)
    store.evaluated_until = T0 + timedelta(days=29)
    assert create_from(store, sliding, timedelta(hours=48)) == T0 + timedelta(days=27)
    # an alert is revised only where this evaluation has the history it fired on
    assert judged_from(store, anchored) == T0
    assert judged_from(store, sliding) == T0 + timedelta(days=9 + 14)
    store.first_point_at = None
    assert window_for(store, now, window_days=21) is None


def revise(sessions: sessionmaker[Session], events: list[AlertEvent], now: datetime, judged_from: datetime,
           rules: frozenset[str] = frozenset({"orders.drop"})) -> list[str]:
    with sessions() as session:
        changes = AlertManager().reconcile(session, "jd", "jd-1", events, now=now, create_from=T0, revised=rules,
                                           judged_from=judged_from)
        session.commit()
    return [c.state for c in changes]


def test_an_alert_the_revised_data_no_longer_support_is_resolved_now(sessions: sessionmaker[Session]) -> None:
    # fired on hours a failed sync left empty; the backfill then brought the orders and no episode is left
    assert revise(sessions, [episode(T0 + 10 * H, None)], T0 + 12 * H, judged_from=T0) == ["firing"]
    assert revise(sessions, [], T0 + 20 * H, judged_from=T0) == ["resolved"]
    with sessions() as s:
        row = s.scalars(select(AlertRow)).one()
        assert (row.state, row.ends_at, row.resolved_by) == ("resolved", T0 + 20 * H, "revised")
    assert revise(sessions, [], T0 + 21 * H, judged_from=T0) == []


def test_only_judged_rules_and_starts_are_revised(sessions: sessionmaker[Session]) -> None:
    assert revise(sessions, [episode(T0 + 10 * H, None)], T0 + 12 * H, judged_from=T0) == ["firing"]
    # a rule this evaluation did not judge (a data alert, a rule no longer in the pack's alert rules) stays
    assert revise(sessions, [], T0 + 20 * H, judged_from=T0, rules=frozenset({"other.rule"})) == []
    # an alert starting before the history this evaluation judges with fully (a slid window) stays
    assert revise(sessions, [], T0 + 20 * H, judged_from=T0 + 11 * H) == []
    # the same episode judged on other history, its start moved by hours: the same alert, still open
    assert revise(sessions, [episode(T0 + 13 * H, None)], T0 + 20 * H, judged_from=T0) == []
    with sessions() as s:
        assert s.scalars(select(AlertRow)).one().state == "firing"
