"""Grouping: one message per group of alerts (by store, configurable), sent on Alertmanager's
three timers, decided at an injected ``now``.

* ``group_wait`` — a new group waits this long before its first message, so the alerts of one
  incident that fire together arrive together;
* ``group_interval`` — after a message, the group is looked at again no sooner than this; it is
  sent again only for news: a new problem (an alert of an incident the group has not announced),
  a severity rise (an alert worse than any announced, still firing), or a problem that is over (every
  alert of an announced incident resolved). An alert joining a problem already announced at no worse
  severity is news to nobody: it is listed in the group's next message (its reminder or its
  recovery) and sends nothing of its own — one problem, one firing and one recovery message;
* ``repeat_interval`` — with nothing new, a still-firing group is re-sent after this long, titled
  【仍未恢复】.

A new problem and a recovered one are separate messages, each listing only its own alerts, so the
recovery of one incident never re-announces another still firing in the same store.

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


def _problem(alert: GroupedAlert) -> str:
    """The problem an alert belongs to: its incident, or the alert itself without one."""
    return alert.incident or f"~{alert.id}"


def _message(key: str, route: RouteMatch, alerts: list[GroupedAlert], members: list[GroupedAlert], *,
             repeat: bool) -> GroupMessage:
    ordered = root_first(alerts)
    title = ordered[0].title or ordered[0].labels.get("rule", key)
    return GroupMessage(
        key=key, group=key.split("@", 1)[0], receiver=route.receiver, title=f"【仍未恢复】{title}" if repeat else title,
        severity=max((_severity(a) for a in alerts), key=lambda s: s.rank), alerts=ordered,
        muted_count=sum(1 for a in members if a.muted_by), muted_note=muted_note(members), repeat=repeat,
        escalation_policy=route.escalation_policy,
    )


def flush_due(
    route: RouteMatch, alerts: list[GroupedAlert], states: dict[str, GroupState], now: datetime
) -> tuple[list[GroupMessage], dict[str, GroupState]]:
    """Messages due at ``now`` for the groups of ``alerts`` under ``route``, and the new states.

    ``alerts`` are the route's current alerts: firing ones, and resolved ones whose firing was
    announced (their problem's recovery may not have been announced yet).
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
        firing = [a for a in listed if a.state == "firing"]
        problems: dict[str, list[GroupedAlert]] = {}
        for a in listed:
            problems.setdefault(_problem(a), []).append(a)
        announced = {p for p, group in problems.items() if any(f"{a.id}:firing" in state.sent for a in group)}
        told = [a for a in firing if f"{a.id}:firing" in state.sent]
        level = max((_severity(a).rank for a in told), default=-1)
        worse = {_problem(a) for a in firing if _severity(a).rank > level} if told else set()
        new = sorted({_problem(a) for a in firing if _problem(a) not in announced} | worse)
        over = sorted(p for p in announced if all(a.state == "resolved" for a in problems[p])
                      and any(a.news_key not in state.sent for a in problems[p]))
        repeat_due = state.last_sent_at is not None and now - state.last_sent_at >= route.repeat_interval
        stamp = f"{key}@{_stamp(now)}"
        sent_now: list[GroupMessage] = []
        if firing and (new or repeat_due):
            shown = firing if repeat_due else [a for a in firing if _problem(a) in new]
            sent_now.append(_message(stamp, route, shown, members, repeat=not new))
        if over:
            shown = [a for p in over for a in problems[p]]
            sent_now.append(_message(stamp + ("/resolved" if sent_now else ""), route, shown, members, repeat=False))
        told_now = announced | set(new) | ({_problem(a) for a in firing} if repeat_due else set())
        # what the group has announced: the firing of every alert of a problem it told (an alert that
        # joined quietly too, so its recovery is listed with its problem's), and the recoveries it told
        sent = {f"{a.id}:firing" for a in listed if _problem(a) in told_now and _problem(a) not in over}
        sent |= {a.news_key for p in over for a in problems[p]}
        if sent_now:
            messages += sent_now
            state = replace(state, last_sent_at=now, sent=frozenset(sent))
        else:
            state = replace(state, sent=frozenset(sent))
        if firing:
            new_states[key] = replace(state, next_flush_at=now + route.group_interval)
    for key, state in states.items():  # groups that have no alerts left: keep until their wait ends
        if key not in groups and key not in new_states and now < state.next_flush_at and state.last_sent_at is None:
            new_states[key] = state
    return messages, new_states


__all__ = ["GroupMessage", "GroupState", "GroupedAlert", "flush_due", "group_key", "muted_note", "root_first"]
