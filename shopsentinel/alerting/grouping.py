"""Grouping: one message per group of alerts (by store, configurable), sent on Alertmanager's
three timers, decided at an injected ``now``.

* ``group_wait`` — a new group waits this long before its first message, so the alerts of one
  incident that fire together arrive together;
* ``group_interval`` — after a message, the group is looked at again no sooner than this; it is
  sent again only if something is new (an alert fired or resolved);
* ``repeat_interval`` — with nothing new, a still-firing group is re-sent after this long.

Inhibited symptoms are not listed: the message counts them under their root cause
("已抑制 N 条由…引起的告警"), root cause first. :func:`flush_due` is pure: it takes the alerts
and the persisted :class:`GroupState` of each group, and returns the messages due now and the
new states (a group whose alerts are all resolved and announced is dropped).

>>> from datetime import UTC, datetime, timedelta
>>> from shopsentinel.alerting.routing import RouteMatch
>>> route = RouteMatch("ops", ("store",), timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))
>>> t0 = datetime(2026, 11, 11, tzinfo=UTC)
>>> a = GroupedAlert("a1", {"store": "tm-1", "severity": "warning", "rule": "uv"}, "firing", t0, 0, "", {})
>>> messages, states = flush_due(route, [a], {}, t0)
>>> messages, list(states)
([], ['ops|store=tm-1'])
>>> [m.key for m in flush_due(route, [a], states, t0 + timedelta(seconds=30))[0]]
['ops|store=tm-1@2026-11-11T00:00:30Z']
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shopsentinel.alerting.routing import Labels, RouteMatch
from shopsentinel.core.types import Severity


@dataclass(frozen=True, slots=True)
class GroupedAlert:
    """An alert as grouping sees it. ``muted_by`` names the root cause that inhibits it."""

    id: str
    labels: Labels
    state: str  # firing | resolved
    starts_at: datetime
    root_rank: int
    incident: str
    line: dict[str, Any]
    muted_by: str | None = None
    title: str = ""

    @property
    def news_key(self) -> str:
        return f"{self.id}:{self.state}"


@dataclass(frozen=True, slots=True)
class GroupState:
    """What a group has already done; persisted between ticks."""

    key: str
    receiver: str
    first_seen: datetime
    next_flush_at: datetime
    last_sent_at: datetime | None = None
    sent: frozenset[str] = field(default_factory=frozenset)  # "id:state" already announced

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "receiver": self.receiver, "first_seen": self.first_seen.isoformat(),
                "next_flush_at": self.next_flush_at.isoformat(),
                "last_sent_at": self.last_sent_at.isoformat() if self.last_sent_at else None,
                "sent": sorted(self.sent)}  # fmt: skip

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> GroupState:
        last = raw.get("last_sent_at")
        return cls(raw["key"], raw["receiver"], datetime.fromisoformat(raw["first_seen"]),
                   datetime.fromisoformat(raw["next_flush_at"]), datetime.fromisoformat(last) if last else None,
                   frozenset(raw.get("sent", ())))  # fmt: skip


@dataclass(frozen=True, slots=True)
class GroupMessage:
    """One message for one group: the alerts to list (root cause first) and the muted count."""

    key: str
    group: str
    receiver: str
    title: str
    severity: Severity
    alerts: list[GroupedAlert]
    muted_count: int
    muted_note: str | None
    repeat: bool
    escalation_policy: str | None = None  # the route's policy: its first step names who is on duty

    def lines(self) -> list[dict[str, Any]]:
        return [a.line for a in self.alerts]

    def worst_labels(self) -> Labels:
        """The labels of the most severe alert listed (what routing and escalation look at)."""
        return max(self.alerts, key=lambda a: _severity(a).rank).labels


def group_key(receiver: str, labels: Labels, by: tuple[str, ...]) -> str:
    return receiver + "|" + ",".join(f"{name}={labels.get(name, '')}" for name in by)


def _severity(alert: GroupedAlert) -> Severity:
    try:
        return Severity(alert.labels.get("severity", "info"))
    except ValueError:
        return Severity.INFO


def root_first(alerts: list[GroupedAlert]) -> list[GroupedAlert]:
    """Firing before resolved; within that, roots (rank 0) first, then by start time."""
    return sorted(alerts, key=lambda a: (a.state != "firing", a.root_rank, a.starts_at, a.id))


def muted_note(alerts: list[GroupedAlert]) -> str | None:
    """"已抑制 N 条由 <root> 引起的告警（symptom rules）" per root cause, or None."""
    by_root: Counter[str] = Counter(a.muted_by for a in alerts if a.muted_by)
    if not by_root:
        return None
    parts = []
    for root, count in sorted(by_root.items()):
        rules = sorted({a.labels.get("rule", "") for a in alerts if a.muted_by == root})
        parts.append(f"已抑制 {count} 条由 {root} 引起的告警（{', '.join(rules)}）")
    return "；".join(parts)


def _stamp(now: datetime) -> str:
    return f"{now:%Y-%m-%dT%H:%M:%SZ}"


def flush_due(
    route: RouteMatch, alerts: list[GroupedAlert], states: dict[str, GroupState], now: datetime
) -> tuple[list[GroupMessage], dict[str, GroupState]]:
    """Messages due at ``now`` for the groups of ``alerts`` under ``route``, and the new states.

    ``alerts`` are the route's current alerts: firing ones, and resolved ones whose resolution
    may not have been announced yet (announced ones are ignored).
    """
    groups: dict[str, list[GroupedAlert]] = {}
    for alert in alerts:
        groups.setdefault(group_key(route.receiver, alert.labels, route.group_by), []).append(alert)
    messages: list[GroupMessage] = []
    new_states: dict[str, GroupState] = {}
    for key, members in sorted(groups.items()):
        state = states.get(key)
        if state is None:
            if not any(a.state == "firing" and not a.muted_by for a in members):
                continue  # nothing to announce: resolved before ever being sent, or only symptoms
            state = GroupState(key, route.receiver, now, now + route.group_wait)
        if now < state.next_flush_at:
            new_states[key] = state
            continue
        listed = [a for a in members if not a.muted_by]
        current = {a.news_key for a in listed}
        news = current - state.sent
        firing = [a for a in listed if a.state == "firing"]
        repeat_due = state.last_sent_at is not None and now - state.last_sent_at >= route.repeat_interval
        shown = [a for a in listed if a.state == "firing" or a.news_key in news]
        if news or (firing and repeat_due):
            ordered = root_first(shown)
            messages.append(GroupMessage(
                key=f"{key}@{_stamp(now)}", group=key, receiver=route.receiver,
                title=ordered[0].title or ordered[0].labels.get("rule", key),
                severity=max((_severity(a) for a in shown), key=lambda s: s.rank),
                alerts=ordered, muted_count=sum(1 for a in members if a.muted_by),
                muted_note=muted_note(members), repeat=not news, escalation_policy=route.escalation_policy,
            ))  # fmt: skip
            state = replace(state, last_sent_at=now, sent=frozenset(current))
        if firing:
            new_states[key] = replace(state, next_flush_at=now + route.group_interval)
    for key, state in states.items():  # groups that have no alerts left: keep until their wait ends
        if key not in groups and key not in new_states and now < state.next_flush_at and state.last_sent_at is None:
            new_states[key] = state
    return messages, new_states


__all__ = ["GroupMessage", "GroupState", "GroupedAlert", "flush_due", "group_key", "muted_note", "root_first"]
