"""The notification pipeline of one tick, in stages:

alert state changes → mute (:class:`~shopsentinel.alerting.mute.MuteStage`: silences, recurring
time intervals, maintenance windows, "mute until resolved", inhibition) → the in-app inbox (one
entry per state change, muted ones flagged with the note) → route (tree) → group (timers) → one
outbox entry per group message and channel of its receiver (kinds from the severity policy,
recipients from subscriptions) → escalation pages for alerts nobody acknowledged.

The mute stage is built once per run and is the only place any stage asks whether an alert is
muted. Every entry goes to the one durable outbox stream through one writer (:func:`enqueue`), in
one transaction with the group timers, so a crash between deciding and sending loses nothing;
:mod:`shopsentinel.notify.delivery` sends them all (the inbox's through the service's dispatcher).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shopsentinel.alerting import routing_repository as repo
from shopsentinel.alerting.escalation import EscalationPolicy, due_steps, step_target
from shopsentinel.alerting.grouping import GroupedAlert, GroupMessage, GroupState, flush_due
from shopsentinel.alerting.labels import routing_labels
from shopsentinel.alerting.manager import contract_line
from shopsentinel.alerting.mute import MuteStage
from shopsentinel.alerting.routing import RouteMatch, Subscription, match_routes, recipients
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.core.types import Severity
from shopsentinel.notify import Notification
from shopsentinel.notify.links import ActionLinkSigner, LinkAction
from shopsentinel.notify.outbox import INBOX
from shopsentinel.notify.repository import channels_of
from shopsentinel.store.state import AlertEventRow, AlertRow, EscalationStateRow, OutboxRow, UserRow

MAX_KEY = 200
PAGING_MEDIA = ("sms", "phone")
STATE_EVENTS = ("firing", "resolved")
# State changes recorded this long ago and still unannounced are no longer announced in the inbox
# (bounds the scan of alert_events; the service announces each change in the tick that records it).
INBOX_HORIZON = timedelta(days=30)


def outbox_key(text: str) -> str:
    return text if len(text) <= MAX_KEY else text[: MAX_KEY - 41] + "~" + hashlib.sha1(text.encode()).hexdigest()


def enqueue(session: Session, notification: Notification, alert_id: str, channel: str, now: datetime, *,
            muted: bool = False, checked: bool = False) -> bool:
    """The one writer of the outbox: one entry for ``channel`` (:data:`~shopsentinel.notify.outbox.INBOX`
    for the in-app inbox) unless its key is there already (``checked``: the caller made sure)."""
    if not checked and session.scalars(select(OutboxRow.id).where(OutboxRow.key == notification.key)).first() is not None:
        return False
    session.add(OutboxRow(key=notification.key, alert_id=alert_id, payload=notification.model_dump(mode="json"),
                          muted=muted, created_at=now, status="pending", attempts=0, last_error="", channel=channel))
    return True


def announce_state_changes(session: Session, now: datetime, mute: MuteStage) -> int:
    """The in-app inbox stage: one entry per alert state change (``firing``/``resolved`` in
    ``alert_events``) not announced yet, keyed ``{alert id}:{state}``, muted (with the note) when
    the mute stage says so. Returns how many entries were written."""
    key = AlertEventRow.alert_id + ":" + AlertEventRow.event
    announced = select(OutboxRow.id).where(OutboxRow.key == key).exists()
    query = (select(AlertEventRow, AlertRow).join(AlertRow, AlertRow.id == AlertEventRow.alert_id)
             .where(AlertEventRow.event.in_(STATE_EVENTS), AlertEventRow.recorded_at >= now - INBOX_HORIZON, ~announced)
             .order_by(AlertEventRow.id))  # fmt: skip
    written, seen = 0, set()
    for event, row in session.execute(query).all():
        if (row.id, event.event) in seen:
            continue
        seen.add((row.id, event.event))
        muted = mute.check(row, now, state=event.event)
        notification = Notification(key=f"{row.id}:{event.event}", title=row.message or f"{row.rule} {row.platform} {row.store}",
                                    severity=Severity(row.severity), alerts=[contract_line(row, state=event.event, ts=event.ts)],
                                    id=row.id, muted_note=muted.note)
        written += enqueue(session, notification, row.id, INBOX, now, muted=bool(muted), checked=True)
    return written


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
    """Run the pipeline: mute, in-app inbox, route, group, escalate; write what is due now to the
    outbox. Returns how many outbox entries were written; the caller commits. With ``links`` (the
    service has a public address) each message carries signed 认领 / 查看详情 links for its first alert."""
    config = repo.routing_config(session)
    subs = [s for _, s in repo.subscriptions(session)]
    old_states = repo.group_states(session)
    candidates = _candidates(session, old_states)
    # every firing alert is a candidate: inhibiting roots are among them
    mute = MuteStage.load(session, now, config, firing=[r for r in candidates if r.state == "firing"])
    written = announce_state_changes(session, now, mute)
    by_route: dict[RouteMatch, list[GroupedAlert]] = {}
    for row in candidates:
        labels = routing_labels(row)
        muted = mute.check(row, now)
        if muted.silenced:
            continue  # silenced, in a mute window, or muted until resolved: no message at all
        root = muted.root  # an inhibited symptom is counted in its root's message
        grouped = GroupedAlert(row.id, labels, row.state, row.starts_at, row.root_rank, row.incident, contract_line(row),
                               root.rule if root else None, title=row.message or row.rule)
        for match in match_routes(config.route, labels):
            by_route.setdefault(match, []).append(grouped)
    new_states = {k: v for k, v in old_states.items() if not any(v.receiver == m.receiver for m in by_route)}
    for match, alerts in by_route.items():
        mine = {k: v for k, v in old_states.items() if v.receiver == match.receiver}
        messages, states = flush_due(match, alerts, mine, now)
        new_states.update(states)
        for message in messages:
            written += _send_group(session, message, config, subs, now, links)
    repo.save_group_states(session, old_states, new_states, now)
    written += escalate(session, config, now, mute)
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
        written += enqueue(session, notification, message.alerts[0].id, channel.name, now)
    return written


def escalate(session: Session, config: RoutingConfig, now: datetime, mute: MuteStage | None = None) -> int:
    """Page the next steps of each unacknowledged firing alert routed to an escalation policy."""
    policies = repo.escalation_policies(session)
    if not policies:
        return 0
    written = 0
    firing = session.scalars(select(AlertRow).where(AlertRow.state == "firing")
                             .order_by(AlertRow.starts_at, AlertRow.id)).all()
    mute = mute or MuteStage.load(session, now, config, firing=firing)
    for row in [r for r in firing if r.acked_at is None]:
        labels = routing_labels(row)
        if mute.check(row, now):
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
            written += enqueue(session, notification, row.id, channel.name, now)
    if state is None:
        session.add(EscalationStateRow(alert_id=row.id, policy=policy.name, paged=due[-1].index + 1, updated_at=now))
    else:
        state.paged, state.updated_at = due[-1].index + 1, now
    return written


__all__ = ["INBOX_HORIZON", "addresses", "announce_state_changes", "enqueue", "escalate", "outbox_key", "route_and_group",
           "routing_labels"]
