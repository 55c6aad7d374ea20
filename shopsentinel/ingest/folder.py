"""A watched folder of seller-console exports: call :func:`import_folder` on a schedule.

Layout: ``<folder>/<platform>/<store>/*.csv|*.xlsx`` (the store's time zone comes from the
registered stores, else the platform's default). Each file is imported all or nothing and
remembered by path, size and modification time, so a file is imported once and a corrected
file (new size or mtime) is imported again. A malformed file is reported and recorded with its
error; it does not block the other files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import ImportFileError
from shopsentinel.core.types import DEFAULT_TIMEZONES
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sources.exports.reader import ExportImport, read_export

SUFFIXES = (".csv", ".xlsx", ".xlsm")


@dataclass
class FolderReport:
    imported: dict[str, int] = field(default_factory=dict)  # path → points
    failed: dict[str, str] = field(default_factory=dict)  # path → error (file, line, column)
    skipped: int = 0  # already imported, unchanged


def import_folder(db: SyncDB, folder: Path | str, *, clock: Clock, default_timezone: str = "UTC") -> FolderReport:
    report = FolderReport()
    zones = {(r.platform, r.store): r.timezone for r in db.stores()}
    for path in sorted(Path(folder).glob("*/*/*")):
        if path.suffix.lower() not in SUFFIXES or not path.is_file() or path.name.startswith(("~$", ".")):
            continue
        platform, store = path.parent.parent.name, path.parent.name
        stat = path.stat()
        if db.import_seen(str(path), stat.st_size, stat.st_mtime):
            report.skipped += 1
            continue
        zone = zones.get((platform, store)) or DEFAULT_TIMEZONES.get(platform, default_timezone)
        try:
            result = read_export(path, platform=platform, store=store, timezone=zone)
            db.upsert_points([result.frame])
        except ImportFileError as exc:
            report.failed[str(path)] = str(exc)
            db.record_import(str(path), stat.st_size, stat.st_mtime, clock.now(), None, str(exc))
            continue
        report.imported[str(path)] = result.frame.height
        db.record_import(str(path), stat.st_size, stat.st_mtime, clock.now(), result.frame.height, None)
    return report


def import_exports(
    db: SyncDB, paths: Sequence[Path | str], *, platform: str, store: str, timezone: str, console: str | None = None
) -> list[ExportImport]:
    """Validate every file, then upsert all their points at once (re-importing a file is a no-op)."""
    results = [read_export(p, platform=platform, store=store, timezone=timezone, console=console) for p in paths]
    db.upsert_points([r.frame for r in results])
    return results
