# Verbatim copy of the module as revision 0013 shipped it (DuckDB files), kept only so tests can
# write a real old-format file through the old code path and check the one-time move (0015).
# ruff: noqa
# type: ignore
"""The metric catalog's version history in a small DuckDB file (``shopsentinel metrics define|list --db``).

Only definitions live here; points live in the state database (:mod:`shopsentinel.store.metricstore`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import TracebackType

import duckdb

from shopsentinel.catalog import Catalog, MetricDefinition, default_catalog

SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_versions (
    id VARCHAR NOT NULL, version INTEGER NOT NULL, definition JSON NOT NULL, author VARCHAR, changed_at VARCHAR,
    PRIMARY KEY (id, version)
);
"""


class CatalogFile:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.db = duckdb.connect(self.path)
        self.db.execute(SCHEMA)

    def __enter__(self) -> CatalogFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def catalog(self) -> Catalog:
        catalog = default_catalog()
        rows = self.db.execute("SELECT definition FROM metric_versions ORDER BY id, version").fetchall()
        for (definition,) in rows:
            d = MetricDefinition(**json.loads(definition))
            catalog._current[d.id] = d
            catalog._history.setdefault(d.id, []).append(d)
        return catalog

    def define_metric(self, definition: MetricDefinition, *, author: str) -> MetricDefinition:
        catalog = self.catalog()
        saved = catalog.define(definition, author=author)
        exists = self.db.execute("SELECT 1 FROM metric_versions WHERE id = ? AND version = ?",
                                 [saved.id, saved.version]).fetchall()
        if not exists:
            self.db.execute(
                "INSERT INTO metric_versions VALUES (?, ?, ?, ?, ?)",
                [saved.id, saved.version, json.dumps(asdict(saved), ensure_ascii=False), saved.author, saved.changed_at],
            )
        return saved


__all__ = ["CatalogFile"]
