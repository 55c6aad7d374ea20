"""``shopsentinel store migrate``, and the state database the CLI shares with ``serve``.

The CLI writes points where the running service reads them: the state database of the settings
(``SHOPSENTINEL_DATABASE_URL``, default ``sqlite:///./shopsentinel.db``, the same default as
``serve``) or ``--database-url``. SQLite runs in WAL mode with a busy timeout, so a CLI write
beside a running ``serve`` waits its turn instead of failing; a lock held longer than that is a
clear Chinese-first message, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from shopsentinel.core.console import console, err, fail
from shopsentinel.core.errors import ShopSentinelError
from shopsentinel.store.points import PointStore

store_app = typer.Typer(help="The metric store and state database (one place for points).", no_args_is_help=True)

DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", help="State database (default: SHOPSENTINEL_DATABASE_URL or the settings' default, as serve)")]


def shown_url(url: str) -> str:
    """The URL without its password (never printed)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown by its scheme only
        return url.split(":", 1)[0] + ":…"


def settings_database_url(url: str | None) -> str:
    if url:
        return url
    from shopsentinel.core.settings import Settings

    return Settings().database_url


@contextmanager
def metric_store(url: str | None) -> Iterator[PointStore]:
    """The install's metric store (migrated to the newest schema, as ``serve`` does at start)."""
    from shopsentinel.store.db import open_database

    target = settings_database_url(url)
    try:
        engine, _ = open_database(target)
    except OperationalError as exc:
        fail(f"无法打开状态数据库 {shown_url(target)} / cannot open the state database {shown_url(target)}: "
             f"{type(exc.orig).__name__}")
    try:
        yield PointStore(engine, cache_stores=0)
    except OperationalError as exc:
        if "locked" in str(exc.orig).lower():
            fail(f"状态数据库 {shown_url(target)} 正忙（运行中的服务在写入）；未写入任何数据，请稍后重试 / the state "
                 f"database {shown_url(target)} stayed locked by another writer (the running service); nothing "
                 f"was written, retry in a moment")
        raise
    finally:
        engine.dispose()


@store_app.command("migrate")
def store_migrate(
    to: Annotated[str, typer.Option("--to", help="Target database URL, e.g. postgresql+psycopg://user@host/db")],
    source: Annotated[str | None, typer.Option("--from", help="Source state database (default: the settings', as serve)")] = None,
) -> None:
    """Copy an install's state (points, stores, alerts, users, configuration …) into another database,
    typically the embedded SQLite file into PostgreSQL; safe to run again (upserts by key)."""
    from shopsentinel.store.migrate import migrate_state

    origin = settings_database_url(source)
    try:
        counts = migrate_state(origin, to, progress=lambda name, n: err.print(f"  {name}: {n:,}"))
    except ShopSentinelError as exc:
        fail(exc)
    except OperationalError as exc:
        fail(f"数据库无法连接或写入 / a database could not be reached or written: {type(exc.orig).__name__}")
    table = Table(title=f"迁移 / migrated {shown_url(origin)} → {shown_url(to)}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        if n:
            table.add_row(name, f"{n:,}")
    console.print(table)
    console.print("下一步：把 SHOPSENTINEL_DATABASE_URL 设为目标库再启动服务 / next: start the service with "
                  "SHOPSENTINEL_DATABASE_URL set to the target")


@store_app.command("prune")
def store_prune(
    database_url: DatabaseUrl = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be removed")] = False,
    days: Annotated[int | None, typer.Option(
        "--days", help="Retention in days (default: SHOPSENTINEL_POINTS_RETENTION_DAYS, 400)")] = None,
) -> None:
    """Remove points older than the retention now (the scheduler also does it once a day): on
    PostgreSQL whole month partitions are dropped, elsewhere old rows are deleted in batches."""
    from datetime import UTC, datetime

    from shopsentinel.core.settings import Settings
    from shopsentinel.detect.rules import default_rules, load_rules
    from shopsentinel.runtime.service import RuleBook
    from shopsentinel.store.retention import describe, prune_checked

    settings = Settings() if database_url is None else Settings(database_url=database_url)
    retention = settings.points_retention_days if days is None else days
    if retention == 0:
        console.print("数据保留已关闭（SHOPSENTINEL_POINTS_RETENTION_DAYS=0），未删除任何数据 / retention is off "
                      "(SHOPSENTINEL_POINTS_RETENTION_DAYS=0); nothing removed")
        return
    from shopsentinel.store.db import open_database

    try:
        engine, sessions = open_database(settings.database_url)
    except OperationalError as exc:
        fail(f"无法打开状态数据库 {shown_url(settings.database_url)} / cannot open the state database "
             f"{shown_url(settings.database_url)}: {type(exc.orig).__name__}")
    try:
        fallback = load_rules(settings.rules_file) if settings.rules_file else default_rules()
        book = RuleBook(sessions, fallback, source=settings.rules_source)
        report = prune_checked(engine, retention, settings.eval_window_days, book.current(), datetime.now(UTC),
                               dry_run=dry_run)
    except ShopSentinelError as exc:
        fail(exc)
    except OperationalError as exc:
        fail(f"数据库无法连接或写入，未完成清理 / the database could not be reached or written; the prune did not "
             f"finish: {type(exc.orig).__name__}")
    finally:
        engine.dispose()
    assert report is not None
    for line in describe(report):
        console.print(line)
