"""``shopsentinel import DIR``: read a folder of the file contracts, clean it, store it all or nothing.

The points land in the install's one metric store — the state database the running ``serve``
reads (:mod:`shopsentinel.store.metricstore`) — with the stores of ``stores.csv``, the calendar,
the import's batch record and its data-quality findings, in one transaction. On SQLite that
transaction waits for a running service's writes (WAL, busy timeout) instead of failing, and the
service sees the new points at its next read (``stores.points_version``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.catalog import Catalog, default_catalog
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.ingest.clean import CleanReport, clean
from shopsentinel.ingest.reader import read_directory
from shopsentinel.store.import_state import ImportBatchRow, ImportFindingRow
from shopsentinel.store.points import PointStore
from shopsentinel.store.repository import get_store
from shopsentinel.store.state import CalendarRow, StoreRow


def import_directory(store: PointStore, directory: Path | str, *, catalog: Catalog | None = None,
                     now: datetime | None = None) -> dict[str, int]:
    """Validate and clean every file first (a bad cell raises with file, line and column before
    anything is written), then store points, stores, calendar and findings in one transaction.
    Returns the cleaning summary plus ``replaced_existing_points`` (stored points this import gave
    a different value: the latest import wins) and ``stored_points_total``."""
    dataset = read_directory(Path(directory))
    cleaned, report = clean(dataset.metrics, catalog or default_catalog())
    rows = cleaned.select(pl.col("ts"), "platform", "store", "sku", "metric", "value")
    moment = now or datetime.now(UTC)
    with store.engine.begin() as conn:
        written = store.write_in(conn, rows, now=moment)
        session = Session(bind=conn)
        _store_infos(session, dataset.stores, moment)
        _calendar(session, dataset.calendar)
        batch = ImportBatchRow(source=str(dataset.metrics_path), imported_at=moment, rows=rows.height,
                               replaced=written.replaced)
        session.add(batch)
        session.flush()
        _findings(session, batch.id, report)
        session.flush()
    store.invalidate(written.changed)
    summary = report.summary()
    summary["replaced_existing_points"] = written.replaced
    summary["stored_points_total"] = store.count()
    return summary


def _store_infos(session: Session, stores: list[StoreInfo], now: datetime) -> None:
    """The stores of ``stores.csv``: name and time zone as the file says (new ones registered)."""
    for info in stores:
        row = get_store(session, info.platform, info.store)
        if row is None:
            session.add(StoreRow(platform=info.platform, store=info.store, name=info.name or info.store,
                                 timezone=info.timezone, currency="", created_at=now))
        else:
            row.name, row.timezone = info.name or row.name, info.timezone
    session.flush()


def _calendar(session: Session, events: list[CalendarEvent]) -> None:
    """Calendar events not stored yet (same start, end, platform, store, name and kind)."""
    for e in events:
        known = session.scalar(select(CalendarRow.id).where(
            CalendarRow.starts_at == e.start, CalendarRow.ends_at == e.end, CalendarRow.platform == (e.platform or ""),
            CalendarRow.store == (e.store or ""), CalendarRow.name == e.name, CalendarRow.kind == e.kind).limit(1))
        if known is None:
            session.add(CalendarRow(starts_at=e.start, ends_at=e.end, platform=e.platform or "", store=e.store or "",
                                    name=e.name, kind=e.kind))


def _findings(session: Session, batch: int, report: CleanReport) -> None:
    session.add_all(
        ImportFindingRow(batch=batch, kind=f.kind, platform=f.platform, store=f.store, sku=f.sku or "", metric=f.metric,
                         ts=f.ts if isinstance(f.ts, datetime) else None,
                         value=None if f.value is None else float(f.value), detail=str(f.detail), line=f.line)
        for f in report.findings
    )
