"""Command line: a thin Typer layer over the packages."""

from __future__ import annotations

import json
import multiprocessing
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from shopsentinel.core.console import console, err, fail
from shopsentinel.core.errors import ShopSentinelError

app = typer.Typer(help="ShopSentinel 多平台店铺异常预警 — multi-platform store alerting.", no_args_is_help=True)
metrics_app = typer.Typer(help="The metric library (指标库).", no_args_is_help=True)
rules_app = typer.Typer(help="Rule packs.", no_args_is_help=True)
sim_app = typer.Typer(help="Synthetic fleets and platform simulators.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")
app.add_typer(rules_app, name="rules")
app.add_typer(sim_app, name="sim")


@app.callback()
def _logging() -> None:
    # Before any command: SHOPSENTINEL_LOG_LEVEL / SHOPSENTINEL_LOG_FORMAT, with secret redaction (core/logs.py).
    from shopsentinel.core.logs import configure_from_env

    try:
        configure_from_env()
    except ValueError as exc:
        fail(str(exc), code=2)


def _add_connector_commands() -> None:
    from shopsentinel.cli.serve import serve
    from shopsentinel.cli.sources import stores_app, sync_app

    app.command(help="Run the live service: ingest API, scheduled evaluation, alert lifecycle, notifications.")(serve)
    app.add_typer(stores_app, name="stores", help="Stores and their platform credentials (encrypted).")
    app.add_typer(sync_app, name="sync", help="Sync from platforms and seller-console exports.")
    from shopsentinel.cli.web import users_app

    app.add_typer(users_app, name="users", help="Users of the alert center (login, role, duties, contact).")
    from shopsentinel.cli.config import config_app

    app.add_typer(config_app, name="config", help="Configuration as code (配置即代码): check and export provisioning files.")
    from shopsentinel.cli.stock_groups import stock_groups_app

    app.add_typer(stock_groups_app, name="stock-groups", help="Shared-stock groups (共享库存组), declared in the running service.")
    from shopsentinel.cli.rules import add_rule_commands

    add_rule_commands(rules_app)  # rules test | check | schema (rules as code)
    from shopsentinel.cli.keys import keys_app

    app.add_typer(keys_app, name="keys", help="The secret key: re-seal stored secrets with the newest key (密钥轮换).")
    from shopsentinel.cli.store import store_app

    app.add_typer(store_app, name="store", help="The metric store: migrate an embedded install into PostgreSQL.")
    from shopsentinel.cli.roles import scheduler, worker

    app.command(help="Scale-out: a Celery worker (evaluations, notifications, deliveries, syncs); needs a broker.")(worker)
    app.command(help="Scale-out: the periodic work, one leader among instances; needs a broker.")(scheduler)


def _service_commands_needed() -> bool:
    """Whether this process may run one of the commands ``_add_connector_commands`` registers: not a
    spawned worker (the backtest's shards run this module again as their parent's main script, but
    never a command), nor ``shopsentinel backtest …``. Both skip importing the service, web and
    connector layers, seconds of start-up per process."""
    return multiprocessing.parent_process() is None and sys.argv[1:2] != ["backtest"]


if _service_commands_needed():
    _add_connector_commands()


def _fail(exc: ShopSentinelError) -> None:
    fail(exc)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


