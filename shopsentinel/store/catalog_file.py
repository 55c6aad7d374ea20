"""The metric catalog's version history (``shopsentinel metrics define|list``), in the state
database's ``metric_versions`` (revision 0015; until then a DuckDB file, moved in once by
:mod:`shopsentinel.store.legacy_duckdb`).

Only definitions live here; points live in the same database (:mod:`shopsentinel.store.metricstore`).
``CatalogFile(engine)`` uses the caller's engine; ``CatalogFile(url_or_sqlite_path)`` opens (and
migrates) a state database of its own and disposes it at close.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from shopsentinel.catalog import Catalog, MetricDefinition, default_catalog
from shopsentinel.store.sync_tables import MetricVersionRow, open_state

VERSIONS = cast(Table, MetricVersionRow.__table__)


class CatalogFile:
    def __init__(self, where: Engine | Path | str) -> None:
        self.engine, self._owned, self.path = open_state(where)

    def __enter__(self) -> CatalogFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self.engine.dispose()

    def catalog(self) -> Catalog:
        catalog = default_catalog()
        with self.engine.connect() as conn:
            rows = conn.execute(select(VERSIONS.c.definition).order_by(VERSIONS.c.id, VERSIONS.c.version)).scalars().all()
        for definition in rows:
            d = MetricDefinition(**json.loads(definition))
            catalog._current[d.id] = d
            catalog._history.setdefault(d.id, []).append(d)
        return catalog

    def define_metric(self, definition: MetricDefinition, *, author: str) -> MetricDefinition:
        """Save ``definition`` as the metric's next version (the same definition again is no new one).
        Two writers defining the same metric at once: one gets the version, the other's insert is
        ignored (primary key id, version), never a duplicate."""
        catalog = self.catalog()
        saved = catalog.define(definition, author=author)
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        with self.engine.begin() as conn:
            conn.execute(insert(VERSIONS).values(
                id=saved.id, version=saved.version, definition=json.dumps(asdict(saved), ensure_ascii=False),
                author=saved.author, changed_at=saved.changed_at).on_conflict_do_nothing(index_elements=["id", "version"]))
        return saved


CatalogStore = CatalogFile

__all__ = ["CatalogFile", "CatalogStore"]
