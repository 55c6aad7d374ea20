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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shopsentinel.alerting import routing_repository as repo
from shopsentinel.alerting.escalation import EscalationPolicy, due_steps, step_target
from shopsentinel.alerting.grouping import GroupedAlert, GroupMessage, GroupState, flush_due, group_key
from shopsentinel.alerting.labels import routing_labels
from shopsentinel.alerting.manager import contract_line
from shopsentinel.alerting.mute import MuteStage
from shopsentinel.alerting.routing import RouteMatch, Subscription, match_routes, recipients
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.core.types import PLATFORM_NAMES_ZH, Severity
from shopsentinel.notify import Notification
from shopsentinel.notify.base import Mention
from shopsentinel.notify.charts import ChartPoint, ChartSpec
from shopsentinel.notify.links import ActionLinkSigner, LinkAction
from shopsentinel.notify.outbox import INBOX
from shopsentinel.notify.repository import channels_of
from shopsentinel.notify.templates import IM_TOP_ALERTS, LABELS, format_duration
from shopsentinel.store.state import AlertEventRow, AlertRow, EscalationStateRow, OutboxRow, PointRow, UserRow

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


ChartSource = Callable[[Session, AlertRow, datetime], list[dict[str, Any]]]
"""Hourly ``{ts, value, expected, lower, upper}`` around an alert (the service passes the detector's
band, :func:`shopsentinel.runtime.detail.alert_series`); without one the stored points are drawn
against the alert's own band."""

IM_KINDS = ("dingtalk", "wecom", "feishu")
CHART_KINDS = (*IM_KINDS, "email")
CHART_BEFORE = timedelta(hours=48)
CHART_AFTER = timedelta(hours=6)


def role_members(session: Session, config: RoutingConfig) -> dict[str, list[str]]:
    """Who holds each role: the routing config's members, then every active user of the directory
    whose duties include it."""
    members = {role: list(names) for role, names in config.members.items()}
    for user in session.scalars(select(UserRow).where(UserRow.active.is_(True)).order_by(UserRow.username)).all():
        for duty in user.duties or []:
            names = members.setdefault(str(duty), [])
            if user.username not in names:
                names.append(user.username)
    return members


def _is_phone(text: str) -> bool:
    return text.lstrip("+").replace("-", "").replace(" ", "").isdigit()


def mentions_for(session: Session, users: list[str], kind: str) -> list[Mention]:
    """The people to @-mention in an IM message of channel ``kind``: each directory user (active) with
    their mobile and their user id on that platform (``im_ids[kind]``); a bare phone number as itself."""
    if not users:
        return []
    directory = {u.username: u for u in session.scalars(select(UserRow).where(UserRow.username.in_(users))).all()}
    out: list[Mention] = []
    for user in dict.fromkeys(users):
        row = directory.get(user)
        if row is None:
            if _is_phone(user):
                out.append(Mention(name=user, mobile=user))
            continue
        if row.active:
            out.append(Mention(name=row.display_name or row.username, mobile=row.phone or "",
                               user_id=str((row.im_ids or {}).get(kind) or "")))
    return out


def _directory_user(session: Session, users: list[str]) -> str | None:
    """The first of ``users`` that is an active person of the directory: whom a 认领 link is issued to."""
    for user in users:
        row = session.scalars(select(UserRow).where(UserRow.username == user)).first()
        if row is not None and row.active:
            return row.username
    return None


def _chart_spec(session: Session, row: AlertRow | None, now: datetime, charts: ChartSource | None) -> ChartSpec | None:
    """The chart of a message's first alert: the detector's series and band when the service gives
    them, else the stored points of the alert's metric against the band the alert was judged by."""
    if row is None:
        return None
    title = f"{row.metric} · {PLATFORM_NAMES_ZH.get(row.platform, row.platform)} {row.store}" + (f" · {row.sku}" if row.sku else "")
    marker = f"{row.starts_at:%Y-%m-%dT%H:%M:%SZ}"
    series: list[dict[str, Any]] = charts(session, row, now) if charts is not None else []
    if not series:
        start = int((row.starts_at - CHART_BEFORE).timestamp())
        end = int(min(now, (row.ends_at or now) + CHART_AFTER).timestamp())
        stored = session.execute(select(PointRow.ts, PointRow.value).where(
            PointRow.platform == row.platform, PointRow.store == row.store, PointRow.sku == row.sku,
            PointRow.metric == row.metric, PointRow.ts >= start, PointRow.ts <= end).order_by(PointRow.ts)).all()
        band = {"expected": row.expected, "lower": row.lower, "upper": row.upper}
        series = [{"ts": f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%dT%H:%M:%SZ}", "value": value, **band}
                  for ts, value in stored] or [{"ts": marker, "value": row.value, **band}]
    points = [ChartPoint(ts=str(p["ts"]), value=p.get("value"), expected=p.get("expected"), lower=p.get("lower"),
                         upper=p.get("upper")) for p in series]
    return ChartSpec(title=title, points=points, marker_ts=marker) if points else None


