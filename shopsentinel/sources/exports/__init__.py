"""Seller-console exports (R1.2): 生意参谋, 京东商智, 抖店罗盘, 多多情报通, Amazon Business Reports.

The column → metric tables are data in :mod:`.mappings`; :func:`read_export` parses one file into
canonical points; :func:`import_exports` parses every file first and stores them all in one
transaction, so a malformed file is rejected (with file, line and column) and nothing stored
before is lost. :func:`import_folder` imports a watched ``<folder>/<platform>/<store>/`` tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sources.exports.folder import FolderReport, import_folder
from shopsentinel.sources.exports.mappings import CONSOLES, Column, Console, console_for
from shopsentinel.sources.exports.reader import ExportImport, detect_console, read_cells, read_export

__all__ = [
    "CONSOLES",
    "Column",
    "Console",
    "ExportImport",
    "FolderReport",
    "console_for",
    "detect_console",
    "import_folder",
    "import_exports",
    "read_cells",
    "read_export",
]


def import_exports(
    db: SyncDB, paths: Sequence[Path | str], *, platform: str, store: str, timezone: str, console: str | None = None
) -> list[ExportImport]:
    """Validate every file, then upsert all their points at once (re-importing a file is a no-op)."""
    results = [read_export(p, platform=platform, store=store, timezone=timezone, console=console) for p in paths]
    db.upsert_points([r.frame for r in results])
    return results
