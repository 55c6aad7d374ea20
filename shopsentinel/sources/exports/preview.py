"""Read an uploaded seller-console export without writing anything: the parsed points and which of
the file's columns mapped to which metric, for the web's upload preview and ``POST /api/v1/imports``
with ``dry_run``. Errors name the uploaded file's name, never the temporary copy."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from shopsentinel.core.errors import ImportFileError
from shopsentinel.sources.exports import CONSOLES
from shopsentinel.sources.exports.reader import ExportImport, read_cells, read_export

SUFFIXES = (".csv", ".xlsx", ".xlsm")


@dataclass(frozen=True)
class ParsedUpload:
    result: ExportImport
    mapped: list[tuple[str, str]]  # (the file's header, the metric it maps to), in the console's column order

    def per_metric(self) -> dict[str, tuple[int, float]]:
        """Points and their sum per metric, as the import would store them."""
        frame = self.result.frame
        if not frame.height:
            return {}
        sums = frame.group_by("metric").agg(n=pl.col("value").len(), t=pl.col("value").sum())
        return {m: (int(n), float(t)) for m, n, t in sums.iter_rows()}


def parse_upload(name: str, body: bytes, *, platform: str, store: str, timezone: str,
                 console: str | None = None) -> ParsedUpload:
    """Parse an upload's bytes as the export file ``name`` (its suffix picks CSV or XLSX)."""
    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(body)
        try:
            result = read_export(path, platform=platform, store=store, timezone=timezone, console=console or None)
            header = next((set(cells) for _, cells in read_cells(path)[:15]
                           if set(cells) & set(CONSOLES[result.console].date_columns)), set())
        except ImportFileError as exc:
            raise ImportFileError(str(exc).replace(str(path), name)) from None
    mapped = [(n, c.metric) for c in CONSOLES[result.console].columns for n in c.names if n in header]
    return ParsedUpload(result, mapped)


__all__ = ["SUFFIXES", "ParsedUpload", "parse_upload"]
