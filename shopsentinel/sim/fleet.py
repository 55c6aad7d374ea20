"""Synthetic multi-platform store fleet with labelled incidents and traps (the detection benchmark).

``generate_fleet(FleetSpec(...))`` returns a :class:`Fleet` of polars frames; ``write_fleet`` writes
the files the detector reads (metrics, stores, calendar) and the labels only the scorer reads
(incidents.csv, traps.csv). ``iter_fleet_chunks`` / ``write_fleet_chunked`` produce the same rows a
few stores at a time, so a thousand-store fleet fits in a few GB.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from shopsentinel.sim.fleet_model import (
    CALENDAR_COLUMNS,
    INCIDENT_COLUMNS,
    METRICS_SCHEMA,
    STORE_COLUMNS,
    TRAP_COLUMNS,
    CalendarEvent,
    Fleet,
    FleetSpec,
    IncidentLabel,
    StoreProfile,
    TrapLabel,
)
from shopsentinel.sim.fleet_store_sim import StoreResult, assign_incident_types, simulate_store
from shopsentinel.sim.fleet_stores import build_calendar, build_stores

__all__ = ["Fleet", "FleetSpec", "generate_fleet", "iter_fleet_chunks", "write_fleet", "write_fleet_chunked"]

ISO = "%Y-%m-%dT%H:%M:%SZ"


def _at(spec: FleetSpec, hour: int) -> datetime:
    return spec.start + timedelta(hours=hour)


UTC_TIME = pl.Datetime("us", "UTC")


def _metrics_frame(spec: FleetSpec, result: StoreResult) -> pl.DataFrame:
    rows = result.rows
    order = np.lexsort((rows.series, rows.hour))  # time-major, like a console export
    start_us = int(spec.start.timestamp() * 1_000_000)
    ts = pl.Series("ts", start_us + rows.hour[order] * 3_600_000_000, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    series = pl.Series(rows.series[order].astype(np.uint32))
    metric = pl.Series("metric", [m for m, _ in result.names], dtype=pl.String).gather(series)
    sku = pl.Series("sku", [s for _, s in result.names], dtype=pl.String).gather(series)
    n = order.size
    return pl.DataFrame({
        "ts": ts,
        "platform": pl.repeat(result.store.platform, n, eager=True, dtype=pl.String),
        "store": pl.repeat(result.store.store, n, eager=True, dtype=pl.String),
        "metric": metric,
        "value": pl.Series("value", rows.value[order], dtype=pl.Float64),
        "sku": sku,
    }, schema=METRICS_SCHEMA)


def _stores_frame(stores: list[StoreProfile]) -> pl.DataFrame:
    return pl.DataFrame({"store": [s.store for s in stores], "platform": [s.platform for s in stores],
                         "name": [s.name for s in stores], "timezone": [s.timezone for s in stores]},
                        schema=dict.fromkeys(STORE_COLUMNS, pl.String))


def _calendar_frame(spec: FleetSpec, events: list[CalendarEvent]) -> pl.DataFrame:
    return pl.DataFrame({"start": [_at(spec, e.start) for e in events], "end": [_at(spec, e.end) for e in events],
                         "platform": [e.platform for e in events], "store": [e.store for e in events],
                         "name": [e.name for e in events], "kind": [e.kind for e in events]},
                        schema={c: UTC_TIME if c in ("start", "end") else pl.String() for c in CALENDAR_COLUMNS})


def _incidents_frame(spec: FleetSpec, labels: list[IncidentLabel]) -> pl.DataFrame:
    return pl.DataFrame({
        "id": [i.id for i in labels], "type": [i.type for i in labels], "platform": [i.platform for i in labels],
        "store": [i.store for i in labels], "sku": [i.sku for i in labels],
        "metrics": [";".join(i.metrics) for i in labels], "start": [_at(spec, i.start) for i in labels],
        "end": [_at(spec, i.end) for i in labels], "severity_hint": [i.severity_hint for i in labels],
    }, schema={c: UTC_TIME if c in ("start", "end") else pl.String() for c in INCIDENT_COLUMNS})


def _traps_frame(spec: FleetSpec, labels: list[TrapLabel]) -> pl.DataFrame:
    return pl.DataFrame({
        "type": [t.type for t in labels], "platform": [t.platform for t in labels], "store": [t.store for t in labels],
        "sku": [t.sku for t in labels], "metric": [t.metric for t in labels],
        "start": [_at(spec, t.start) for t in labels], "end": [_at(spec, t.end) for t in labels],
    }, schema={c: UTC_TIME if c in ("start", "end") else pl.String() for c in TRAP_COLUMNS})


def iter_fleet_chunks(spec: FleetSpec, stores_per_chunk: int = 50) -> Iterator[Fleet]:
    """Yield the fleet a few stores at a time; each chunk carries the full stores and calendar frames.

    Concatenating the chunks' metrics, incidents and traps gives exactly ``generate_fleet(spec)``.
    """
    stores = build_stores(spec)
    calendar = build_calendar(spec, stores)
    types = assign_incident_types(spec, stores)
    stores_frame, calendar_frame = _stores_frame(stores), _calendar_frame(spec, calendar)
    for first in range(0, len(stores), stores_per_chunk):
        chunk = stores[first:first + stores_per_chunk]
        results = [simulate_store(spec, store, calendar, types[store.index]) for store in chunk]
        yield Fleet(
            spec=spec,
            metrics=pl.concat([_metrics_frame(spec, r) for r in results]),
            stores=stores_frame, calendar=calendar_frame,
            incidents=_incidents_frame(spec, [i for r in results for i in r.incidents]),
            traps=_traps_frame(spec, [t for r in results for t in r.traps]),
            profiles=chunk,
        )


def generate_fleet(spec: FleetSpec | None = None) -> Fleet:
    """The whole fleet in memory (24 stores x 112 days is about 2 million rows)."""
    spec = spec or FleetSpec()
    chunks = list(iter_fleet_chunks(spec, stores_per_chunk=max(spec.stores, 1)))
    first = chunks[0]
    return Fleet(spec=spec, metrics=first.metrics, stores=first.stores, calendar=first.calendar,
                 incidents=first.incidents, traps=first.traps, profiles=first.profiles)


def _metrics_for_csv(metrics: pl.DataFrame) -> pl.DataFrame:
    """ISO timestamps with Z, and whole numbers without a trailing '.0' (like a console export)."""
    value = pl.col("value")
    whole = (value == value.round(0)) & (value.abs() < 1e15)
    return metrics.select(
        pl.col("ts").dt.strftime(ISO).alias("ts"), "platform", "store", "metric",
        pl.when(whole).then(value.cast(pl.Int64).cast(pl.String)).otherwise(value.cast(pl.String)).alias("value"),
        pl.col("sku").replace("", None),
    )


def _empty_as_blank(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV form of a side file: ISO times with Z, and empty strings as bare blanks (polars would
    quote them as "", the contract writes ``uv,18234,``)."""
    return frame.with_columns(pl.col(pl.String).replace("", None),
                              pl.col(pl.Datetime).dt.strftime(ISO))


