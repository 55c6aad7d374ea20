"""Coordination of several processes on one shared database (PostgreSQL advisory locks).

Two ``serve`` replicas on one PostgreSQL database must not both send a notification, both run the
periodic pass, or both open an alert for the same problem. The database itself is the coordinator:

- :class:`HeldLocks` — session-level advisory locks, each held on a connection of its own for as
  long as the holder lives. A ``kill -9`` closes the connection and PostgreSQL releases the lock at
  once, so another process takes over on its next try — no lease to wait out. Used for the
  scheduler leader (periodic pass, platform syncs, the response loop) and for each delivery channel
  (one sender per channel at a time, which also keeps a channel's rate limit exact across replicas).
- :func:`xact_lock` — a transaction-scoped advisory lock, released at commit or rollback. Used around
  one store's alert reconciliation and around the notification pipeline, so two evaluators of one
  store cannot open twin alerts and two pipelines cannot enqueue one message twice.

Lock keys are 64-bit hashes of the lock's name *and the database URL* (its ``search_path`` schema
included), so installations sharing a server — or test schemas — never block each other.

SQLite is the embedded, single-process default: every lock is granted at once and nothing is held.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)


def lock_key(engine: Engine, name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` on this database (and schema).

    >>> from sqlalchemy import create_engine
    >>> a = create_engine("postgresql+psycopg://u@h/test?options=-csearch_path%3Ds1")
    >>> b = create_engine("postgresql+psycopg://u@h/test?options=-csearch_path%3Ds2")
    >>> lock_key(a, "scheduler") == lock_key(a, "scheduler"), lock_key(a, "scheduler") == lock_key(b, "scheduler")
    (True, False)
    """
    where = engine.url.render_as_string(hide_password=True)
    digest = hashlib.blake2b(f"{where}|{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def shared(engine: Engine) -> bool:
    """Whether several processes may share this database (PostgreSQL), so locks are real."""
    return engine.dialect.name == "postgresql"


def xact_lock(session: Session, names: Iterable[str]) -> None:
    """Take transaction-scoped advisory locks on ``names`` (sorted, so two callers never deadlock);
    they are released when the session's transaction ends. A no-op on SQLite."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    if not shared(engine):
        return
    for key in sorted({lock_key(engine, n) for n in names}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class HeldLocks:
    """Named session-level locks this process holds until :meth:`release` or its death.

    :meth:`acquire` is cheap to call on every pass: it returns ``"held"`` when the lock was already
    this process's (and its connection is alive), ``"taken"`` when it was just acquired (the caller
    may have to clean up after a dead predecessor), ``"busy"`` when another process holds it. On
    SQLite every lock is ``"taken"`` the first time and ``"held"`` after.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._shared = shared(engine)
        # held connections live outside the service's pool (which is sized to its worker threads)
        self._connect = create_engine(engine.url, poolclass=NullPool).connect if self._shared else engine.connect
        self._held: dict[str, Connection | None] = {}
        self._lock = threading.Lock()

    def acquire(self, name: str) -> str:
        with self._lock:
            if name in self._held:
                if self._alive(name):
                    return "held"
                self._drop(name)
            if not self._shared:
                self._held[name] = None
                return "taken"
            connection = self._connect()
            try:
                got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                         {"key": lock_key(self._engine, name)}).scalar()
                connection.commit()
            except Exception:
                connection.invalidate()
                connection.close()
                raise
            if not got:
                connection.close()
                return "busy"
            self._held[name] = connection
            logger.info("coordination: this process now holds %r", name)
            return "taken"

    @property
    def shared(self) -> bool:
        """Whether the locks are real (PostgreSQL); on SQLite this process is alone by definition."""
        return self._shared

    def holds(self, name: str) -> bool:
        """Whether this process holds ``name`` — always true when the locks are not shared (SQLite)."""
        with self._lock:
            return not self._shared or name in self._held

    def acquired(self, name: str) -> bool:
        """Whether this process has taken ``name`` (on SQLite too: taken once, on first use)."""
        with self._lock:
            return name in self._held

    def release(self, name: str) -> None:
        with self._lock:
            connection = self._held.pop(name, None)
            if connection is None:
                return
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self._engine, name)})
                connection.commit()
            except Exception:  # the connection is gone: so is the lock
                connection.invalidate()
            connection.close()

    def release_all(self) -> None:
        for name in list(self._held):
            self.release(name)

    def _alive(self, name: str) -> bool:
        connection = self._held[name]
        if connection is None:
            return True
        try:
            connection.execute(text("SELECT 1"))
            connection.commit()
            return True
        except Exception:
            logger.warning("coordination: lost the connection holding %r; trying to take it again", name)
            return False

    def _drop(self, name: str) -> None:
        connection = self._held.pop(name, None)
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except Exception:
                pass


__all__ = ["HeldLocks", "lock_key", "shared", "xact_lock"]