@app.command()
def backtest(
    directory: Annotated[Path, typer.Argument(help="Folder with metrics.csv|parquet, stores.csv, optional calendar.csv")],
    out: Annotated[Path, typer.Option("--out", help="Alert JSON lines (contracts/alert.schema.json)")] = Path("alerts.jsonl"),
    rules: Annotated[Path | None, typer.Option("--rules", help="Rule pack YAML (default pack if omitted)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Only alerts starting at or after this time (ISO-8601)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Only alerts starting before this time (ISO-8601)")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Also write an HTML report with a chart per alert")] = None,
    tasks: Annotated[Path | None, typer.Option("--tasks", help="Write per-event CS/ops tasks (e.g. each bad review) as JSON lines")] = None,
    metrics: Annotated[Path | None, typer.Option("--metrics", help="YAML of composite/custom metric definitions to add to the catalog")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar or tables")] = False,
) -> None:
    """Replay history through the rules: which alerts would ShopSentinel have raised, and how noisy is each rule?"""
    # Here, not at the top: the backtest's worker processes import this module too (rich.progress is slow to import).
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shopsentinel.catalog import default_catalog
    from shopsentinel.detect.rules import default_rules, load_rules
    from shopsentinel.runtime.backtest import run_backtest
    from shopsentinel.runtime.summary import print_summary

    try:
        pack = load_rules(rules) if rules else default_rules()
        catalog = default_catalog()
        if metrics is not None:
            from shopsentinel.catalog.composite import load_metric_file

            catalog.extend(load_metric_file(metrics), author="backtest --metrics")
        with Progress(TextColumn("回测 backtest"), BarColumn(), MofNCompleteColumn(), TextColumn("shards"), TimeElapsedColumn(), console=err, disable=quiet or not sys.stderr.isatty() and False) as progress:
            task = progress.add_task("backtest", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = run_backtest(directory, rules=pack, catalog=catalog, start=_parse_time(from_), end=_parse_time(to), progress=step)
    except ShopSentinelError as exc:
        _fail(exc)
        return
    with out.open("w", encoding="utf-8") as fh:
        for event in result.events:
            for line in event.lines():
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    if tasks:
        with tasks.open("w", encoding="utf-8") as fh:
            for event in result.tasks:
                fh.write(json.dumps(event.lines()[0], ensure_ascii=False) + "\n")
    if not quiet:
        print_summary(result, console)
    console.print(f"告警已写入 / alerts written to [bold]{out}[/] ({len(result.events)} alerts)")
    if report:
        from shopsentinel.runtime.report_build import build_report

        build_report(directory, result, pack, report)
        console.print(f"报告 / report: [bold]{report}[/]")


IMPORT_BATCH = 20_000


def _import_through_service(directory: Path, url: str, token: str | None) -> dict[str, int]:
    """Validate and clean the folder here, then send the points to the running service's
    ``POST /api/v1/points`` in batches: they land in the service's state database through its one
    write path (point store, store registry, re-evaluation)."""
    import httpx

    from shopsentinel.catalog import default_catalog
    from shopsentinel.cli.remote import checked, unreachable
    from shopsentinel.ingest.clean import clean
    from shopsentinel.ingest.reader import read_directory

    dataset = read_directory(directory)
    cleaned, report = clean(dataset.metrics, default_catalog())
    rows = cleaned.select("ts", "platform", "store", "sku", "metric", "value").to_dicts()
    accepted = 0
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=120.0) as client:
        for i in range(0, len(rows), IMPORT_BATCH):
            batch = [{**r, "ts": r["ts"].isoformat()} for r in rows[i:i + IMPORT_BATCH]]
            try:
                response = client.post("/api/v1/points", json={"points": batch})
            except httpx.HTTPError as exc:
                raise unreachable(url, exc) from None
            checked(response, "导入 / the service refused the import")
            accepted += int(response.json().get("accepted", len(batch)))
    summary = report.summary()
    summary["sent_to_service"] = accepted
    return summary


@app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(help="Folder with metrics.csv|parquet (+ stores.csv, calendar.csv)")],
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="State database (default: SHOPSENTINEL_DATABASE_URL or the settings' default, as serve)")] = None,
    url: Annotated[str | None, typer.Option("--url", envvar="SHOPSENTINEL_URL",
                                            help="Instead: send the points to a running service's API (e.g. http://127.0.0.1:8000)")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar="SHOPSENTINEL_TOKEN", help="API token (editor) for --url")] = None,
) -> None:
    """Load a folder into the install's metric store — the state database `serve` reads and alerts on
    (SHOPSENTINEL_DATABASE_URL), safe while it runs — all or nothing; with --url through a service's API."""
    from shopsentinel.cli.store import metric_store, settings_database_url, shown_url
    from shopsentinel.ingest.importer import import_directory

    try:
        if url:
            summary = _import_through_service(directory, url, token)
            target = url
        else:
            target = shown_url(settings_database_url(database_url))
            with metric_store(database_url) as store:
                summary = import_directory(store, directory)
    except ShopSentinelError as exc:
        _fail(exc)
        return
    table = Table(title=f"导入 / import into {target}")
    table.add_column("item")
    table.add_column("count", justify="right")
    for key, value in summary.items():
        table.add_row(key, f"{value:,}")
    console.print(table)


