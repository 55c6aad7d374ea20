"""The one delivery loop of the one outbox stream: every due entry, through its channel.

Entries of the in-app inbox (channel :data:`~shopsentinel.notify.outbox.INBOX`) are handed to the
service's :class:`~shopsentinel.notify.outbox.Dispatcher` with their ``muted`` flag, in order.
Every other entry names a configured :class:`~shopsentinel.store.state.ChannelRow` and is sent
through a :class:`~shopsentinel.notify.outbox.NotifierDispatcher` holding that channel's
notifier, within the channel's rate limit. Every channel attempt is recorded
(``notification_attempts``), and the limit counts the recorded sends of the last minute, so it
holds across restarts.

Over the limit (DingTalk: 20 per minute per robot, then a 10-minute lockout), entries are *held*
rather than sent; once the window has room, all held entries go out as one digest message
("告警摘要"), so the robot is never throttled and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import PermanentDeliveryError
from shopsentinel.core.secrets import SecretBox, load_key
from shopsentinel.core.types import Severity
from shopsentinel.notify import ChannelRegistry, Notification, builtin_registry
from shopsentinel.notify import repository as repo
from shopsentinel.notify.outbox import INBOX, Dispatcher, LogDispatcher, NotifierDispatcher, backoff
from shopsentinel.store.state import ChannelRow, OutboxRow

WINDOW = timedelta(minutes=1)
HELD = "held: over the channel's rate limit"
MAX_DIGEST_LINES = 30


class OutboxDelivery:
    """Deliver the due entries of the outbox: the in-app inbox's through ``inbox`` (a
    :class:`~shopsentinel.notify.outbox.Dispatcher`), the others through their channel.
    ``secret_box`` is called once, when a channel is first used."""

    def __init__(self, registry: ChannelRegistry, secret_box: Callable[[], SecretBox], clock: Clock,
                 client: Callable[[], httpx.AsyncClient] = httpx.AsyncClient, inbox: Dispatcher | None = None) -> None:
        self._registry = registry
        self._secret_box = secret_box
        self._box: SecretBox | None = None
        self._clock = clock
        self._client = client
        self._inbox: Dispatcher = inbox or LogDispatcher()

    def deliver(self, sessions: sessionmaker[Session], limit: int = 500, *, inbox: Dispatcher | None = None) -> int:
        """Send what is due (``inbox`` overrides the in-app dispatcher for this call); returns how
        many entries were sent."""
        sent = 0
        with sessions() as session:
            now = self._clock.now()
            query = select(OutboxRow).where(OutboxRow.status == "pending").order_by(OutboxRow.id).limit(limit)
            by_channel: dict[str, list[OutboxRow]] = {INBOX: []}  # the in-app inbox first
            for row in session.scalars(query).all():
                if row.next_attempt_at is None or row.next_attempt_at <= now or row.last_error == HELD:
                    by_channel.setdefault(row.channel, []).append(row)
            sent += self._deliver_inbox(session, by_channel.pop(INBOX), inbox or self._inbox)
            rate_limits = repo.rate_limits(session) if by_channel else {}
            for name, rows in by_channel.items():
                channel = session.scalars(select(ChannelRow).where(ChannelRow.name == name)).first()
                sent += self._deliver_channel(session, channel, name, rows, rate_limits, now)
                session.commit()
        return sent

    def _deliver_inbox(self, session: Session, rows: list[OutboxRow], dispatcher: Dispatcher) -> int:
        """Hand each in-app entry to the dispatcher, in order, committing each outcome."""
        sent = 0
        for row in rows:
            if row.last_error == HELD:  # never held (no rate limit); only a channel's entry can be
                continue
            now: datetime = self._clock.now()
            row.attempts += 1
            try:
                dispatcher.dispatch(Notification.model_validate(row.payload), muted=row.muted)
            except PermanentDeliveryError as exc:
                row.status, row.last_error = "failed", f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # anything else may succeed later: keep it, back off
                row.last_error = f"{type(exc).__name__}: {exc}"
                row.next_attempt_at = now + backoff(row.attempts)
            else:
                row.status, row.sent_at, row.last_error = "sent", now, ""
                sent += 1
            session.commit()
        return sent

    def _deliver_channel(self, session: Session, channel: ChannelRow | None, name: str, rows: list[OutboxRow],
                         rate_limits: dict[str, int], now: datetime) -> int:
        if channel is None:
            for row in rows:
                self._finish(session, row, name, now, "failed", "channel no longer configured")
            return 0
        per_minute = channel.per_minute or rate_limits.get(channel.kind)
        recent = repo.sent_since(session, name, now - WINDOW)
        room = len(rows) if per_minute is None else max(0, per_minute - len(recent))
        held = [r for r in rows if r.last_error == HELD]
        fresh = [r for r in rows if r.last_error != HELD and (r.next_attempt_at is None or r.next_attempt_at <= now)]
        individual = fresh[: max(0, room - (1 if held else 0))]
        overflow = fresh[len(individual):]
        sent = 0
        if held and room > 0:
            digest = self._digest(session, name, held + overflow, now)
            sent += self._send(session, channel, digest, now)
            overflow = []
        for row in overflow:
            if row.last_error != HELD:
                repo.record_attempt(session, row.id, name, now, "rate_limited", HELD)
            row.last_error = HELD
            row.next_attempt_at = (recent[0] if recent else now) + WINDOW
        for row in individual:
            sent += self._send(session, channel, row, now)
        return sent

    def _digest(self, session: Session, name: str, rows: list[OutboxRow], now: datetime) -> OutboxRow:
        """One outbox entry summing up ``rows``, which are marked ``digested``."""
        notes = [Notification.model_validate(r.payload) for r in rows]
        lines = [line for n in notes for line in n.alerts]
        by_id: dict[str, dict[str, object]] = {}
        for index, line in enumerate(lines):  # an alert listed by several held messages appears once
            by_id.setdefault(str(line.get("id") or f"#{index}"), line)
        unique = list(by_id.values())
        worst = max((n.severity for n in notes), key=lambda s: Severity(s).rank)
        extra = len(unique) - MAX_DIGEST_LINES
        muted = "；".join(dict.fromkeys(n.muted_note for n in notes if n.muted_note))
        digest = Notification(
            key=f"digest:{name}:{now:%Y%m%dT%H%M%S}:{rows[0].id}",
            title=f"告警摘要：{len(rows)} 条通知因发送频率限制合并" + (f"（另有 {extra} 条告警未列出）" if extra > 0 else ""),
            severity=worst, alerts=unique[:MAX_DIGEST_LINES], id=notes[0].id, muted_note=muted or None,
            recipients=sorted({r for n in notes for r in n.recipients}),
        )
        entry = OutboxRow(key=digest.key, alert_id=rows[0].alert_id, payload=digest.model_dump(mode="json"), muted=False,
                          created_at=now, status="pending", attempts=0, last_error="", channel=name)
        session.add(entry)
        session.flush()
        for row in rows:
            self._finish(session, row, name, now, "digested", f"sent in digest {entry.id}")
        return entry

    def _send(self, session: Session, channel: ChannelRow, row: OutboxRow, now: datetime) -> int:
        row.attempts += 1
        try:
            if self._box is None:
                self._box = self._secret_box()
            notifier = repo.build_notifier(self._registry, self._box, channel, self._clock)
            NotifierDispatcher([notifier], client=self._client).dispatch(Notification.model_validate(row.payload), muted=False)
        except PermanentDeliveryError as exc:
            self._finish(session, row, channel.name, now, "failed", f"{type(exc).__name__}: {exc}")
            return 0
        except Exception as exc:  # anything else may succeed later: keep it, back off
            row.last_error, row.next_attempt_at = f"{type(exc).__name__}: {exc}", now + backoff(row.attempts)
            repo.record_attempt(session, row.id, channel.name, now, "retry", row.last_error)
            return 0
        row.status, row.sent_at, row.last_error = "sent", now, ""
        repo.record_attempt(session, row.id, channel.name, now, "sent")
        return 1

    @staticmethod
    def _finish(session: Session, row: OutboxRow, name: str, now: datetime, status: str, error: str) -> None:
        row.status, row.last_error = status, error
        repo.record_attempt(session, row.id, name, now, status, error)


RoutedDelivery = OutboxDelivery  # its name from when channel entries had a delivery loop of their own


def deliver_outbox(sessions: sessionmaker[Session], dispatcher: Dispatcher, clock: Clock, limit: int = 500,
                   registry: ChannelRegistry | None = None) -> int:
    """One pass of the delivery loop with ``dispatcher`` for the in-app inbox; returns how many
    entries were sent."""
    delivery = OutboxDelivery(registry or builtin_registry(), lambda: SecretBox(load_key()), clock, inbox=dispatcher)
    return delivery.deliver(sessions, limit)


__all__ = ["HELD", "OutboxDelivery", "RoutedDelivery", "deliver_outbox"]