def _write_side_files(fleet: Fleet, outdir: Path, incidents: pl.DataFrame, traps: pl.DataFrame,
                      labels_dir: Path) -> None:
    _empty_as_blank(fleet.stores).write_csv(outdir / "stores.csv")
    _empty_as_blank(fleet.calendar).write_csv(outdir / "calendar.csv")
    labels_dir.mkdir(parents=True, exist_ok=True)
    _empty_as_blank(incidents).write_csv(labels_dir / "incidents.csv")
    _empty_as_blank(traps).write_csv(labels_dir / "traps.csv")


def write_fleet(fleet: Fleet, outdir: str | Path, fmt: Literal["csv", "parquet"] = "csv",
                labels_dir: str | Path | None = None) -> Path:
    """Write metrics.csv|parquet, stores.csv, calendar.csv and the labels; returns the metrics path.

    ``labels_dir`` puts incidents.csv and traps.csv elsewhere (bench/quality.py does, so the detector
    under test cannot even accidentally read the answers)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path = out / "metrics.csv"
        _metrics_for_csv(fleet.metrics).write_csv(path)
    elif fmt == "parquet":
        path = out / "metrics.parquet"
        fleet.metrics.write_parquet(path)
    else:
        raise ValueError(f"unknown format {fmt!r}; use csv or parquet")
    _write_side_files(fleet, out, fleet.incidents, fleet.traps, Path(labels_dir) if labels_dir else out)
    return path


def write_fleet_chunked(spec: FleetSpec, outdir: str | Path, fmt: Literal["csv", "parquet"] = "parquet",
                        stores_per_chunk: int = 25, progress: bool = False) -> Path:
    """Stream a large fleet to disk chunk by chunk (memory bounded by one chunk)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"metrics.{fmt}"
    writer: pq.ParquetWriter | None = None
    incidents: list[pl.DataFrame] = []
    traps: list[pl.DataFrame] = []
    last: Fleet | None = None
    with path.open("wb") as sink:
        for n, chunk in enumerate(iter_fleet_chunks(spec, stores_per_chunk)):
            if fmt == "parquet":
                table = chunk.metrics.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(sink, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=1_000_000)
            else:
                _metrics_for_csv(chunk.metrics).write_csv(sink, include_header=n == 0)
            incidents.append(chunk.incidents)
            traps.append(chunk.traps)
            last = chunk
            if progress:
                done = min((n + 1) * stores_per_chunk, spec.stores)
                print(f"{datetime.now():%H:%M:%S} {done}/{spec.stores} stores", flush=True)
        if writer is not None:
            writer.close()
    assert last is not None
    _write_side_files(last, out, pl.concat(incidents), pl.concat(traps), out)
    return path
