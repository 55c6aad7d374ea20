"""CLI sub-apps for connectors: ``stores add|list``, ``sync check|run|import|import-folder``.

Wired into the main CLI as ``app.add_typer(stores_app, name="stores")`` and
``app.add_typer(sync_app, name="sync")``.

``sync check --platform NAME`` starts the platform's fake server on loopback, syncs one simulated
store through the real connector and the real sync engine, prints what was fetched and exits 0
only if the hourly metrics equal the ground truth computed straight from the fake's dataset.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import typer
from pydantic import ValidationError
from rich.table import Table

from shopsentinel.cli.store import DatabaseUrl, metric_store, settings_database_url, shown_url
from shopsentinel.core.clock import SystemClock
from shopsentinel.core.console import console, err, fail
from shopsentinel.core.errors import ShopSentinelError
from shopsentinel.core.secrets import SecretBox, load_keys
from shopsentinel.ingest.folder import import_exports, import_folder
from shopsentinel.ingest.sync import SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.ingest.sync_stores import sync_registered
from shopsentinel.sim.sync import SIM_STORES, SimEnv, compare, ground_truth, running_sim
from shopsentinel.sources.exports import CONSOLES
from shopsentinel.sources.registry import (
    PLATFORMS,
    build_source,
    entry,
    load_state_overrides,
    seal_config,
    secret_fields,
)

stores_app = typer.Typer(help="Stores and their platform credentials (stored encrypted).", no_args_is_help=True)
sync_app = typer.Typer(help="Platform syncs.", no_args_is_help=True)
DEFAULT_DB = Path("shopsentinel.duckdb")


def _fail(message: str, code: int = 2) -> None:
    fail(message, code)


LegacyDb = Annotated[Path | None, typer.Option(
    "--db", help="An older install's DuckDB sync file, moved into the state database once (default: "
    "SHOPSENTINEL_SYNC_DB, then ./shopsentinel.duckdb, when they are DuckDB files)")]


def legacy_files(db: Path | None) -> list[Path]:
    """The old DuckDB files a command moves in first: ``--db`` if given, else the configured sync
    file and the old default ``./shopsentinel.duckdb`` — those that are DuckDB files."""
    if db is not None:
        return [db]
    from shopsentinel.core.settings import Settings
    from shopsentinel.store.legacy_duckdb import is_duckdb_file

    configured = Settings().sync_db
    candidates = ([Path(configured)] if configured is not None else []) + [DEFAULT_DB]
    return [p for p in dict.fromkeys(candidates) if is_duckdb_file(p)]


@contextmanager
def sync_state(db: Path | None, database_url: str | None) -> Iterator[SyncDB]:
    """The sync tables of the install's state database (the one ``serve`` uses: SQLite file or
    PostgreSQL, shared safely with the running service), after moving in an old DuckDB file."""
    from shopsentinel.store.legacy_duckdb import move_duckdb_file

    with metric_store(database_url) as points:
        try:
            for path in legacy_files(db):
                move_duckdb_file(path, points.engine, points=points, log=console.print)
        except ShopSentinelError as exc:
            _fail(str(exc))
        with SyncDB(points.engine, points=points) as state:
            yield state


def _validation_summary(exc: ValidationError) -> str:
    """Field locations and reasons only: pydantic's own text repeats input values (secrets)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())


