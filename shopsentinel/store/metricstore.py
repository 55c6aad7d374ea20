"""The embedded metric store (DuckDB): canonical points, stores, calendar, findings and
the metric catalog's version history.

Imports are all or nothing: every file is read and validated before the transaction starts,
and any failure rolls back, so nothing stored before is lost. A point imported again with a
different value replaces the old one (the latest import wins) and is counted as a conflict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import duckdb
import polars as pl

from shopsentinel.catalog import Catalog, MetricDefinition, default_catalog
from shopsentinel.core.types import CalendarEvent, StoreInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    ts TIMESTAMPTZ NOT NULL, platform VARCHAR NOT NULL, store VARCHAR NOT NULL, sku VARCHAR NOT NULL,
    metric VARCHAR NOT NULL, value DOUBLE NOT NULL, batch INTEGER NOT NULL,
    PRIMARY KEY (platform, store, sku, metric, ts)
);
CREATE TABLE IF NOT EXISTS stores (
    platform VARCHAR NOT NULL, store VARCHAR NOT NULL, name VARCHAR, timezone VARCHAR NOT NULL,
    PRIMARY KEY (platform, store)
);
CREATE TABLE IF NOT EXISTS calendar (
    start TIMESTAMPTZ, "end" TIMESTAMPTZ, platform VARCHAR, store VARCHAR, name VARCHAR, kind VARCHAR
);
CREATE TABLE IF NOT EXISTS findings (
    batch INTEGER, kind VARCHAR, platform VARCHAR, store VARCHAR, sku VARCHAR, metric VARCHAR,
    ts TIMESTAMPTZ, value DOUBLE, detail VARCHAR, line BIGINT
);
CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, source VARCHAR, imported_at TIMESTAMPTZ, rows BIGINT);
CREATE TABLE IF NOT EXISTS metric_versions (
    id VARCHAR NOT NULL, version INTEGER NOT NULL, definition JSON NOT NULL, author VARCHAR, changed_at VARCHAR,
    PRIMARY KEY (id, version)
);
"""


class MetricStore:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.db = duckdb.connect(self.path)
        self.db.execute(SCHEMA)

    def __enter__(self) -> MetricStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ import
    def store_batch(
        self,
        rows: pl.DataFrame,
        *,
        stores: Sequence[StoreInfo],
        calendar: Sequence[CalendarEvent],
        findings: pl.DataFrame | None,
        source: str,
    ) -> int:
        """Store one cleaned import in one transaction (all or nothing); returns how many stored
        points it replaced with a different value. ``rows`` has ts, platform, store, sku, metric,
        value; ``findings`` the data-quality findings without their batch column. Reading and
        cleaning the files is :func:`shopsentinel.ingest.importer.import_directory`'s job."""
        self.db.execute("BEGIN TRANSACTION")
        try:
            batch = self._count("SELECT coalesce(max(id), 0) + 1 FROM batches")
            self.db.register("incoming", rows.to_arrow())
            replaced = self._count(
                "SELECT count(*) FROM points p JOIN incoming i USING (platform, store, sku, metric, ts) WHERE p.value <> i.value"
            )
            self.db.execute("DELETE FROM points WHERE (platform, store, sku, metric, ts) IN (SELECT platform, store, sku, metric, ts FROM incoming)")
            self.db.execute(f"INSERT INTO points SELECT ts, platform, store, sku, metric, value, {batch} FROM incoming")
            self.db.unregister("incoming")
            for s in stores:
                self.db.execute(
                    "INSERT OR REPLACE INTO stores VALUES (?, ?, ?, ?)", [s.platform, s.store, s.name, s.timezone]
                )
            for e in calendar:
                self.db.execute("INSERT INTO calendar VALUES (?, ?, ?, ?, ?, ?)", [e.start, e.end, e.platform, e.store, e.name, e.kind])
            if findings is not None and findings.height:
                self.db.register("incoming_findings", findings.select(pl.lit(batch).alias("batch"), pl.all()).to_arrow())
                self.db.execute("INSERT INTO findings SELECT * FROM incoming_findings")
                self.db.unregister("incoming_findings")
            self.db.execute("INSERT INTO batches VALUES (?, ?, ?, ?)", [batch, source, datetime.now(UTC), rows.height])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return replaced

    def count_points(self) -> int:
        return self._count("SELECT count(*) FROM points")

    def _count(self, sql: str) -> int:
        value = self._scalar(sql)
        return int(value) if isinstance(value, int | float) else 0

    def _scalar(self, sql: str, params: list[object] | None = None) -> object:
        rows = self.db.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def points(self, *, store: str | None = None, metric: str | None = None) -> pl.DataFrame:
        sql = "SELECT epoch_us(ts) AS ts_us, platform, store, sku, metric, value FROM points WHERE 1=1"
        params: list[str] = []
        if store:
            sql += " AND store = ?"
            params.append(store)
        if metric:
            sql += " AND metric = ?"
            params.append(metric)
        result = self.db.execute(sql + " ORDER BY ts_us", params)
        columns = [d[0] for d in result.description or []]
        frame = pl.DataFrame(result.fetchall(), schema=columns, orient="row")
        return frame.select(
            pl.col("ts_us").cast(pl.Int64).cast(pl.Datetime("us", "UTC")).alias("ts"), "platform", "store", "sku", "metric", "value"
        )

    # ------------------------------------------------------------------ catalog
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
        exists = self._scalar("SELECT 1 FROM metric_versions WHERE id = ? AND version = ?", [saved.id, saved.version])
        if not exists:
            self.db.execute(
                "INSERT INTO metric_versions VALUES (?, ?, ?, ?, ?)",
                [saved.id, saved.version, json.dumps(asdict(saved), ensure_ascii=False), saved.author, saved.changed_at],
            )
        return saved
