"""Inhibition: a firing root cause mutes the notifications of its symptoms in the same store.

Two kinds of root: a data outage of the store (``data.store_silent``) explains every other alert
of that store, and the root of an incident (``root_rank == 0``, see
:mod:`shopsentinel.alerting.incidents`) explains the other alerts of its incident (a UV crash
explains the orders and GMV drop after it). Like silences, inhibition mutes notifications only;
the symptom's state and history are kept, and the message says which root muted it.
"""

from __future__ import annotations

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


def inhibition_note(root: AlertRow) -> str:
    return f"已被根因告警抑制：{root.rule}（{root.metric}，{root.starts_at:%Y-%m-%d %H:%M} UTC 起）/ inhibited by root cause {root.rule}"


__all__ = ["STORE_ROOT_RULES", "inhibiting_root", "inhibition_note"]