@contextmanager
def _catalog_versions(db: Path | None, database_url: str | None, *, create: bool = True) -> Iterator[Any]:
    """The catalog's versions in the install's state database (shared safely with a running serve),
    after moving in an old DuckDB catalog file (``--db``, or ./shopsentinel.duckdb if it is one);
    None when ``create`` is off and there is no state database file yet (nothing user-defined)."""
    from shopsentinel.cli.sources import legacy_files
    from shopsentinel.cli.store import metric_store, settings_database_url
    from shopsentinel.store.catalog_file import CatalogFile
    from shopsentinel.store.db import sqlite_file
    from shopsentinel.store.legacy_duckdb import move_duckdb_file

    legacy = legacy_files(db)
    file = sqlite_file(settings_database_url(database_url))
    if not create and not legacy and file is not None and not file.exists():
        yield None  # `metrics list` in a directory without an install: the built-in catalog, no file created
        return
    with metric_store(database_url) as points:
        for path in legacy:
            move_duckdb_file(path, points.engine, points=points, log=console.print)
        with CatalogFile(points.engine) as store:
            yield store


@metrics_app.command("list")
def metrics_list(
    lang: Annotated[str, typer.Option(help="zh or en")] = "zh",
    db: Annotated[Path | None, typer.Option("--db", help="An older install's DuckDB catalog file, moved into the "
                                            "state database once")] = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="State database holding user-defined metrics (default: SHOPSENTINEL_DATABASE_URL, "
        "as serve)")] = None,
) -> None:
    """Print the metric catalog (with the user-defined metrics of the state database)."""
    from shopsentinel.catalog import default_catalog

    try:
        with _catalog_versions(db, database_url, create=False) as store:
            catalog = store.catalog() if store is not None else default_catalog()
    except ShopSentinelError as exc:
        _fail(exc)
        return
    table = Table(title="指标库 / Metric catalog")
    for c in ("id", "名称" if lang == "zh" else "name", "kind", "level", "good", "unit", "formula", "window", "v"):
        table.add_column(c)
    for m in catalog:
        table.add_row(
            m.id, m.name_zh if lang == "zh" else m.name_en, m.kind, m.level, m.good_direction, m.unit,
            m.formula or "", f"{m.window_hours}h" if m.derived else "", str(m.version),
        )
    console.print(table)


@metrics_app.command("define")
def metrics_define(
    file: Annotated[Path, typer.Argument(help="YAML with a 'metrics' list (composite/custom metrics)")],
    author: Annotated[str, typer.Option(help="Who is changing the definitions")],
    db: Annotated[Path | None, typer.Option("--db", help="An older install's DuckDB catalog file, moved into the "
                                            "state database once")] = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="State database (default: SHOPSENTINEL_DATABASE_URL, as serve)")] = None,
) -> None:
    """Add or change metric definitions; each change becomes a new version with author and time."""
    from shopsentinel.catalog.composite import load_metric_file

    try:
        definitions = load_metric_file(file)
        with _catalog_versions(db, database_url) as store:
            for d in definitions:
                saved = store.define_metric(d, author=author)
                console.print(f"{saved.id}: version {saved.version} by {saved.author} at {saved.changed_at}")
    except ShopSentinelError as exc:
        _fail(exc)


