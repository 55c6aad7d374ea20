"""The notification pipeline of one tick, in stages:

alerts → mute (silences, recurring time intervals; inhibition marks symptoms) → route (tree) →
group (timers) → one outbox entry per group message and channel of its receiver (kinds from the
severity policy, recipients from subscriptions) → escalation pages for alerts nobody acknowledged.

Everything is written to the durable outbox in one transaction with the group timers, so a crash
between deciding and sending loses nothing; :mod:`shopsentinel.notify.delivery` sends.
The per-alert outbox entries written by the alert manager stay the in-app record (the inbox).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shopsentinel.alerting import routing_repository as repo
from shopsentinel.alerting.escalation import EscalationPolicy, due_steps, step_target
from shopsentinel.alerting.grouping import GroupedAlert, GroupMessage, GroupState, flush_due
from shopsentinel.alerting.inhibit import firing_by_store, root_among
from shopsentinel.alerting.manager import active_silences, alert_labels, contract_line
from shopsentinel.alerting.routing import Labels, RouteMatch, Subscription, match_routes, recipients
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.alerting.silences import Muter
from shopsentinel.core.types import Severity
from shopsentinel.notify import Notification
from shopsentinel.notify.links import ActionLinkSigner, LinkAction
from shopsentinel.notify.repository import channels_of
from shopsentinel.store.state import AlertRow, ChannelRow, EscalationStateRow, OutboxRow, UserRow

MAX_KEY = 200
PAGING_MEDIA = ("sms", "phone")


def routing_labels(row: AlertRow) -> Labels:
    return {**alert_labels(row), "category": row.category}


def outbox_key(text: str) -> str:
    return text if len(text) <= MAX_KEY else text[: MAX_KEY - 41] + "~" + hashlib.sha1(text.encode()).hexdigest()


def _enqueue(session: Session, notification: Notification, alert_id: str, channel: ChannelRow, now: datetime) -> bool:
    if session.scalars(select(OutboxRow.id).where(OutboxRow.key == notification.key)).first() is not None:
        return False
    session.add(OutboxRow(key=notification.key, alert_id=alert_id, payload=notification.model_dump(mode="json"),
                          muted=False, created_at=now, status="pending", attempts=0, last_error="", channel=channel.name))
    return True


def addresses(session: Session, users: list[str], medium: str) -> list[str]:
    """Where a paging medium reaches these people: a name in the user directory (``users``) gives that
    user's phone (SMS, voice) — inactive users and users without one are skipped; anything else is
    taken as an address already (a phone number listed directly as a role member)."""
    if not users:
        return []
    directory = {u.username: u for u in session.scalars(select(UserRow).where(UserRow.username.in_(users))).all()}
    out: list[str] = []
    for user in users:
        row = directory.get(user)
        address = user if row is None else (row.phone if row.active else "")
        if address and address not in out:
            out.append(address)
    return out


def _candidates(session: Session, states: dict[str, GroupState]) -> list[AlertRow]:
    """Firing alerts, and resolved ones whose firing some group announced (their resolution is news)."""
    announced = sorted({k.rsplit(":", 1)[0] for s in states.values() for k in s.sent if k.endswith(":firing")})
    condition = AlertRow.state == "firing"
    if announced:
        condition = or_(condition, AlertRow.id.in_(announced))
    return list(session.scalars(select(AlertRow).where(condition).order_by(AlertRow.starts_at, AlertRow.id)).all())


def route_and_group(session: Session, now: datetime, links: ActionLinkSigner | None = None) -> int:
    """Run the mute, route and group stages; write the messages due now to the outbox. Returns
    how many outbox entries were written; the caller commits. With ``links`` (the service has a
    public address) each message carries signed 认领 / 查看详情 links for its first alert."""
    config = repo.routing_config(session)
    subs = [s for _, s in repo.subscriptions(session)]
    muters: list[Muter] = [*active_silences(session, now), *config.time_intervals]
    old_states = repo.group_states(session)
    by_route: dict[RouteMatch, list[GroupedAlert]] = {}
    candidates = _candidates(session, old_states)
    firing = firing_by_store(candidates)  # every firing alert is a candidate: roots are among them
    for row in candidates:
        labels = routing_labels(row)
        if row.muted_by is not None or any(m.mutes(labels, now) for m in muters):
            continue  # muted until resolved by hand, or silenced / outside the window
        root = root_among(row, firing) if row.state == "firing" else None
        grouped = GroupedAlert(row.id, labels, row.state, row.starts_at, row.root_rank, row.incident, contract_line(row),
                               root.rule if root else None, title=row.message or row.rule)
        for match in match_routes(config.route, labels):
            by_route.setdefault(match, []).append(grouped)
    new_states = {k: v for k, v in old_states.items() if not any(v.receiver == m.receiver for m in by_route)}
    written = 0
    for match, alerts in by_route.items():
        mine = {k: v for k, v in old_states.items() if v.receiver == match.receiver}
        messages, states = flush_due(match, alerts, mine, now)
        new_states.update(states)
        for message in messages:
            written += _send_group(session, message, config, subs, now, links)
    repo.save_group_states(session, old_states, new_states, now)
    written += escalate(session, config, now)
    return written


def _send_group(session: Session, message: GroupMessage, config: RoutingConfig, subs: list[Subscription], now: datetime,
                links: ActionLinkSigner | None = None) -> int:
    policy = config.severity_policy
    first = message.alerts[0]
    ack_url = detail_url = None
    if links is not None and first.state == "firing":
        ack_url, detail_url = links.url(first.id, LinkAction.ACK, now=now), links.url(first.id, LinkAction.VIEW, now=now)
    kinds = policy.channels_for(message.severity)
    users = recipients(message.worst_labels(), subs, config.members, policy)
    written = 0
    for channel in channels_of(session, message.receiver):
        if channel.medium not in kinds:
            continue
        to = addresses(session, [u.user for u in users if channel.medium in u.channels], channel.medium) \
            if channel.medium in PAGING_MEDIA else []
        if channel.medium in PAGING_MEDIA and not to:
            continue
        notification = Notification(key=outbox_key(f"{message.key}>{channel.name}"), title=message.title,
                                    severity=message.severity, alerts=message.lines(), id=message.alerts[0].id,
                                    muted_note=message.muted_note, recipients=to, ack_url=ack_url, detail_url=detail_url)
        written += _enqueue(session, notification, message.alerts[0].id, channel, now)
    return written


def escalate(session: Session, config: RoutingConfig, now: datetime) -> int:
    """Page the next steps of each unacknowledged firing alert routed to an escalation policy."""
    policies = repo.escalation_policies(session)
    if not policies:
        return 0
    written = 0
    muters: list[Muter] = [*active_silences(session, now), *config.time_intervals]
    firing = firing_by_store(session.scalars(select(AlertRow).where(AlertRow.state == "firing")).all())
    rows = [r for alerts in firing.values() for r in alerts if r.acked_at is None]
    for row in rows:
        labels = routing_labels(row)
        if row.muted_by is not None or any(m.mutes(labels, now) for m in muters) or root_among(row, firing) is not None:
            continue  # muted alerts page nobody; a symptom escalates through its root cause
        for match in match_routes(config.route, labels):
            policy = policies.get(match.escalation_policy or "")
            if policy is not None:
                written += _escalate_one(session, row, match, policy, config, now)
    return written


def _escalate_one(session: Session, row: AlertRow, match: RouteMatch, policy: EscalationPolicy,
                  config: RoutingConfig, now: datetime) -> int:
    state = session.get(EscalationStateRow, row.id)
    paged = state.paged if state else 0
    # Escalation counts from when the service learned of the alert, not the (earlier) episode start.
    due = due_steps(policy, row.created_at, row.acked_at, now, already_paged=paged)
    if not due:
        return 0
    written = 0
    channels = channels_of(session, match.receiver)
    paging = [c for c in channels if c.medium in PAGING_MEDIA] or [c for c in channels if c.medium == "im"]
    for step in due:
        targets = step_target(step.step, config.schedules, config.members, now)
        title = f"【升级 {step.index + 1}/{len(policy.steps)}】{row.message or row.rule}（{step.step.after_minutes} 分钟未认领）"
        for channel in paging:
            notification = Notification(key=outbox_key(f"esc:{row.id}:{step.index}>{channel.name}"), title=title,
                                        severity=Severity(row.severity), alerts=[contract_line(row)], id=row.id,
                                        recipients=addresses(session, targets, channel.medium)
                                        if channel.medium in PAGING_MEDIA else [])
            written += _enqueue(session, notification, row.id, channel, now)
    if state is None:
        session.add(EscalationStateRow(alert_id=row.id, policy=policy.name, paged=due[-1].index + 1, updated_at=now))
    else:
        state.paged, state.updated_at = due[-1].index + 1, now
    return written


__all__ = ["addresses", "escalate", "outbox_key", "route_and_group", "routing_labels"]
