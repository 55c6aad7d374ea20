"""The state databases a benchmark runs against: a temp SQLite file and, when the local server
answers, a fresh schema in PostgreSQL (127.0.0.1:5432, database ``test``) dropped afterwards."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_HOST = "127.0.0.1"


def pg_user() -> str | None:
    import psycopg

    for user in ("postgres", "root"):
        try:
            with psycopg.connect(host=PG_HOST, port=5432, dbname="test", user=user, connect_timeout=2):
                return user
        except psycopg.OperationalError:
            continue
    return None


@contextmanager
def _pg_schema(user: str) -> Iterator[str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_HOST, dbname="test", user=user, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://{user}@{PG_HOST}:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(host=PG_HOST, dbname="test", user=user, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def each_database(choice: str, prefix: str) -> Iterator[tuple[str, str]]:
    """``(name, url)`` for ``choice`` in sqlite | postgresql | both; PostgreSQL is skipped (said) when unreachable."""
    if choice in ("sqlite", "both"):
        yield "sqlite", f"sqlite:///{tempfile.mkdtemp(prefix=prefix)}/state.db"
    if choice in ("postgresql", "both"):
        user = pg_user()
        if user is None:
            print(f"PostgreSQL not reachable at {PG_HOST}:5432 (database 'test', user postgres/root): skipped")
            return
        with _pg_schema(user) as url:
            yield "postgresql", url
