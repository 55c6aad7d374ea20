"""Backtest: replay history through the same evaluator the live service uses.

Stores are processed in shards (``stores_per_shard`` at a time): read → clean → panel →
evaluate → data alerts. Shards are independent, which keeps memory flat for thousands of stores
and is the seam along which the service later spreads work over workers.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import polars as pl

from shopsentinel.alerting.incidents import assign_incidents
from shopsentinel.catalog import Catalog, default_catalog
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.logs import configure_worker
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.custom import custom_metric_alerts
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.learning import RuleLearning, store_learning
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.quality import finding_alerts, silent_metric_alerts, silent_store_alerts
from shopsentinel.detect.rules import Rule, RulePack, default_rules
from shopsentinel.detect.significance import preload as preload_scoring
from shopsentinel.ingest.clean import CleanReport, clean
from shopsentinel.ingest.reader import (
    default_stores,
    find_metrics_file,
    metric_file_stores,
    read_calendar,
    read_metrics,
    read_stores,
)

HOUR = timedelta(hours=1)


@dataclass
class BacktestResult:
    events: list[AlertEvent]
    tasks: list[AlertEvent]
    clean: CleanReport
    stores: list[StoreInfo]
    start: datetime
    end: datetime
    rows: int = 0
    findings_total: dict[str, int] = field(default_factory=dict)
    # Each alerting rule's learning state per store at the end of the data (learning / partial / ready).
    learning: dict[tuple[str, str], list[RuleLearning]] = field(default_factory=dict)


def _time_range(path: Path, frame: pl.DataFrame | None) -> tuple[datetime, datetime]:
    if frame is not None:
        lo, hi = frame.select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")).row(0)
    else:
        from shopsentinel.ingest.reader import parse_utc

        ts = pl.scan_parquet(path).select("ts")
        schema = ts.collect_schema()["ts"]
        col = parse_utc(pl.col("ts")) if schema == pl.Utf8 else pl.col("ts")
        lo, hi = ts.select(col.min().alias("lo"), col.max().alias("hi")).collect().row(0)
        lo = lo if lo.tzinfo else lo.replace(tzinfo=UTC)
        hi = hi if hi.tzinfo else hi.replace(tzinfo=UTC)
    start = lo.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = hi.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + HOUR
    return start, end


def _merge(total: CleanReport, part: CleanReport) -> None:
    total.rows_in += part.rows_in
    total.rows_out += part.rows_out
    total.exact_duplicates += part.exact_duplicates
    total.conflicts += part.conflicts
    total.missing_values += part.missing_values
    total.quarantined += part.quarantined
    total.findings += part.findings


def run_backtest(
    directory: Path,
    *,
    rules: RulePack | None = None,
    catalog: Catalog | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    stores_per_shard: int = 40,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    directory = Path(directory)
    catalog = catalog or default_catalog()
    pack = rules or default_rules()
    metrics_path = find_metrics_file(directory)
    known_stores = read_stores(directory / "stores.csv") if (directory / "stores.csv").exists() else []
    calendar = read_calendar(directory / "calendar.csv") if (directory / "calendar.csv").exists() else []
    workers = max(1, min(workers or os.cpu_count() or 1, 2))
    # The worker processes start (a second or more of imports each) while this one reads the file,
    # when stores.csv already says there will be more than one store to share out.
    pool = _start_pool(workers) if workers > 1 and len(known_stores) > 1 else None
    try:
        return _run(directory, metrics_path, known_stores, calendar, catalog, pack, start, end, stores_per_shard,
                    workers, pool, progress)
    finally:
        if pool is not None:
            pool.shutdown()


def _start_pool(workers: int) -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)
    # Spawn every process now rather than at the first shards: a spawned pool starts one more
    # process per task submitted while none is idle.
    for _ in range(workers):
        pool.submit(_ready)
    return pool


def _init_worker() -> None:
    """Start-up of a spawned worker: logging as the parent's (redacted); unpickling this function
    has already imported this module, and with it the detection code; scipy too, while the main
    process still reads the file."""
    configure_worker()
    preload_scoring()


def _ready() -> None:
    """A task that does nothing."""


def _run(
    directory: Path,
    metrics_path: Path,
    known_stores: list[StoreInfo],
    calendar: list[CalendarEvent],
    catalog: Catalog,
    pack: RulePack,
    start: datetime | None,
    end: datetime | None,
    stores_per_shard: int,
    workers: int,
    pool: ProcessPoolExecutor | None,
    progress: Callable[[int, int], None] | None,
) -> BacktestResult:
    whole: pl.DataFrame | None = None
    if metrics_path.suffix != ".parquet":
        whole = read_metrics(metrics_path)
        pairs = sorted({(p, s) for p, s in whole.select("platform", "store").unique().iter_rows()})
    else:
        pairs = metric_file_stores(metrics_path)
    data_start, data_end = _time_range(metrics_path, whole)
    stores = _stores_for(pairs, known_stores)
    hours = int((data_end - data_start) // HOUR)

    result = BacktestResult([], [], CleanReport(), stores, start or data_start, end or data_end)
    enabled = pack.enabled()
    workers = workers if len(stores) > 1 else 1
    size = max(1, min(stores_per_shard, math.ceil(len(stores) / workers)))
    shards = [stores[i : i + size] for i in range(0, len(stores), size)]
    jobs = []
    for shard in shards:
        if whole is not None:
            pairs_frame = pl.DataFrame([(s.platform, s.store) for s in shard], schema=["platform", "store"], orient="row")
            jobs.append(ShardJob(shard, whole.join(pairs_frame, on=["platform", "store"], how="semi"), None))
        else:
            jobs.append(ShardJob(shard, None, metrics_path))
    run = partial(_process_shard, calendar=calendar, catalog=catalog, rules=enabled, start=data_start, hours=hours)
    outputs: Iterable[ShardOutput]
    if len(jobs) > 1 and pool is None and workers > 1:
        pool = _start_pool(workers)
        try:
            return _collect(result, pool.map(run, jobs), len(jobs), enabled, progress)
        finally:
            pool.shutdown()
    outputs = pool.map(run, jobs) if pool is not None else map(run, jobs)
    return _collect(result, outputs, len(jobs), enabled, progress)


def _collect(result: BacktestResult, outputs: Iterable[ShardOutput], total: int, enabled: list[Rule],
             progress: Callable[[int, int], None] | None) -> BacktestResult:
    for done, output in enumerate(outputs, start=1):
        result.rows += output.rows
        for platform, store, history_hours in output.history:
            result.learning[(platform, store)] = store_learning([r for r in enabled if r.mode == "alert"], history_hours)
        _merge(result.clean, output.report)
        for e in output.events:
            (result.tasks if e.mode == "task" else result.events).append(e)
        if progress:
            progress(done, total)
    result.events = _window(assign_incidents(result.events), result.start, result.end)
    result.tasks = _window(sorted(result.tasks, key=lambda e: e.start), result.start, result.end)
    return result


@dataclass
class ShardJob:
    stores: list[StoreInfo]
    frame: pl.DataFrame | None
    path: Path | None


@dataclass
class ShardOutput:
    events: list[AlertEvent]
    report: CleanReport
    rows: int
    history: list[tuple[str, str, float]] = field(default_factory=list)  # (platform, store, hours since its first point)


def _process_shard(
    job: ShardJob,
    *,
    calendar: list[CalendarEvent],
    catalog: Catalog,
    rules: list[Rule],
    start: datetime,
    hours: int,
) -> ShardOutput:
    """Read (if needed), clean and evaluate one shard of stores. Runs in a worker process."""
    frame = job.frame
    if frame is None:
        assert job.path is not None
        frame = read_metrics(job.path, stores=[s.store for s in job.stores])
        pairs_frame = pl.DataFrame([(s.platform, s.store) for s in job.stores], schema=["platform", "store"], orient="row")
        frame = frame.join(pairs_frame, on=["platform", "store"], how="semi")
    cleaned, report = clean(frame, catalog)
    events = _evaluate_shard(cleaned, job.stores, calendar, catalog, rules, start, hours)
    events += finding_alerts(report.findings)
    return ShardOutput(events, report, frame.height, _history_hours(cleaned, job.stores, start + hours * HOUR))


def _history_hours(cleaned: pl.DataFrame, shard: list[StoreInfo], end: datetime) -> list[tuple[str, str, float]]:
    """Hours from each store's first point to the end of the data."""
    if cleaned.height == 0:
        return []
    firsts = cleaned.group_by("platform", "store").agg(pl.col("ts").min().alias("first"))
    found = {(str(p), str(s)): first for p, s, first in firsts.iter_rows()}
    out = []
    for store in shard:
        first = found.get((store.platform, store.store))
        if first is not None:
            first = first if first.tzinfo else first.replace(tzinfo=UTC)
            out.append((store.platform, store.store, (end - first).total_seconds() / 3600.0))
    return out


