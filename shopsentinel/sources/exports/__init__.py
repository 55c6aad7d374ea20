"""Seller-console exports (R1.2): 生意参谋, 京东商智, 抖店罗盘, 多多情报通, Amazon Business Reports.

The column → metric tables are data in :mod:`.mappings`; :func:`read_export` parses one file into
canonical points; storing them is ingest's job (:func:`shopsentinel.ingest.folder.import_exports`, all files in one
transaction, and :func:`shopsentinel.ingest.folder.import_folder` for a watched
``<folder>/<platform>/<store>/`` tree).
"""

from __future__ import annotations

from shopsentinel.sources.exports.mappings import CONSOLES, Column, Console, console_for
from shopsentinel.sources.exports.reader import ExportImport, detect_console, read_cells, read_export

__all__ = [
    "CONSOLES",
    "Column",
    "Console",
    "ExportImport",
    "console_for",
    "detect_console",
    "read_cells",
    "read_export",
]
