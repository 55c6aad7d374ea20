"""The Alembic revisions build exactly the schema the SQLAlchemy models describe (no table,
column or index only on one side), on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import shopsentinel.store  # noqa: F401 - registers every model module on the metadata
from shopsentinel.store.db import open_database
from shopsentinel.store.state import Base


def test_migrated_database_equals_the_models(database_url: str) -> None:
    engine, _ = open_database(database_url)  # applies every revision
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version")] == []
