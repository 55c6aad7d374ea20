"""Alembic migrations of the state database, run programmatically (``upgrade head``) at start.

>>> from sqlalchemy import create_engine
>>> upgrade_to_head(create_engine("sqlite://"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


# pg_advisory_lock key of the schema migration ("shopsentinel migrate" folded into a bigint).
MIGRATION_LOCK_KEY = 0x5353_4D49_4752_4154 & 0x7FFF_FFFF_FFFF_FFFF


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations between processes sharing a database. PostgreSQL: a session-level
    advisory lock held on its own connection while ``upgrade head`` runs (two first starts would
    otherwise both create the tables, and one fails with UniqueViolation). SQLite: the file's own
    write lock (``BEGIN IMMEDIATE`` in the migration's transaction and ``busy_timeout``) serialises
    writers; nothing more is needed."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema behind ``engine`` to the newest revision (idempotent), under the migration
    lock so concurrent first starts take turns; the second finds the schema current."""
    with migration_lock(engine):
        command.upgrade(alembic_config(engine), "head")


__all__ = ["MIGRATIONS_DIR", "MIGRATION_LOCK_KEY", "alembic_config", "migration_lock", "upgrade_to_head"]
