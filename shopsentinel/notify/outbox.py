"""The one outbox stream, and the dispatchers of its in-app inbox.

Every notification is one outbox row, written by the notification pipeline
(:mod:`shopsentinel.alerting.pipeline`) in the same transaction as the decision it carries, and
sent by one delivery loop (:func:`shopsentinel.notify.delivery.deliver_outbox`). A row names its
channel: a configured :class:`~shopsentinel.store.state.ChannelRow`, or :data:`INBOX` — the
in-app inbox, one entry per alert state change (muted ones too, flagged), handed to the service's
:class:`Dispatcher` (the demo prints them; ``GET /api/v1/outbox`` lists every row).

A channel row is marked ``sending`` (committed) before its send and ``sent`` right after, so
after a crash at most the one entry in flight is offered again (at least once; receivers dedupe by
``Notification.key``, which :class:`NotifierDispatcher` also sends as the ``Idempotency-Key``
header to the channels that take one, such as the signed webhook). Recoverable failures are retried
with exponential :func:`backoff`; a :class:`~shopsentinel.core.errors.PermanentDeliveryError`
marks the entry ``failed``.

A :class:`Dispatcher` takes one :class:`~shopsentinel.notify.Notification`.
:class:`NotifierDispatcher` sends to a fixed list of channels built from :mod:`shopsentinel.notify`'s
registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

import anyio
import httpx

from shopsentinel.notify import Notification, Notifier

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
IDEMPOTENCY_HEADER = "Idempotency-Key"  # kept only by channels that honour it (notify.channels._http)
INBOX = ""  # the outbox channel of the in-app inbox (a pseudo-channel: no ChannelRow, no rate limit)


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
                client.headers[IDEMPOTENCY_HEADER] = notification.key
                for notifier in self._notifiers:
                    await notifier.send(notification, client)

        anyio.run(send_all)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, … minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(0, attempts - 1)), MAX_BACKOFF)


__all__ = ["IDEMPOTENCY_HEADER", "INBOX", "Dispatcher", "LogDispatcher", "NotifierDispatcher", "backoff"]
