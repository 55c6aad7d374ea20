"""Migrations run under a PostgreSQL advisory lock (issue 14, item 5): concurrent first starts of real
processes on one fresh schema take turns (no UniqueViolation) and leave it at head; a migrator waits
while another holds the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from shopsentinel.store.migrations import MIGRATION_LOCK_KEY, MIGRATIONS_DIR
from tests.support.service import PG_HOST, pg_schema

# Import everything, say so, wait for the go file, then migrate: both children start upgrading together.
CHILD = r"""
import sys, time
from pathlib import Path
from shopsentinel.store.db import open_database
url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
deadline = time.monotonic() + 120
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.01)
engine, _ = open_database(url)
engine.dispose()
print("migrated")
"""


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head
    return head


@pytest.fixture
def fresh_schema() -> Iterator[tuple[str, str, str]]:
    """(user, schema, database URL) of a brand-new empty PostgreSQL schema, dropped after."""
    with pg_schema("lock") as found:
        yield found


def child(url: str, tmp: Path, name: str) -> tuple[subprocess.Popen[str], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSENTINEL_")}
    ready = tmp / f"ready-{name}"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, url, str(ready), str(tmp / "go")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, ready


def poll(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def schema_state(user: str, schema: str) -> tuple[list[str], int]:
    """The schema's alembic revisions and its number of tables."""
    with psycopg.connect(host=PG_HOST, dbname="test", user=user, autocommit=True) as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)).fetchall()
        names = {t for (t,) in tables}
        revisions = [r for (r,) in conn.execute(f'SELECT version_num FROM "{schema}".alembic_version')] \
            if "alembic_version" in names else []
    return revisions, len(names)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def test_two_processes_migrating_one_fresh_schema_at_once_both_succeed(
        fresh_schema: tuple[str, str, str], tmp_path: Path) -> None:
    user, schema, url = fresh_schema
    procs = [child(url, tmp_path, name) for name in ("a", "b")]
    try:
        poll("both children ready", lambda: all(ready.exists() for _, ready in procs))
        (tmp_path / "go").touch()
        results = [finish(proc) for proc, _ in procs]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
    for code, out, err in results:
        assert code == 0 and out.strip() == "migrated", err[-3000:]
        assert "UniqueViolation" not in err and "DuplicateTable" not in err
    revisions, tables = schema_state(user, schema)
    assert revisions == [head_revision()] and tables > 20


def test_a_migrator_waits_while_another_holds_the_migration_lock(
        fresh_schema: tuple[str, str, str], tmp_path: Path) -> None:
    user, schema, url = fresh_schema
    classid, objid = MIGRATION_LOCK_KEY >> 32, MIGRATION_LOCK_KEY & 0xFFFF_FFFF
    with psycopg.connect(host=PG_HOST, dbname="test", user=user, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        (tmp_path / "go").touch()
        name = f"migrator-{uuid.uuid4().hex[:8]}"  # to tell the child's connections from other tests'
        proc, _ = child(f"{url}&application_name={name}", tmp_path, "waiter")
        try:
            def waiting() -> bool:
                assert proc.poll() is None, proc.communicate()  # it must not finish while the lock is held
                row = holder.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = %s AND l.objid = %s "
                    "AND l.objsubid = 1 AND a.application_name = %s", (classid, objid, name)).fetchone()
                return bool(row and row[0])

            poll("the child to wait on the migration lock", waiting)
            assert schema_state(user, schema) == ([], 0)  # nothing migrated while it waits
            holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
            code, out, err = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0 and out.strip() == "migrated", err[-3000:]
    assert schema_state(user, schema)[0] == [head_revision()]