@stores_app.command("add")
def stores_add(
    platform: Annotated[str, typer.Option("--platform", help=f"One of: {', '.join(sorted(PLATFORMS))}")],
    store: Annotated[str, typer.Option("--store", help="Store id used in metrics")],
    timezone: Annotated[str, typer.Option("--timezone", help="IANA zone of the store, e.g. Asia/Shanghai")],
    config_json: Annotated[str, typer.Option("--config-json", help="The connector Config as JSON, or @file.json")],
    db: LegacyDb = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Register a store in the state database (beside a running serve, too); secret Config fields are encrypted with SHOPSENTINEL_SECRET_KEY (or the key file)."""
    if platform not in PLATFORMS:
        _fail(f"unknown platform {platform!r}; known: {', '.join(sorted(PLATFORMS))}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"unknown time zone {timezone!r}")
    try:
        text = Path(config_json[1:]).read_text(encoding="utf-8") if config_json.startswith("@") else config_json
        raw: dict[str, Any] = json.loads(text)
    except (OSError, ValueError) as exc:
        _fail(f"--config-json is not readable JSON: {type(exc).__name__}")
        return
    if not isinstance(raw, dict):
        _fail("--config-json must be a JSON object")
    model = entry(platform).config_model
    try:
        config = model(**{**raw, "store": store})
    except ValidationError as exc:
        _fail(f"{platform} config: {_validation_summary(exc)}")
        return
    try:
        box = SecretBox(load_keys())
        sealed = seal_config(platform, config, box)
    except ShopSentinelError as exc:
        _fail(str(exc))
        return
    start = getattr(config, "start", None)
    if start is None or start.tzinfo is None:
        _fail("config needs a timezone-aware 'start' (where the first sync begins)")
        return
    with sync_state(db, database_url) as state:
        state.put_store(StoreRecord(platform, store, timezone, start.astimezone(UTC), sealed))
    hidden = ", ".join(n for n in secret_fields(model) if sealed.get(n)) or "none"
    target = shown_url(settings_database_url(database_url))
    console.print(f"已添加店铺 / store added: [bold]{platform}/{store}[/] ({timezone}) → {target}; encrypted fields: {hidden}",
                  soft_wrap=True)


@stores_app.command("list")
def stores_list(db: LegacyDb = None, database_url: DatabaseUrl = None) -> None:
    """Stores and their sync health (secrets are never shown)."""
    with sync_state(db, database_url) as state:
        table = Table("platform", "store", "timezone", "last success", "synced until", "failures", "last error")
        for record in state.stores():
            h = state.health(record.platform, record.store)
            table.add_row(record.platform, record.store, record.timezone, str(h.last_success or "—"),
                          str(h.synced_until or "—"), str(h.consecutive_failures), h.last_error or "")
    console.print(table)


async def _sync_sim(env: SimEnv, state: SyncDB) -> tuple[SyncReport, tuple[str, ...]]:
    source = build_source(env.record.platform, env.config, clock=env.clock, sleep=env.sleep)
    try:
        engine = SyncEngine(state, clock=env.clock, sleep=env.sleep)
        return await engine.sync_store(env.record, source), tuple(source.streams())
    finally:
        await source.aclose()


def _print_report(report: SyncReport, state: SyncDB) -> None:
    table = Table("stream", "pages", "entities", "traffic points", "throttle wait s", "backoff s")
    for name, s in report.streams.items():
        table.add_row(name, str(s.pages), str(s.entities), str(s.traffic_points), f"{s.throttle_wait_seconds:g}",
                      f"{s.backoff_seconds:g}")
    console.print(table)
    for name, s in report.streams.items():  # the cursor to persist, minus its dedupe bookkeeping
        cursor = {k: v for k, v in s.cursor.items() if k not in ("seen", "fingerprints", "untimed")}
        console.print(f"cursor {name}: {json.dumps(cursor, ensure_ascii=False)}", soft_wrap=True)
    points = state.points(report.platform, report.store)
    totals = points.group_by("metric").agg(n=pl.col("value").len(), total=pl.col("value").sum()).sort("metric")
    metrics = Table("metric", "points", "sum")
    for metric, n, total in totals.iter_rows():
        metrics.add_row(metric, str(n), f"{total:,.2f}")
    console.print(metrics)


@sync_app.command("check")
def sync_check(
    platform: Annotated[str, typer.Option("--platform", help=f"One of: {', '.join(sorted(SIM_STORES))}")],
    per_hour: Annotated[float, typer.Option("--orders-per-hour", help="Daytime order rate of the simulated store")] = 3.0,
    throttle: Annotated[bool, typer.Option("--throttle/--no-throttle", help="Tight fake rate limits")] = True,
) -> None:
    """Full sync of one simulated store through the real client; exit 0 only if metrics equal the ground truth."""
    if platform not in SIM_STORES:
        _fail(f"no simulator for {platform!r}; known: {', '.join(sorted(SIM_STORES))}")
    with running_sim(platform, per_hour=per_hour, throttle=throttle) as env, SyncDB(":memory:") as state:
        report, streams = asyncio.run(_sync_sim(env, state))
        console.print(f"[bold]{platform}[/] store {env.record.store} ({env.record.timezone}) synced until {report.until}")
        _print_report(report, state)
        if not report.ok:
            _fail(f"sync failed: {report.error}", code=1)
        truth = ground_truth(env, streams, report.until)
        result = compare(env, state.points(platform, env.record.store), truth, report.until)
    if not result.ok:
        for line in result.examples:
            err.print(f"  {line}")
        _fail(f"metrics differ from the ground truth: {result.missing} missing/different, {result.extra} extra", code=1)
    console.print(f"[green]OK[/] {truth.height} hourly points equal the ground truth (no gaps, no duplicates)")


@sync_app.command("import")
def sync_import(
    files: Annotated[list[Path], typer.Argument(help="CSV/XLSX seller-console exports")],
    platform: Annotated[str, typer.Option("--platform")],
    store: Annotated[str, typer.Option("--store")],
    timezone: Annotated[str, typer.Option("--timezone", help="The store's IANA zone (export times are local)")],
    console_key: Annotated[str | None, typer.Option("--console", help=f"Layout: {', '.join(CONSOLES)} (default: detect)")] = None,
    db: LegacyDb = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import seller-console exports (生意参谋, 京东商智, 抖店罗盘, 多多情报通, Amazon Business Reports) into the
    install's metric store (the state database serve reads); all or nothing."""
    try:
        ZoneInfo(timezone)
        with sync_state(db, database_url) as state:
            results = import_exports(state, files, platform=platform, store=store, timezone=timezone, console=console_key)
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"unknown time zone {timezone!r}")
        return
    except ShopSentinelError as exc:
        _fail(str(exc))
        return
    for result in results:
        note = f"; columns not mapped: {', '.join(result.unmapped_columns)}" if result.unmapped_columns else ""
        console.print(f"{result.file}: {CONSOLES[result.console].title}, {result.rows} rows "
                      f"({'hourly' if result.hourly else 'daily'}) → {result.frame.height} points{note}")