def route_and_group(session: Session, now: datetime, links: ActionLinkSigner | None = None,
                    charts: ChartSource | None = None) -> int:
    """Run the pipeline: mute, in-app inbox, route, group, escalate; write what is due now to the
    outbox. Returns how many outbox entries were written; the caller commits. With ``links`` (the
    service has a public address) each message carries signed 认领 / 查看详情 links for its group and
    a signed link to its chart image."""
    config = repo.routing_config(session, now)  # each role starts with the person on duty now
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
        grouped = GroupedAlert(row.id, labels, row.state, row.starts_at, row.root_rank, row.incident, _line(row),
                               root.rule if root else None, title=row.message or row.rule)
        for match in match_routes(config.route, labels):
            by_route.setdefault(match, []).append(grouped)
    new_states = {k: v for k, v in old_states.items() if not any(v.receiver == m.receiver for m in by_route)}
    context = _Context(config, subs, role_members(session, config), repo.escalation_policies(session), links, charts)
    for match, alerts in by_route.items():
        mine = {k: v for k, v in old_states.items() if v.receiver == match.receiver}
        messages, states = flush_due(match, alerts, mine, now)
        new_states.update(states)
        for message in messages:
            written += _send_group(session, message, context, now)
    repo.save_group_states(session, old_states, new_states, now)
    written += escalate(session, config, now, mute, links=links, charts=charts)
    return written


def _line(row: AlertRow) -> dict[str, Any]:
    """The alert's contract line, plus when it started (a recovery says how long it lasted)."""
    return {**contract_line(row), "starts_at": f"{row.starts_at:%Y-%m-%dT%H:%M:%SZ}"}


@dataclass(frozen=True)
class _Context:
    config: RoutingConfig
    subs: list[Subscription]
    members: dict[str, list[str]]
    policies: dict[str, EscalationPolicy]
    links: ActionLinkSigner | None
    charts: ChartSource | None


def _on_duty(context: _Context, policy_name: str | None, now: datetime) -> list[str]:
    """Who is on duty for a route: the target of its escalation policy's first step."""
    policy = context.policies.get(policy_name or "")
    if policy is None:
        return []
    return step_target(policy.steps[0], context.config.schedules, context.members, now)