@rules_app.command("validate")
def rules_validate(file: Annotated[Path, typer.Argument()]) -> None:
    """Check a rule file and list its rules."""
    from shopsentinel.detect.rules import load_rules

    try:
        pack = load_rules(file)
    except ShopSentinelError as exc:
        _fail(exc)
        return
    for r in pack.rules:
        console.print(f"{'✓' if r.enabled else '·'} {r.id} [{r.severity}] {r.name.zh} / {r.name.en}")
    console.print(f"{len(pack.rules)} rules OK")


@rules_app.command("show-default")
def rules_show_default() -> None:
    """Print the default rule pack (copy it to start your own)."""
    from shopsentinel.detect.rules import default_rules_path

    sys.stdout.write(default_rules_path().read_text(encoding="utf-8"))


@sim_app.command("fleet")
def sim_fleet(
    outdir: Annotated[Path, typer.Argument()],
    stores: int = 24,
    days: int = 112,
    seed: int = 7,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
) -> None:
    """Generate a synthetic fleet with labelled incidents and traps."""
    from shopsentinel.sim.fleet import FleetSpec, generate_fleet, write_fleet

    fleet = generate_fleet(FleetSpec(stores=stores, days=days, seed=seed))
    write_fleet(fleet, outdir, fmt="parquet" if fmt == "parquet" else "csv")
    console.print(f"fleet written to {outdir}")


@sim_app.command("serve")
def sim_serve(
    seed: int = 7,
    days: int = 3,
    per_hour: Annotated[float, typer.Option("--orders-per-hour", help="Daytime order rate per store")] = 3.0,
    platform: Annotated[list[str] | None, typer.Option("--platform", help="Only these (repeatable)")] = None,
) -> None:
    """Start every platform's fake server on loopback until Ctrl-C; prints the Config to use for each."""
    import signal
    import threading

    from shopsentinel.sim.serve_all import describe, serving_all

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serving_all(seed=seed, days=days, per_hour=per_hour, platforms=platform) as fakes:
        for fake in fakes:
            table = Table("field", "value", title=f"{fake.platform} — {fake.root_url} ({len(fake.dataset.orders)} orders)")
            for name, value in describe(fake):
                table.add_row(name, value)
            console.print(table)
        console.print("模拟平台运行中 / fakes running — Ctrl-C to stop")
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    console.print("stopped")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo's database and outputs go")] = Path("demo-out"),
    stores: Annotated[int, typer.Option(help="Simulated stores, spread over every platform")] = 12,
    hours: Annotated[int, typer.Option(help="Simulated hours to stream after the warm-up; 0 = until Ctrl-C")] = 72,
    speed: Annotated[float, typer.Option(help="Simulated hours per wall-clock second")] = 1.0,
    host: str = "127.0.0.1",
    port: int = 8000,
    backtest_only: Annotated[bool, typer.Option("--backtest", help="Instead: generate 56 days and backtest them")] = False,
) -> None:
    """The live system on a simulated fleet: the service catches incidents as the data streams in
    (notifications printed here and kept in the in-app inbox; API at http://HOST:PORT; Ctrl-C stops)."""
    if backtest_only:
        from shopsentinel.sim.fleet import FleetSpec, generate_fleet, write_fleet

        workdir.mkdir(parents=True, exist_ok=True)
        console.print(f"生成模拟店铺 / generating {stores} stores × 56 days …")
        fleet = generate_fleet(FleetSpec(stores=stores, days=56, seed=11))
        write_fleet(fleet, workdir / "fleet", fmt="csv")
        backtest(workdir / "fleet", out=workdir / "alerts.jsonl", rules=None, from_=None, to=None, report=workdir / "report.html",
                 tasks=workdir / "tasks.jsonl", metrics=None, quiet=False)
        console.print(f"标注的真实事件 / labelled incidents: {workdir / 'fleet' / 'incidents.csv'}")
        return
    from shopsentinel.demo import DemoOptions, run_demo

    if hours < 0 or speed <= 0 or stores < 1:
        fail("--hours must be ≥ 0, --speed > 0 and --stores ≥ 1")
    code = run_demo(DemoOptions(workdir=workdir, stores=stores, hours=hours, speed=speed * 3600, host=host, port=port))
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover
    app()
