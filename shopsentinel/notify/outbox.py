"""Handing outbox entries to the notification channels.

The outbox row is written in the same transaction as the alert state it announces, so a crash
between evaluation and sending loses nothing; it is marked ``sent`` only after ``dispatch``
returns, so after a crash an entry may be offered again (at least once; channels dedupe by
``Notification.key``). Recoverable failures are retried with exponential backoff; a
:class:`~shopsentinel.core.errors.PermanentDeliveryError` marks the entry ``failed``.

A :class:`Dispatcher` takes one :class:`~shopsentinel.notify.Notification`; routing (who gets
which severity on which channel) belongs behind it. :class:`NotifierDispatcher` sends to a fixed
list of channels built from :mod:`shopsentinel.notify`'s registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import anyio
import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import PermanentDeliveryError
from shopsentinel.notify import Notification, Notifier
from shopsentinel.store.state import OutboxRow

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


class Dispatcher(Protocol):
    def dispatch(self, notification: Notification, *, muted: bool) -> None:
        """Deliver (or route) one notification; raise to have it retried later."""
        ...


class LogDispatcher:
    """The default until routing is configured: log each notification (muted ones too)."""

    def dispatch(self, notification: Notification, *, muted: bool) -> None:
        logger.info("notification %s%s: %s", notification.key, " (muted)" if muted else "", notification.title)


class NotifierDispatcher:
    """Send every unmuted notification to each channel (muted ones stay in the in-app record)."""

    def __init__(self, notifiers: Sequence[Notifier], client: Callable[[], httpx.AsyncClient] = httpx.AsyncClient) -> None:
        self._notifiers = list(notifiers)
        self._client = client

    def dispatch(self, notification: Notification, *, muted: bool) -> None:
        if muted or not self._notifiers:
            return

        async def send_all() -> None:
            async with self._client() as client:
                for notifier in self._notifiers:
                    await notifier.send(notification, client)

        anyio.run(send_all)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, … minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(0, attempts - 1)), MAX_BACKOFF)


def in_app_entries_due(session: Session, now: datetime, limit: int) -> list[OutboxRow]:
    """Due entries of the in-app record (no ``channel``); routed entries are sent by
    :mod:`shopsentinel.notify.delivery`."""
    query = (
        select(OutboxRow)
        .where(OutboxRow.status == "pending", OutboxRow.channel == "")
        .where(or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now))
        .order_by(OutboxRow.id)
        .limit(limit)
    )
    return list(session.scalars(query).all())


def deliver_outbox(sessions: sessionmaker[Session], dispatcher: Dispatcher, clock: Clock, limit: int = 100) -> int:
    """Dispatch due entries in order; return how many were sent."""
    sent = 0
    with sessions() as session:
        for row in in_app_entries_due(session, clock.now(), limit):
            now: datetime = clock.now()
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


__all__ = ["Dispatcher", "LogDispatcher", "NotifierDispatcher", "backoff", "deliver_outbox", "in_app_entries_due"]
