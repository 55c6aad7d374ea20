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

Each message is committed around its *own* send: ``status='sending'`` and an attempt row
(outcome ``sending``) are committed before the request, the outcome right after it. After a
crash at most the one message in flight is left ``sending``; :meth:`OutboxDelivery.recover` (run
once at start-up) offers it again, once, with the same key (the signed webhook carries it as
``Idempotency-Key``). A channel whose stored secrets the key cannot open (:class:`~shopsentinel.core.secrets.SecretKeyError`)
fails the entry for good — no retry can help. A channel answering with a timed back-off (``Retry-After`` on 429/503,
DingTalk's 130101 "too fast" lockout) is paused until then, every entry of it deferred; other
recoverable failures back off per entry.

Channels are independent: :meth:`OutboxDelivery.deliver_channel` delivers one channel with a
time budget, and :class:`DeliveryWorkers` runs it on one thread per channel, off the evaluation
path, so a hung endpoint delays only its own messages. :meth:`OutboxDelivery.deliver` (tests,
``service.tick()``) runs the same per-channel passes one after another, synchronously.

An optional :class:`DeliveryObserver` hears the outcome of every channel send (``sent``, or
``failed`` with a short bounded reason from :func:`failure_reason`); the runtime wires it to its
Prometheus counters, so this package never imports the runtime.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.core.secrets import SecretBox, SecretKeyError, load_keys
from shopsentinel.core.types import Severity
from shopsentinel.notify import ChannelRegistry, Notification, builtin_registry
from shopsentinel.notify import repository as repo
from shopsentinel.notify.outbox import INBOX, Dispatcher, LogDispatcher, NotifierDispatcher, backoff
from shopsentinel.store.coordination import HeldLocks
from shopsentinel.store.state import ChannelRow, NotificationAttemptRow, OutboxRow

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
HELD = "held: over the channel's rate limit"
INTERRUPTED = "interrupted: the service stopped while sending; offered again once"
MAX_DIGEST_LINES = 30
BUDGET_SECONDS = 30.0  # one channel's pass stops starting new sends after this (wall time)

# The reasons a channel send failed, as :func:`failure_reason` names them (a bounded set: metric labels).
FAILURE_REASONS = ("timeout", "transport", "throttled", "http_5xx", "http_4xx", "rejected", "secret_key",
                   "unconfigured", "error")


class DeliveryObserver(Protocol):
    """Hears the outcome of each channel send (never of the in-app inbox)."""

    def sent(self, channel: str) -> None: ...

    def failed(self, channel: str, reason: str) -> None: ...


_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def failure_reason(exc: BaseException) -> str:
    """A short label from :data:`FAILURE_REASONS` for a failed send — never the raw error text.

    >>> failure_reason(RecoverableDeliveryError("robot: HTTP 502"))
    'http_5xx'
    >>> failure_reason(PermanentDeliveryError("robot: errcode 300001 token is not exist"))
    'rejected'
    >>> failure_reason(RecoverableDeliveryError("robot: errcode 130101 send too fast", retry_after=600))
    'throttled'
    """
    if isinstance(exc, SecretKeyError):
        return "secret_key"
    if not isinstance(exc, (RecoverableDeliveryError, PermanentDeliveryError)):
        return "error"
    text = str(exc)
    status = _HTTP_STATUS.search(text)
    code = int(status.group(1)) if status else None
    if code == 429 or (isinstance(exc, RecoverableDeliveryError) and exc.retry_after is not None):
        return "throttled"
    if "timed out" in text:
        return "timeout"
    if "transport error" in text:
        return "transport"
    if code is not None:
        return "http_5xx" if code >= 500 else "http_4xx"
    return "rejected"  # the endpoint answered and refused (an errcode, a bad shape, bad credentials)


class OutboxDelivery:
    """Deliver the due entries of the outbox: the in-app inbox's through ``inbox`` (a
    :class:`~shopsentinel.notify.outbox.Dispatcher`), the others through their channel.
    ``secret_box`` is called once, when a channel is first used. Safe to use from one thread
    per channel (each channel's entries are only ever touched by its own pass)."""

    def __init__(self, registry: ChannelRegistry, secret_box: Callable[[], SecretBox], clock: Clock,
                 client: Callable[[], httpx.AsyncClient] = httpx.AsyncClient, inbox: Dispatcher | None = None,
                 budget_seconds: float = BUDGET_SECONDS, locks: HeldLocks | None = None,
                 observer: DeliveryObserver | None = None) -> None:
        self._registry = registry
        self._locks = locks  # one sender per channel across processes sharing the database
        self._secret_box = secret_box
        self._box: SecretBox | None = None
        self._box_lock = threading.Lock()
        self._clock = clock
        self._client = client
        self._inbox: Dispatcher = inbox or LogDispatcher()
        self._budget = budget_seconds
        self._paused: dict[str, datetime] = {}  # channel -> no sends before (a timed back-off)
        self._recovered = False
        self.observer = observer  # hears every channel send's outcome (the runtime's metrics)

    def recover(self, sessions: sessionmaker[Session]) -> int:
        """Start-up: entries left ``sending`` by a crash (at most one per channel) are offered again,
        once, now; their open attempt is recorded ``interrupted``. Returns how many. Runs once per
        instance; call it before any pass (the passes call it themselves)."""
        if self._recovered or self._locks is not None:  # with locks: per channel, when its lock is taken
            return 0
        self._recovered = True
        return self._recover(sessions, None)

    def _recover(self, sessions: sessionmaker[Session], channel: str | None) -> int:
        """Offer again the entries left ``sending`` (of ``channel``, or of every channel)."""
        with sessions() as session:
            now = self._clock.now()
            query = select(OutboxRow).where(OutboxRow.status == "sending")
            rows = session.scalars(query if channel is None else query.where(OutboxRow.channel == channel)).all()
            for row in rows:
                row.status, row.next_attempt_at, row.last_error = "pending", now, INTERRUPTED
            ids = [r.id for r in rows]
            if ids:
                open_attempts = select(NotificationAttemptRow).where(
                    NotificationAttemptRow.outbox_id.in_(ids), NotificationAttemptRow.outcome == "sending")
                for attempt in session.scalars(open_attempts).all():
                    attempt.outcome, attempt.error = "interrupted", INTERRUPTED
            session.commit()
            if rows:
                logger.warning("outbox: %d entr%s left in flight by a stop; offering again once", len(rows),
                               "y" if len(rows) == 1 else "ies")
            return len(rows)

    def due_channels(self, sessions: sessionmaker[Session]) -> list[str]:
        """The channels (the in-app inbox first) with an entry to deliver now."""
        with sessions() as session:
            now = self._clock.now()
            query = select(OutboxRow.channel).where(
                OutboxRow.status == "pending",
                or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now, OutboxRow.last_error == HELD),
            ).distinct()
            names = set(session.scalars(query).all())
            if self._locks is not None:
                # an entry left ``sending`` by a dead sender: its channel is due for whoever can take it over
                # (taking the channel's lock re-offers it); never for the process that holds it and is sending
                in_flight = select(OutboxRow.channel).where(OutboxRow.status == "sending").distinct()
                names |= {n for n in session.scalars(in_flight).all() if not self._locks.acquired(f"channel:{n}")}
        return sorted(names, key=lambda n: (n != INBOX, n))

    def deliver(self, sessions: sessionmaker[Session], limit: int = 500, *, inbox: Dispatcher | None = None) -> int:
        """Send what is due, channel after channel (``inbox`` overrides the in-app dispatcher for
        this call); returns how many entries were sent."""
        self.recover(sessions)
        return sum(self.deliver_channel(sessions, name, limit, inbox=inbox) for name in self.due_channels(sessions))

    def deliver_channel(self, sessions: sessionmaker[Session], name: str, limit: int = 500, *,
                        inbox: Dispatcher | None = None) -> int:
        """One pass over one channel's due entries (within its time budget); returns how many
        were sent. With :class:`~shopsentinel.store.coordination.HeldLocks`, only the process holding
        the channel's lock sends; whoever takes the lock over first offers again the entry its
        predecessor left in flight."""
        if self._locks is None:
            self.recover(sessions)
        else:
            state = self._locks.acquire(f"channel:{name}")
            if state == "busy":
                return 0
            if state == "taken":
                self._recover(sessions, name)
        with sessions() as session:
            now = self._clock.now()
            paused = self._paused.get(name)
            if paused is not None and now < paused:
                return 0
            query = (select(OutboxRow).where(OutboxRow.status == "pending", OutboxRow.channel == name)
                     .order_by(OutboxRow.id).limit(limit))
            rows = [r for r in session.scalars(query).all()
                    if r.next_attempt_at is None or r.next_attempt_at <= now or r.last_error == HELD]
            if not rows:
                return 0
            if name == INBOX:
                return self._deliver_inbox(session, rows, inbox or self._inbox)
            channel = session.scalars(select(ChannelRow).where(ChannelRow.name == name)).first()
            sent = self._deliver_channel(session, channel, name, rows, repo.rate_limits(session), now)
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
                row.next_attempt_at = now + _delay(exc, row.attempts)
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
                self._observe(name, "unconfigured")
            return 0
        per_minute = channel.per_minute or rate_limits.get(channel.kind)
        recent = repo.sent_since(session, name, now - WINDOW)
        room = len(rows) if per_minute is None else max(0, per_minute - len(recent))
        held = [r for r in rows if r.last_error == HELD]
        fresh = [r for r in rows if r.last_error != HELD and (r.next_attempt_at is None or r.next_attempt_at <= now)]
        individual = fresh[: max(0, room - (1 if held else 0))]
        overflow = fresh[len(individual):]
        queue: list[OutboxRow] = []
        if held and room > 0:
            queue.append(self._digest(session, name, held + overflow, now))
            overflow = []
        for row in overflow:  # held before anything is sent: committed with the first send
            if row.last_error != HELD:
                repo.record_attempt(session, row.id, name, now, "rate_limited", HELD)
            row.last_error = HELD
            row.next_attempt_at = (recent[0] if recent else now) + WINDOW
        queue.extend(individual)
        sent = 0
        deadline = time.monotonic() + self._budget
        for index, row in enumerate(queue):
            if index and time.monotonic() > deadline:
                break  # over the budget: the rest stay due for the next pass
            outcome = self._send(session, channel, row)
            sent += outcome == "sent"
            if outcome == "paused":
                until = self._paused[name]
                for later in queue[index + 1:]:
                    if later.status == "pending":
                        later.next_attempt_at = until
                break
            if outcome == "retry":
                break  # the endpoint is failing: one probe per pass, the rest wait for the next one
        session.commit()
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

    def _notifier_dispatcher(self, channel: ChannelRow) -> NotifierDispatcher:
        with self._box_lock:
            if self._box is None:
                self._box = self._secret_box()
            box = self._box
        notifier = repo.build_notifier(self._registry, box, channel, self._clock)
        return NotifierDispatcher([notifier], client=self._client)

    def _send(self, session: Session, channel: ChannelRow, row: OutboxRow) -> str:
        """Send one entry: ``sending`` (and its attempt) committed before the request, the outcome
        right after. Returns ``sent``, ``failed``, ``retry`` or ``paused`` (a timed back-off of the
        whole channel)."""
        name = channel.name
        now = self._clock.now()
        notification = Notification.model_validate(row.payload)
        row.attempts += 1
        row.status, row.next_attempt_at = "sending", None
        attempt = NotificationAttemptRow(outbox_id=row.id, channel=name, ts=now, outcome="sending", error="")
        session.add(attempt)
        session.commit()  # the mark: a crash from here on leaves exactly this entry in flight
        try:
            self._notifier_dispatcher(channel).dispatch(notification, muted=False)
        except PermanentDeliveryError as exc:
            row.status = "failed"
            row.last_error = attempt.error = f"{type(exc).__name__}: {exc}"
            attempt.outcome = "failed"
            outcome = "failed"
            self._observe(name, failure_reason(exc))
        except SecretKeyError as exc:  # the key cannot open the channel's secrets: no retry can help
            self._observe(name, failure_reason(exc))
            row.status = "failed"
            row.last_error = attempt.error = secret_failure(name, exc)
            attempt.outcome = "failed"
            outcome = "failed"
            logger.error("outbox: entry %s of channel %r failed for good: %s", row.id, name, exc)
        except Exception as exc:  # anything else may succeed later: keep it, back off
            done = self._clock.now()
            row.status, row.last_error = "pending", f"{type(exc).__name__}: {exc}"
            row.next_attempt_at = done + _delay(exc, row.attempts)
            attempt.error = row.last_error
            timed = isinstance(exc, RecoverableDeliveryError) and exc.retry_after is not None
            if timed:  # the endpoint said when: the whole channel waits until then
                self._paused[name] = row.next_attempt_at
            attempt.outcome = "throttled" if timed else "retry"
            outcome = "paused" if timed else "retry"
            self._observe(name, failure_reason(exc))
        else:
            row.status, row.sent_at, row.last_error = "sent", now, ""
            attempt.outcome = outcome = "sent"
            self._observe(name, None)
        session.commit()
        return outcome

    def _observe(self, channel: str, reason: str | None) -> None:
        """Tell the observer (if any) how one send ended: sent (``reason`` None) or failed. An
        observer's own fault never disturbs delivery."""
        if self.observer is None:
            return
        try:
            if reason is None:
                self.observer.sent(channel)
            else:
                self.observer.failed(channel, reason)
        except Exception:  # noqa: BLE001 - metrics must not stop a send
            logger.exception("delivery observer failed")

    @staticmethod
    def _finish(session: Session, row: OutboxRow, name: str, now: datetime, status: str, error: str) -> None:
        row.status, row.last_error = status, error
        repo.record_attempt(session, row.id, name, now, status, error)


