"""Applying a validated :class:`~.loader.Plan` in one session (the caller commits once): the
``deleteXxx`` lists first, then every object created or replaced and marked as provisioned from its
file, then every object an earlier start provisioned that the files no longer hold removed. Objects
made in the web or through the API are never removed unless a ``deleteXxx`` list names them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.alerting import routing_repository as routing_repo
from shopsentinel.alerting.routing import ROLES
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.api.provisioning.loader import Plan
from shopsentinel.core.secrets import SecretBox
from shopsentinel.notify import repository as channel_repo
from shopsentinel.notify.registry import ChannelRegistry
from shopsentinel.store import oncall
from shopsentinel.store import provisioned as marks
from shopsentinel.store.repository import audit
from shopsentinel.store.state import ChannelRow, EscalationPolicyRow, SubscriptionRow

ACTOR = "provisioning"


def _remove(session: Session, kind: str, ref: str) -> bool:
    """Delete the stored ``kind`` object ``ref``; whether there was one."""
    if kind == "channel":
        row: object = session.scalars(select(ChannelRow).where(ChannelRow.name == ref)).first()
    elif kind == "escalation_policy":
        row = session.scalars(select(EscalationPolicyRow).where(EscalationPolicyRow.name == ref)).first()
    elif kind == "subscription":
        row = session.get(SubscriptionRow, int(ref)) if ref.isdigit() else None
    elif kind == "oncall":
        return oncall.delete_schedule(session, ref)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def apply_plan(session: Session, plan: Plan, *, registry: ChannelRegistry, box: Callable[[], SecretBox],
               now: datetime) -> Counter[str]:
    """Apply ``plan`` (see the module docstring); counts of ``created``, ``updated``, ``removed``.
    ``box`` is called only when a channel has settings to seal."""
    counts: Counter[str] = Counter()

    for delete in plan.deletes:
        marker = marks.marker(session, delete.kind, delete.name)
        ref = marker.ref if marker is not None else delete.name
        if delete.kind == "subscription" and marker is None:
            continue  # a subscription has a name only when a file made it
        if _remove(session, delete.kind, ref):
            counts["removed"] += 1
        marks.unmark(session, delete.kind, ref=ref)

    sealer: SecretBox | None = None
    for item in plan.channels:
        body = item.value.body
        sealer = sealer or box()
        sealed = channel_repo.seal_channel_settings(registry, sealer, body.kind, item.value.settings)
        row = session.scalars(select(ChannelRow).where(ChannelRow.name == body.name)).first()
        if row is None:
            session.add(ChannelRow(name=body.name, kind=body.kind, medium=body.medium, receiver=body.receiver,
                                   settings=sealed, per_minute=body.per_minute, created_by=ACTOR, created_at=now))
            counts["created"] += 1
        else:
            row.kind, row.medium, row.receiver, row.settings, row.per_minute = (
                body.kind, body.medium, body.receiver, sealed, body.per_minute)
            counts["updated"] += 1
        marks.mark(session, "channel", item.name, item.name, item.file, now)

    for policy_item in plan.policies:
        stored = policy_item.value.model_dump(mode="json")
        policy_row = session.scalars(select(EscalationPolicyRow).where(EscalationPolicyRow.name == policy_item.name)).first()
        if policy_row is None:
            session.add(EscalationPolicyRow(name=policy_item.name, body=stored, created_by=ACTOR, created_at=now))
            counts["created"] += 1
        elif policy_row.body != stored:
            policy_row.body = stored
            counts["updated"] += 1
        marks.mark(session, "escalation_policy", policy_item.name, policy_item.name, policy_item.file, now)

    for sub_item in plan.subscriptions:
        sub_body = sub_item.value.model_dump(mode="json")
        marker = marks.marker(session, "subscription", sub_item.name)
        sub_row = session.get(SubscriptionRow, int(marker.ref)) if marker is not None and marker.ref.isdigit() else None
        if sub_row is None:
            sub_row = SubscriptionRow(body=sub_body, created_by=ACTOR, created_at=now)
            session.add(sub_row)
            session.flush()
            counts["created"] += 1
        elif sub_row.body != sub_body:
            sub_row.body = sub_body
            counts["updated"] += 1
        marks.mark(session, "subscription", sub_item.name, str(sub_row.id), sub_item.file, now)

    for schedule in plan.schedules:
        existed = oncall.get_schedule(session, schedule.name) is not None
        oncall.put_schedule(session, schedule.value, roles=ROLES, actor=ACTOR, now=now)
        counts["updated" if existed else "created"] += 1
        marks.mark(session, "oncall", schedule.name, schedule.name, schedule.file, now)

    routing_marker = marks.marker(session, "routing", marks.ROUTING_REF)
    if plan.routing is not None:
        if routing_repo.stored_routing_config(session) != plan.routing.value:
            routing_repo.save_routing_config(session, plan.routing.value, ACTOR, now)
            counts["updated"] += 1
        marks.mark(session, "routing", marks.ROUTING_REF, marks.ROUTING_REF, plan.routing.file, now)
    elif routing_marker is not None:  # the files no longer hold the routing document: back to the default
        if routing_repo.stored_routing_config(session) != RoutingConfig():
            routing_repo.save_routing_config(session, RoutingConfig(), ACTOR, now)
        marks.unmark(session, "routing")
        counts["removed"] += 1

    for kind in ("channel", "escalation_policy", "subscription", "oncall"):
        wanted = plan.names(kind)
        for marker in marks.markers(session, kind):
            if marker.name in wanted:
                continue
            if _remove(session, kind, marker.ref):
                counts["removed"] += 1
            session.delete(marker)
            session.flush()

    audit(session, ACTOR, "provisioning.apply", plan.directory, now, files=len(plan.files),
          created=counts["created"], updated=counts["updated"], removed=counts["removed"])
    return counts


__all__ = ["ACTOR", "apply_plan"]
