"""Read one seller-console export (CSV or XLSX) into canonical points.

Consoles put a few title lines above the header ("统计时间：…"); the header is the first row
that names the layout's date column. Rows are daily (a date) or hourly (a date plus an hour
column, or a date-time cell); times are the store's local clock and become UTC. Daily values
land on the local midnight that starts the day, like the Amazon connector's daily report rows.

Every problem raises :class:`~shopsentinel.core.errors.ImportFileError` naming the file, the
spreadsheet line (1-based, as a spreadsheet shows it) and the column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from shopsentinel.core.errors import ImportFileError
from shopsentinel.sources.exports.mappings import BOUNCE_RATE, CONSOLES, IGNORED_COLUMNS, Column, Console
from shopsentinel.sources.exports.values import BadValue, is_missing, parse_date, parse_hour, parse_value
from shopsentinel.sources.hourly import points_frame

HEADER_SEARCH_ROWS = 15
TOTAL_MARKERS = frozenset({"合计", "总计", "汇总", "Total", "Totals"})
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass
class ExportImport:
    """What one file yielded: points, and what was noticed on the way."""

    file: str
    console: str
    frame: pl.DataFrame
    rows: int
    hourly: bool
    unmapped_columns: list[str] = field(default_factory=list)


Table = list[tuple[int, list[str]]]  # (spreadsheet line, cells as text)


def read_cells(path: Path) -> Table:
    """Every non-blank row of the file's first sheet as text cells, with its line number."""
    if not path.exists():
        raise ImportFileError("file not found", file=str(path))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    for encoding in CSV_ENCODINGS:  # Chinese consoles often export GBK
        try:
            with path.open(encoding=encoding, newline="") as handle:
                rows = list(csv.reader(handle))
        except UnicodeDecodeError:
            continue
        except (OSError, csv.Error) as exc:
            raise ImportFileError(f"cannot read CSV: {exc}", file=str(path)) from None
        return [(i, [c.strip() for c in row]) for i, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    raise ImportFileError("cannot decode the file as UTF-8 or GB18030", file=str(path))


def _cell_text(value: object, number_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, int | float) and not isinstance(value, bool) and "%" in number_format:
        return f"{value * 100:.10g}%"  # a 3.21% cell stores 0.0321
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile/openpyxl raise many types for a corrupt file
        raise ImportFileError(f"cannot read XLSX: {type(exc).__name__}: {exc}", file=str(path)) from None
    try:
        sheet = book.worksheets[0]
        table: Table = []
        for line, row in enumerate(sheet.iter_rows(), start=1):
            cells = [_cell_text(c.value, getattr(c, "number_format", "") or "") for c in row]
            if any(cells):
                table.append((line, cells))
        return table
    finally:
        book.close()


def detect_console(table: Table, platform: str | None = None) -> Console | None:
    """The layout (of ``platform``, if given) whose date and metric columns best match a header row."""
    best: tuple[int, Console | None] = (0, None)
    candidates = [c for c in CONSOLES.values() if platform is None or platform in c.platforms]
    for _, cells in table[:HEADER_SEARCH_ROWS]:
        names = set(cells)
        for console in candidates:
            if not names & set(console.date_columns):
                continue
            score = sum(1 for column in console.columns if names & set(column.names))
            if score > best[0]:
                best = (score, console)
    return best[1]


def read_export(path: Path | str, *, platform: str, store: str, timezone: str, console: str | None = None) -> ExportImport:
    """Parse the whole file (nothing is stored here); ``console`` is detected from the header if omitted."""
    path = Path(path)
    return parse_table(read_cells(path), path, platform=platform, store=store, timezone=timezone, console=console)


def parse_table(
    table: Table, path: Path, *, platform: str, store: str, timezone: str, console: str | None = None
) -> ExportImport:
    """Rows already split into text cells (a file, or rows pushed over HTTP) → points."""
    layout = CONSOLES.get(console) if console else detect_console(table, platform)
    if layout is None:
        raise ImportFileError(f"no {platform} export layout matches the header (known: {', '.join(CONSOLES)})"
                              if console is None else f"unknown export layout {console!r}", file=str(path))
    if platform not in layout.platforms:
        raise ImportFileError(f"{layout.title} exports belong to {'/'.join(layout.platforms)}, not {platform}", file=str(path))
    return _Parser(path, layout, ZoneInfo(timezone), platform, store).run(table)


class _Parser:
    def __init__(self, path: Path, layout: Console, tz: ZoneInfo, platform: str, store: str) -> None:
        self.path, self.layout, self.tz, self.platform, self.store = path, layout, tz, platform, store

    def error(self, message: str, line: int | None = None, column: str | None = None) -> ImportFileError:
        return ImportFileError(message, file=str(self.path), line=line, field=column)

    def run(self, table: Table) -> ExportImport:
        header_at = next((i for i, (_, cells) in enumerate(table[:HEADER_SEARCH_ROWS])
                          if set(cells) & set(self.layout.date_columns)), None)
        if header_at is None:
            raise self.error(f"no header row with a date column ({' / '.join(self.layout.date_columns)})", 1)
        header_line, header = table[header_at]
        index = {name: i for i, name in enumerate(header) if name}
        date_col = next(n for n in self.layout.date_columns if n in index)
        hour_col = next((n for n in self.layout.hour_columns if n in index), None)
        sku_col = next((n for n in self.layout.sku_columns if n in index), None)
        metrics: list[tuple[str, Column]] = [(n, c) for c in self.layout.columns for n in c.names if n in index]
        if not metrics:
            raise self.error(f"no metric column of {self.layout.title} in the header", header_line)
        known = {date_col, hour_col, sku_col, *(n for n, _ in metrics), *IGNORED_COLUMNS}
        rows: dict[tuple[datetime, str, str], float] = {}
        hourly = False
        count = 0
        for line, cells in table[header_at + 1:]:
            cell = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
            if cell.get(date_col, "") in TOTAL_MARKERS or not cell.get(date_col, ""):
                if any(cell.get(n) for n, _ in metrics) and cell.get(date_col, "") not in TOTAL_MARKERS:
                    raise self.error("date is empty", line, date_col)
                continue
            ts, is_hourly = self._time(cell, date_col, hour_col, line)
            hourly |= is_hourly
            sku = cell.get(sku_col, "") if sku_col else ""
            values = self._values(cell, metrics, line)
            for metric, value in values.items():
                key = (ts, sku, metric)
                if key in rows:
                    raise self.error(f"a second row for {ts.isoformat()} {sku}".rstrip(), line, date_col)
                rows[key] = value
            count += 1
        frame = points_frame(((ts, sku, m, v) for (ts, sku, m), v in rows.items()), platform=self.platform, store=self.store)
        unmapped = [n for n in header if n and n not in known]
        return ExportImport(str(self.path), self.layout.key, frame, count, hourly, unmapped)

    def _time(self, cell: dict[str, str], date_col: str, hour_col: str | None, line: int) -> tuple[datetime, bool]:
        try:
            day, hour = parse_date(cell[date_col], self.layout.date_formats)
        except BadValue as exc:
            raise self.error(str(exc), line, date_col) from None
        if hour_col is not None and not is_missing(cell.get(hour_col, "")):
            try:
                hour = parse_hour(cell[hour_col])
            except BadValue as exc:
                raise self.error(str(exc), line, hour_col) from None
        local = datetime.combine(day, time(hour or 0), self.tz)
        return local.astimezone(UTC), hour is not None and (hour != 0 or hour_col is not None)

    def _values(self, cell: dict[str, str], metrics: list[tuple[str, Column]], line: int) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, column in metrics:
            text = cell.get(name, "")
            if is_missing(text):
                continue  # not reported is not zero
            try:
                values[column.metric] = parse_value(text, column.kind)
            except BadValue as exc:
                raise self.error(str(exc), line, name) from None
        if BOUNCE_RATE in values:  # 跳失率 × 访客数 → bounces, so bounce_rate derives the same everywhere
            rate = values.pop(BOUNCE_RATE)
            if "uv" in values:
                values["bounces"] = float(round(rate * values["uv"]))
            else:
                values["platform_bounce_rate"] = rate
        return values