@sync_app.command("run")
def sync_run(
    db: LegacyDb = None,
    states: Annotated[Path | None, typer.Option("--order-states", help="YAML overriding order-state tables")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Sync every registered store once (cursors, health, rotated tokens and the points go
    into the install's state database, the one serve reads)."""
    try:
        overrides = load_state_overrides(states) if states else None
        box = SecretBox(load_keys(create=False))
        with sync_state(db, database_url) as state:
            reports = asyncio.run(sync_registered(state, box, clock=SystemClock(), overrides=overrides))
    except ShopSentinelError as exc:
        _fail(str(exc))
        return
    table = Table("platform", "store", "ok", "entities", "points", "error")
    for r in reports:
        table.add_row(r.platform, r.store, "✓" if r.ok else "✗", str(sum(s.entities for s in r.streams.values())),
                      str(r.points_written), r.error or "")
    console.print(table)
    if not all(r.ok for r in reports):
        raise typer.Exit(code=1)


@sync_app.command("import-folder")
def sync_import_folder(
    folder: Annotated[Path, typer.Argument(help="Watched folder laid out as <platform>/<store>/*.csv|xlsx")],
    db: LegacyDb = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import new or changed exports from a watched folder (run it from cron or the scheduler)."""
    with sync_state(db, database_url) as state:
        report = import_folder(state, folder, clock=SystemClock())
    for path, points in report.imported.items():
        console.print(f"imported {path}: {points} points")
    for error in report.failed.values():  # the error names the file, line and column
        err.print(f"[red]rejected[/] {error}")
    console.print(f"{len(report.imported)} imported, {len(report.failed)} rejected, {report.skipped} unchanged")
    if report.failed:
        raise typer.Exit(code=1)
