"""Read the data contracts: ``metrics.csv|parquet``, ``stores.csv`` and ``calendar.csv``.

Every problem is reported as an :class:`~shopsentinel.core.errors.ImportFileError` naming the
file, the 1-based line (the header is line 1) and the column, before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from shopsentinel.core.errors import ImportFileError
from shopsentinel.core.types import DEFAULT_TIMEZONES, CalendarEvent, StoreInfo, parse_opening_hours

METRIC_COLUMNS = ("ts", "platform", "store", "metric", "value", "sku")
STORE_COLUMNS = ("store", "platform", "name", "timezone")
CALENDAR_COLUMNS = ("start", "end", "platform", "store", "name", "kind")
CALENDAR_KINDS = ("promotion", "holiday", "maintenance")

UTC_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M:%S%.f%z")


def parse_utc(column: pl.Expr) -> pl.Expr:
    """ISO-8601 strings with ``Z`` or an offset (seconds and fractions optional) → UTC datetimes."""
    return pl.coalesce([_parse_utc_as(column, f) for f in UTC_FORMATS])


def _parse_utc_as(column: pl.Expr, fmt: str) -> pl.Expr:
    normalized = column.str.strip_chars().str.replace(r"[zZ]$", "+00:00")
    return normalized.str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us")


def _parse_utc_column(raw: pl.DataFrame, name: str) -> pl.Series:
    """:func:`parse_utc` of one column: the usual format alone when it reads every row (the common
    case, and the same answer, since the others only fill what it leaves empty), else all of them."""
    first = raw.select(_parse_utc_as(pl.col(name), UTC_FORMATS[0])).to_series()
    if first.null_count() == 0:
        return first
    return raw.select(parse_utc(pl.col(name))).to_series()


def _read_csv_strings(path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy").with_columns(pl.all().fill_null(""))
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        raise ImportFileError(f"cannot read CSV: {exc}", file=str(path)) from None


def _require_columns(df: pl.DataFrame, required: tuple[str, ...], path: Path, optional: tuple[str, ...] = ()) -> pl.DataFrame:
    missing = [c for c in required if c not in df.columns and c not in optional]
    if missing:
        raise ImportFileError(f"missing required column(s) {', '.join(missing)}; found {', '.join(df.columns)}", file=str(path), line=1, field=missing[0])
    for c in optional:
        if c not in df.columns:
            df = df.with_columns(pl.lit("").alias(c))
    return df


def _first_bad(df: pl.DataFrame, mask: pl.Expr) -> tuple[int, dict[str, object]] | None:
    bad = df.with_row_index("_row").filter(mask).head(1)
    if bad.height == 0:
        return None
    row = bad.row(0, named=True)
    return int(row["_row"]), row


def read_metrics(path: Path, stores: list[str] | None = None) -> pl.DataFrame:
    """Load a metrics file into the canonical frame: ts (UTC), platform, store, sku, metric, value, line.

    ``stores`` limits a Parquet read to those stores (chunked processing of big files).
    """
    path = Path(path)
    if not path.exists():
        raise ImportFileError("file not found", file=str(path))
    if path.suffix == ".parquet":
        try:
            lazy = pl.scan_parquet(path).with_row_index("_row")
            if stores is not None:
                lazy = lazy.filter(pl.col("store").cast(pl.Utf8).is_in(stores))
            raw = lazy.collect()
        except Exception as exc:  # pyarrow/polars raise many types for a corrupt file
            raise ImportFileError(f"cannot read Parquet: {exc}", file=str(path)) from None
        return normalize_frame(raw, path, line_offset=1)
    raw = _read_csv_strings(path).with_row_index("_row")
    if stores is not None:
        raw = raw.filter(pl.col("store").str.strip_chars().is_in(stores))
    return normalize_frame(raw, path, line_offset=2)


def normalize_frame(raw: pl.DataFrame, path: Path, *, line_offset: int) -> pl.DataFrame:
    """Validate and convert a raw frame (strings or typed columns) to the canonical frame.

    ``_row`` (0-based row in the file) gives line numbers: header line 1 for CSV, so row 0 is
    line 2; Parquet rows are reported 1-based.
    """
    raw = _require_columns(raw, METRIC_COLUMNS, path, optional=("sku",))
    if "_row" not in raw.columns:
        raw = raw.with_row_index("_row")
    ts_type = raw.schema["ts"]
    ts: pl.Expr | pl.Series
    if ts_type == pl.Utf8:
        ts = _parse_utc_column(raw, "ts")
    elif isinstance(ts_type, pl.Datetime):
        ts = pl.col("ts").dt.convert_time_zone("UTC") if ts_type.time_zone else pl.col("ts").dt.replace_time_zone("UTC")
        ts = ts.dt.cast_time_unit("us")
    else:
        raise ImportFileError(f"ts has type {ts_type}, expected ISO-8601 text or a timestamp", file=str(path), field="ts")

    def text(c: str) -> pl.Expr:
        return pl.col(c).cast(pl.Utf8).fill_null("").str.strip_chars()

    frame = raw.select(
        (pl.col("_row").cast(pl.Int64) + line_offset).alias("line"),
        ts.alias("ts"),
        text("platform").alias("platform"),
        text("store").alias("store"),
        text("sku").alias("sku"),
        text("metric").alias("metric"),
        (text("value").cast(pl.Float64, strict=False) if raw.schema["value"] == pl.Utf8 else pl.col("value").cast(pl.Float64, strict=False)).alias("value"),
        text("value").alias("_raw_value"),
        text("ts").alias("_raw_ts"),
    )
    for column in ("platform", "store", "metric"):
        hit = _first_bad(frame, pl.col(column) == "")
        if hit:
            raise ImportFileError(f"{column} is empty", file=str(path), line=int(hit[1]["line"]), field=column)  # type: ignore[call-overload]
    hit = _first_bad(frame, pl.col("ts").is_null())
    if hit:
        raise ImportFileError(f"timestamp {hit[1]['_raw_ts']!r} is not ISO-8601 with Z or an offset", file=str(path), line=int(hit[1]["line"]), field="ts")  # type: ignore[call-overload]
    hit = _first_bad(frame, (pl.col("value").is_null() & (pl.col("_raw_value") != "")) | pl.col("value").is_infinite() | pl.col("value").is_nan())
    if hit:
        raise ImportFileError(f"value {hit[1]['_raw_value']!r} is not a number", file=str(path), line=int(hit[1]["line"]), field="value")  # type: ignore[call-overload]
    return frame.drop("_raw_value", "_raw_ts")


def metric_file_stores(path: Path) -> list[tuple[str, str]]:
    """(platform, store) pairs present in a metrics file, read cheaply."""
    path = Path(path)
    if path.suffix == ".parquet":
        df = pl.scan_parquet(path).select(pl.col("platform").cast(pl.Utf8), pl.col("store").cast(pl.Utf8)).unique().collect()
    else:
        df = pl.scan_csv(path, infer_schema=False).select(pl.col("platform").str.strip_chars(), pl.col("store").str.strip_chars()).unique().collect()
    return sorted((str(p), str(s)) for p, s in df.iter_rows() if p and s)


def read_stores(path: Path) -> list[StoreInfo]:
    path = Path(path)
    df = _require_columns(_read_csv_strings(path), ("store", "platform"), path, optional=("name", "timezone", "opening_hours"))
    stores: list[StoreInfo] = []
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(df.iter_rows(named=True)):
        line = i + 2
        store, platform = row["store"].strip(), row["platform"].strip()
        if not store:
            raise ImportFileError("store is empty", file=str(path), line=line, field="store")
        if not platform:
            raise ImportFileError("platform is empty", file=str(path), line=line, field="platform")
        tz = row["timezone"].strip() or DEFAULT_TIMEZONES.get(platform, "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ImportFileError(f"unknown IANA time zone {tz!r}", file=str(path), line=line, field="timezone") from None
        if (platform, store) in seen:
            raise ImportFileError(f"store {store!r} of {platform!r} is listed twice", file=str(path), line=line, field="store")
        seen.add((platform, store))
        hours = (row["opening_hours"] or "").strip()
        if hours:
            try:
                parse_opening_hours(hours)
            except ValueError as exc:
                raise ImportFileError(f"opening hours: {exc}", file=str(path), line=line, field="opening_hours") from None
        stores.append(StoreInfo(store, platform, row["name"].strip() or store, tz, hours))
    return stores


def read_calendar(path: Path) -> list[CalendarEvent]:
    path = Path(path)
    df = _require_columns(_read_csv_strings(path), ("start", "end", "name"), path, optional=("platform", "store", "kind"))
    parsed = df.with_columns(parse_utc(pl.col("start")).alias("_start"), parse_utc(pl.col("end")).alias("_end"))
    events: list[CalendarEvent] = []
    for i, row in enumerate(parsed.iter_rows(named=True)):
        line = i + 2
        for column in ("start", "end"):
            if row[f"_{column}"] is None:
                raise ImportFileError(f"{row[column]!r} is not an ISO-8601 time with Z or an offset", file=str(path), line=line, field=column)
        kind = (row["kind"] or "promotion").strip()
        if kind not in CALENDAR_KINDS:
            raise ImportFileError(f"kind {kind!r} must be one of {', '.join(CALENDAR_KINDS)}", file=str(path), line=line, field="kind")
        if row["_end"] <= row["_start"]:
            raise ImportFileError("end must be after start", file=str(path), line=line, field="end")
        events.append(CalendarEvent(row["_start"], row["_end"], row["platform"].strip(), row["store"].strip(), row["name"].strip(), kind))
    return events


def default_stores(metrics: pl.DataFrame, known: list[StoreInfo]) -> list[StoreInfo]:
    """Stores seen in the data but absent from stores.csv are registered with a platform default zone."""
    have = {(s.platform, s.store) for s in known}
    extra = [
        StoreInfo(store, platform, store, DEFAULT_TIMEZONES.get(platform, "UTC"))
        for platform, store in metrics.select("platform", "store").unique().sort("platform", "store").iter_rows()
        if (platform, store) not in have
    ]
    return known + extra


@dataclass
class Dataset:
    metrics: pl.DataFrame
    stores: list[StoreInfo]
    calendar: list[CalendarEvent]
    metrics_path: Path


def find_metrics_file(directory: Path) -> Path:
    for name in ("metrics.parquet", "metrics.csv"):
        if (directory / name).exists():
            return directory / name
    raise ImportFileError("no metrics.csv or metrics.parquet found", file=str(directory))


def read_directory(directory: Path) -> Dataset:
    directory = Path(directory)
    metrics_path = find_metrics_file(directory)
    metrics = read_metrics(metrics_path)
    stores = read_stores(directory / "stores.csv") if (directory / "stores.csv").exists() else []
    calendar = read_calendar(directory / "calendar.csv") if (directory / "calendar.csv").exists() else []
    return Dataset(metrics, default_stores(metrics, stores), calendar, metrics_path)
