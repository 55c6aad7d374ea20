"""Engine and sessions for the state database; migrations run at start."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.core.extras import require_extra
from shopsentinel.store.migrations import upgrade_to_head


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


# The API's sync routes run on anyio's worker threads (40 by default) and each request holds at most
# one connection, so the pool can serve every thread; a request that still finds it exhausted waits
# POOL_TIMEOUT seconds and is answered 503 with Retry-After (shopsentinel.app), never hangs for 30 s.
POOL_SIZE = 10
POOL_OVERFLOW = 30
POOL_TIMEOUT = 10.0


def make_engine(url: str) -> Engine:
    """An engine for SQLite (file, WAL, foreign keys) or PostgreSQL (``postgresql+psycopg://``)."""
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, "pool_timeout": POOL_TIMEOUT}
    if url.startswith("sqlite"):
        if ":memory:" in url or url.rstrip("/") == "sqlite:":
            pool = {}  # an in-memory database lives on a single connection
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if make_url(url).get_driver_name() == "psycopg":  # create_engine imports the driver: say which extra brings it
        require_extra("psycopg", "postgres", "PostgreSQL 数据库 / the PostgreSQL database")
    return create_engine(url, pool_pre_ping=True, **pool)


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL (None for memory databases and other dialects)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None  # URI filenames: left to whoever wrote them
    return Path(parsed.database)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite's -wal and -shm files then take
    the same mode): the state database holds token hashes, sealed secrets and user data. An existing
    database (and its -wal/-shm) that others may read, as earlier versions left it, loses those bits."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            _withdraw_others(existing)
        return
    os.fchmod(fd, 0o600)  # whatever the umask
    os.close(fd)


def _withdraw_others(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and path.is_file():
            os.chmod(path, mode & 0o700)
    except OSError:  # missing, or someone else's file: SQLite reports what matters when it opens it
        pass


class DatabaseContact:
    """The outcome of the engine's latest contact with the database, kept in process from engine
    events (a statement that completed; a failed connect or a dropped connection) so that ``/healthz``
    can answer without asking the pool for a connection — it answers at once even when every
    connection is taken. Busy (a pool timeout, SQLite's lock) is not down; only failures to reach
    the server count. The clock is ``time.monotonic``: wall-clock jumps do not reorder contacts.

    >>> contact = DatabaseContact()
    >>> contact.down()
    False
    >>> contact.failed("connection refused"); contact.down(), contact.error
    (True, 'connection refused')
    >>> contact.reached(); contact.down()
    False
    """

    def __init__(self) -> None:
        self.last_ok: float = time.monotonic()  # created right after the engine migrated the schema
        self.last_failure: float | None = None
        self.error = ""

    def reached(self) -> None:
        self.last_ok = time.monotonic()

    def failed(self, error: str) -> None:
        self.last_failure, self.error = time.monotonic(), error

    def down(self) -> bool:
        """Whether the latest contact was a failure to reach the database."""
        return self.last_failure is not None and self.last_failure >= self.last_ok

    @classmethod
    def watch(cls, engine: Engine) -> DatabaseContact:
        """A contact record fed by ``engine``'s events from now on."""
        contact = cls()

        def executed(*_args: Any) -> None:
            contact.reached()

        def errored(context: ExceptionContext) -> None:
            if context.is_disconnect or context.connection is None:  # dropped, or could not connect at all
                contact.failed(type(context.original_exception).__name__)

        event.listen(engine, "after_cursor_execute", executed)
        event.listen(engine, "handle_error", errored)
        return contact


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    path = sqlite_file(url)
    if path is not None:
        create_private_file(path)
    engine = make_engine(url)
    upgrade_to_head(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


__all__ = ["DatabaseContact", "create_private_file", "make_engine", "open_database", "sqlite_file"]
