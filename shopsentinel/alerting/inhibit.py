"""Inhibition: a firing root cause mutes the notifications of its symptoms in the same store.

Two kinds of root: a data outage of the store (``data.store_silent``) explains every other alert
of that store, and the root of an incident (``root_rank == 0``, see
:mod:`shopsentinel.alerting.incidents`) explains the other alerts of its incident (a UV crash
explains the orders and GMV drop after it). Like silences, inhibition mutes notifications only;
the symptom's state and history are kept, and the message says which root muted it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shopsentinel.store.state import AlertRow

STORE_ROOT_RULES = ("data.store_silent",)


def inhibiting_root(session: Session, row: AlertRow) -> AlertRow | None:
    """The firing alert that explains ``row``, if any (never ``row`` itself)."""
    same_incident = (AlertRow.incident == row.incident) & (AlertRow.root_rank == 0) if row.incident else None
    store_root = AlertRow.rule.in_(STORE_ROOT_RULES)
    condition = or_(store_root, same_incident) if same_incident is not None else store_root
    query = (
        select(AlertRow)
        .where(AlertRow.platform == row.platform, AlertRow.store == row.store, AlertRow.state == "firing")
        .where(AlertRow.id != row.id, AlertRow.starts_at <= row.starts_at)
        .where(condition)
        .order_by(AlertRow.starts_at, AlertRow.id)
    )
    if row.rule in STORE_ROOT_RULES:
        return None
    return session.scalars(query).first()


def firing_by_store(rows: Iterable[AlertRow]) -> dict[tuple[str, str], list[AlertRow]]:
    """Firing alerts per store, oldest first: what :func:`root_among` looks in."""
    index: dict[tuple[str, str], list[AlertRow]] = defaultdict(list)
    for r in rows:
        if r.state == "firing":
            index[(r.platform, r.store)].append(r)
    for alerts in index.values():
        alerts.sort(key=lambda r: (r.starts_at, r.id))
    return index


def root_among(row: AlertRow, firing: dict[tuple[str, str], list[AlertRow]]) -> AlertRow | None:
    """:func:`inhibiting_root` over firing alerts already loaded (one query per notification pass
    instead of one per alert)."""
    if row.rule in STORE_ROOT_RULES:
        return None
    for c in firing.get((row.platform, row.store), []):
        if c.starts_at > row.starts_at:
            break
        if c.id != row.id and (c.rule in STORE_ROOT_RULES or (row.incident and c.incident == row.incident and c.root_rank == 0)):
            return c
    return None


def inhibition_note(root: AlertRow) -> str:
    return f"已被根因告警抑制：{root.rule}（{root.metric}，{root.starts_at:%Y-%m-%d %H:%M} UTC 起）/ inhibited by root cause {root.rule}"


@dataclass(frozen=True)
class Inhibition:
    """Inhibition as a :class:`~shopsentinel.alerting.mute.Muter`: a firing root cause (looked up in
    ``firing``, see :func:`firing_by_store`) mutes its symptoms. Only alert rows can be inhibited
    (labels alone name no incident); the mute stage asks it about firing notifications only, a
    symptom's resolution is news of its own."""

    firing: dict[tuple[str, str], list[AlertRow]]

    def root(self, alert: AlertRow | Mapping[str, str]) -> AlertRow | None:
        return None if isinstance(alert, Mapping) else root_among(alert, self.firing)

    def mutes(self, alert: AlertRow | Mapping[str, str], now: datetime) -> bool:
        return self.root(alert) is not None

    def reason(self, alert: AlertRow | Mapping[str, str], now: datetime) -> str | None:
        root = self.root(alert)
        return inhibition_note(root) if root is not None else None


__all__ = ["STORE_ROOT_RULES", "Inhibition", "firing_by_store", "inhibiting_root", "inhibition_note", "root_among"]