def _evaluate_shard(
    cleaned: pl.DataFrame,
    shard: list[StoreInfo],
    calendar: list[CalendarEvent],
    catalog: Catalog,
    rules: list[Rule],
    start: datetime,
    hours: int,
) -> list[AlertEvent]:
    custom = [m for m in cleaned.get_column("metric").unique().to_list() if m not in catalog]
    canonical = cleaned.filter(~pl.col("metric").is_in(custom)) if custom else cleaned
    panel = build_panel(canonical, shard, calendar, catalog, start=start, hours=hours)
    events = evaluate_panel(panel, rules, catalog)
    events += silent_store_alerts(panel)
    events += silent_metric_alerts(panel)
    if custom:
        events += custom_metric_alerts(cleaned.filter(pl.col("metric").is_in(custom)), shard, calendar)
    return events


def _stores_for(pairs: list[tuple[str, str]], known: list[StoreInfo]) -> list[StoreInfo]:
    frame = pl.DataFrame(pairs, schema=["platform", "store"], orient="row") if pairs else pl.DataFrame({"platform": [], "store": []})
    listed = default_stores(frame, known)
    present = set(pairs)
    return [s for s in listed if (s.platform, s.store) in present]


def _window(events: list[AlertEvent], start: datetime, end: datetime) -> list[AlertEvent]:
    out = []
    for e in events:
        if start <= e.start < end:
            if e.end is not None and e.end >= end:
                e.end = None
            out.append(e)
    return out
