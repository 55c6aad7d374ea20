"""``shopsentinel import DIR``: read a folder of the file contracts, clean it, store it all or nothing."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from shopsentinel.ingest.clean import clean
from shopsentinel.ingest.reader import default_stores, read_directory
from shopsentinel.store.metricstore import MetricStore


def import_directory(store: MetricStore, directory: Path | str) -> dict[str, int]:
    """Validate and clean every file first (a bad cell raises with file, line and column before
    anything is written), then store points, stores, calendar and findings in one transaction.
    Returns the cleaning summary plus ``replaced_existing_points`` and ``stored_points_total``."""
    dataset = read_directory(Path(directory))
    cleaned, report = clean(dataset.metrics, store.catalog())
    rows = cleaned.select(pl.col("ts"), "platform", "store", "sku", "metric", "value")
    findings = None
    if report.findings:
        findings = pl.DataFrame(
            [(f.kind, f.platform, f.store, f.sku, f.metric, f.ts, f.value, f.detail, f.line) for f in report.findings],
            schema=["kind", "platform", "store", "sku", "metric", "ts", "value", "detail", "line"],
            orient="row",
        )
    replaced = store.store_batch(
        rows,
        stores=default_stores(dataset.metrics, dataset.stores),
        calendar=dataset.calendar,
        findings=findings,
        source=str(dataset.metrics_path),
    )
    summary = report.summary()
    summary["replaced_existing_points"] = replaced
    summary["stored_points_total"] = store.count_points()
    return summary