def _recovery_title(rows: list[AlertRow], title: str) -> str:
    """"已恢复：… 持续 2 小时 15 分" — what recovered and after how long (the longest of the group)."""
    ended = [r for r in rows if r.ends_at is not None]
    if not ended:
        return f"已恢复：{title}"
    minutes = max(int((r.ends_at - r.starts_at).total_seconds() // 60) for r in ended if r.ends_at is not None)
    more = f" 等 {len(rows)} 条" if len(rows) > 1 else ""
    return LABELS["zh"]["recovered_title"].format(what=title + more, duration=format_duration(minutes, "zh"))


def _send_group(session: Session, message: GroupMessage, context: _Context, now: datetime) -> int:
    config = context.config
    policy = config.severity_policy
    first = message.alerts[0]
    firing = any(a.state == "firing" for a in message.alerts)
    title = message.title
    if not firing:
        rows = [r for r in (session.get(AlertRow, a.id) for a in message.alerts) if r is not None]
        title = _recovery_title(rows, message.title)
    kinds = policy.channels_for(message.severity)
    users = recipients(message.worst_labels(), context.subs, context.members, policy)
    on_duty = _on_duty(context, message.escalation_policy, now)
    # The people an IM message @-mentions: whoever is on duty, then the subscribers who take IM.
    im_people = list(dict.fromkeys([*on_duty, *(u.user for u in users if "im" in u.channels)]))
    ack_user = _directory_user(session, on_duty) or (_directory_user(session, im_people) if len(im_people) == 1 else None)
    spec: ChartSpec | None = None
    written = 0
    for channel in channels_of(session, message.receiver):
        if channel.medium not in kinds:
            continue
        to = addresses(session, [u.user for u in users if channel.medium in u.channels], channel.medium) \
            if channel.medium in PAGING_MEDIA else []
        if channel.medium in PAGING_MEDIA and not to:
            continue
        key = outbox_key(f"{message.key}>{channel.name}")
        if spec is None and channel.kind in CHART_KINDS and firing:
            spec = _chart_spec(session, session.get(AlertRow, first.id), now, context.charts)
        chart = spec if channel.kind in CHART_KINDS else None
        links = _links(context.links, first.id, key, ack_user if channel.kind in IM_KINDS else None, now,
                       firing=firing, chart=chart is not None)
        notification = Notification(key=key, title=title, severity=message.severity, alerts=message.lines(),
                                    id=first.id, muted_note=message.muted_note, recipients=to,
                                    mentions=mentions_for(session, im_people, channel.kind) if channel.kind in IM_KINDS else [],
                                    chart=chart, ack_url=links.ack_url, detail_url=links.detail_url,
                                    chart_url=links.chart_url, top_alerts=IM_TOP_ALERTS if channel.kind in IM_KINDS else None)
        written += enqueue(session, notification, first.id, channel.name, now)
    return written


@dataclass(frozen=True)
class _Links:
    ack_url: str | None = None
    detail_url: str | None = None
    chart_url: str | None = None


def _links(signer: ActionLinkSigner | None, alert_id: str, key: str, user: str | None, now: datetime, *,
           firing: bool, chart: bool) -> _Links:
    """The signed 认领 (the whole message, issued to ``user``), 查看详情 and chart links of one message."""
    if signer is None:
        return _Links()
    ack = signer.url(alert_id, LinkAction.ACK, now=now, user=user, message=key) if firing else None
    detail = signer.url(alert_id, LinkAction.VIEW, now=now) if firing else None
    image = signer.url(alert_id, LinkAction.CHART, now=now, message=key) if chart else None
    return _Links(ack, detail, image)


def escalate(session: Session, config: RoutingConfig, now: datetime, mute: MuteStage | None = None, *,
             links: ActionLinkSigner | None = None, charts: ChartSource | None = None) -> int:
    """Page the next steps of each group of unacknowledged firing alerts routed to an escalation
    policy: one message per group and step (never one per alert), the on-duty person @-mentioned."""
    policies = repo.escalation_policies(session)
    if not policies:
        return 0
    firing = session.scalars(select(AlertRow).where(AlertRow.state == "firing")
                             .order_by(AlertRow.starts_at, AlertRow.id)).all()
    mute = mute or MuteStage.load(session, now, config, firing=firing)
    groups: dict[tuple[str, str, str], list[AlertRow]] = {}
    for row in [r for r in firing if r.acked_at is None]:
        labels = routing_labels(row)
        if mute.check(row, now):
            continue  # muted alerts page nobody; a symptom escalates through its root cause
        for match in match_routes(config.route, labels):
            policy = policies.get(match.escalation_policy or "")
            if policy is not None:
                group = group_key(match.receiver, labels, match.group_by)
                groups.setdefault((policy.name, match.receiver, group), []).append(row)
    context = _Context(config, [], role_members(session, config), policies, links, charts)
    written = 0
    for (name, receiver, group), rows in sorted(groups.items()):
        written += _escalate_group(session, group, receiver, rows, policies[name], context, now)
    return written


def _escalate_group(session: Session, group: str, receiver: str, rows: list[AlertRow], policy: EscalationPolicy,
                    context: _Context, now: datetime) -> int:
    """The due steps of one group: counted from when the service learned of its first alert, each
    step paged once for the group (a late alert joining the group does not page the steps again)."""
    ordered = sorted(rows, key=lambda r: (r.root_rank, r.starts_at, r.id))
    states = {s.alert_id: s for s in session.scalars(select(EscalationStateRow).where(
        EscalationStateRow.alert_id.in_([r.id for r in rows]))).all()}
    paged = max((s.paged for s in states.values()), default=0)
    anchor = min(rows, key=lambda r: (r.created_at, r.id))
    due = due_steps(policy, anchor.created_at, None, now, already_paged=paged)
    if not due:
        return 0
    written = 0
    channels = channels_of(session, receiver)
    paging = [c for c in channels if c.medium in PAGING_MEDIA] or [c for c in channels if c.medium == "im"]
    severity = max((Severity(r.severity) for r in rows), key=lambda s: s.rank)
    head = ordered[0]
    what = head.message or head.rule
    if len(rows) > 1:
        what += f" 等 {len(rows)} 条告警"
    lines = [_line(r) for r in ordered]
    for step in due:
        targets = step_target(step.step, context.config.schedules, context.members, now)
        title = f"【升级 {step.index + 1}/{len(policy.steps)}】{what}（{step.step.after_minutes} 分钟未认领）"
        ack_user = _directory_user(session, targets)
        spec = None
        for channel in paging:
            key = outbox_key(f"esc:{group}:{anchor.id}:{step.index}>{channel.name}")
            if spec is None and channel.kind in CHART_KINDS:
                spec = _chart_spec(session, head, now, context.charts)
            chart = spec if channel.kind in CHART_KINDS else None
            links = _links(context.links, head.id, key, ack_user if channel.kind in IM_KINDS else None, now,
                           firing=True, chart=chart is not None)
            notification = Notification(key=key, title=title, severity=severity, alerts=lines, id=head.id,
                                        recipients=addresses(session, targets, channel.medium)
                                        if channel.medium in PAGING_MEDIA else [],
                                        mentions=mentions_for(session, targets, channel.kind) if channel.kind in IM_KINDS else [],
                                        chart=chart, ack_url=links.ack_url, detail_url=links.detail_url,
                                    chart_url=links.chart_url, top_alerts=IM_TOP_ALERTS if channel.kind in IM_KINDS else None)
            written += enqueue(session, notification, head.id, channel.name, now)
    for row in rows:
        state = states.get(row.id)
        if state is None:
            session.add(EscalationStateRow(alert_id=row.id, policy=policy.name, paged=due[-1].index + 1, updated_at=now))
        else:
            state.paged, state.updated_at = due[-1].index + 1, now
    return written


__all__ = ["INBOX_HORIZON", "ChartSource", "addresses", "announce_state_changes", "enqueue", "escalate", "mentions_for",
           "outbox_key", "role_members", "route_and_group", "routing_labels"]