class DeliveryWorkers:
    """Channel isolation: one daemon thread per channel runs :meth:`OutboxDelivery.deliver_channel`
    whenever :meth:`kick` finds it due (and every ``poll_seconds`` for retries), so evaluation never
    waits for a send and a hung endpoint holds up only its own channel's thread. ``inbox`` returns
    the in-app dispatcher at the time of each pass."""

    def __init__(self, delivery: OutboxDelivery, sessions: sessionmaker[Session], inbox: Callable[[], Dispatcher],
                 poll_seconds: float = 1.0) -> None:
        self._delivery = delivery
        self._sessions = sessions
        self._inbox = inbox
        self._poll = poll_seconds
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._wake: dict[str, threading.Event] = {}
        self.passes: dict[str, int] = {}  # completed passes per channel (for tests and metrics)

    def kick(self) -> None:
        """Wake (starting if need be) the worker of every channel with something due; never blocks on a send."""
        if self._stopping.is_set():
            return
        self._delivery.recover(self._sessions)
        for name in self._delivery.due_channels(self._sessions):
            self._worker(name).set()

    def _worker(self, name: str) -> threading.Event:
        with self._lock:
            wake = self._wake.get(name)
            if wake is None:
                wake = self._wake[name] = threading.Event()
                thread = threading.Thread(target=self._run, args=(name, wake), daemon=True,
                                          name=f"delivery-{name or 'inbox'}")
                self._threads[name] = thread
                thread.start()
            return wake

    def _run(self, name: str, wake: threading.Event) -> None:
        while not self._stopping.is_set():
            wake.wait(self._poll)
            wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._delivery.deliver_channel(self._sessions, name, inbox=self._inbox())
            except Exception:  # keep the worker: the next pass retries
                logger.exception("delivery to channel %r failed", name or "inbox")
            with self._lock:
                self.passes[name] = self.passes.get(name, 0) + 1

    def close(self, timeout: float = 2.0) -> None:
        """Stop the workers; a send still in flight is abandoned (daemon thread) and left
        ``sending``, to be offered again once at the next start."""
        self._stopping.set()
        with self._lock:
            threads = list(self._threads.values())
            for wake in self._wake.values():
                wake.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def secret_failure(channel: str, exc: SecretKeyError) -> str:
    """The ``last_error`` of an entry whose channel secrets the key cannot open (Chinese first)."""
    return (f"SecretKeyError: 无法解密渠道 {channel} 的机密（密钥错误、缺失或数据被篡改），不再重试；"
            f"请恢复原来的密钥或重新保存该渠道 / cannot decrypt the secrets of channel {channel} (wrong or "
            f"missing key, or tampered data), not retried; restore the original key or save the channel again: {exc}")


def _delay(exc: Exception, attempts: int) -> timedelta:
    """The server's ``retry_after`` when the error carries one, else exponential :func:`backoff`."""
    retry_after = exc.retry_after if isinstance(exc, RecoverableDeliveryError) else None
    return timedelta(seconds=retry_after) if retry_after is not None else backoff(attempts)


RoutedDelivery = OutboxDelivery  # its name from when channel entries had a delivery loop of their own


def deliver_outbox(sessions: sessionmaker[Session], dispatcher: Dispatcher, clock: Clock, limit: int = 500,
                   registry: ChannelRegistry | None = None) -> int:
    """One pass of the delivery loop with ``dispatcher`` for the in-app inbox; returns how many
    entries were sent."""
    delivery = OutboxDelivery(registry or builtin_registry(), lambda: SecretBox(load_keys()), clock, inbox=dispatcher)
    return delivery.deliver(sessions, limit)


__all__ = ["FAILURE_REASONS", "HELD", "INTERRUPTED", "DeliveryObserver", "DeliveryWorkers", "OutboxDelivery",
           "RoutedDelivery", "deliver_outbox", "failure_reason"]
