"""``shopsentinel config``: configuration as code (配置即代码). ``check DIR`` validates a provisioning
directory without writing to any database; ``export DIR`` writes the stored configuration as
provisioning files (secrets as ``${ENV_VAR}`` placeholders)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopsentinel.core.console import console, err, fail

config_app = typer.Typer(help="Configuration as code (配置即代码): provisioning files.", no_args_is_help=True)


def _users(database_url: str) -> set[str]:
    """Usernames of the directory, read without migrating or writing anything."""
    from sqlalchemy import create_engine, select

    from shopsentinel.store.state import UserRow

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {str(u) for u in conn.execute(select(UserRow.username)).scalars()}
    finally:
        engine.dispose()


@config_app.command("check")
def check(
    directory: Annotated[Path, typer.Argument(help="provisioning directory (*.yaml, apiVersion: 1)")],
    database_url: Annotated[str | None, typer.Option(help="also check people against this database's users (read only)")] = None,
) -> None:
    """Validate a provisioning directory: exit 0, or 1 with every problem (file, line, field)."""
    from shopsentinel.api.provisioning.loader import ProvisioningError, load_directory
    from shopsentinel.notify import builtin_registry

    users = _users(database_url) if database_url else None
    try:
        plan = load_directory(directory, builtin_registry(), users=users)
    except ProvisioningError as exc:
        fail(exc, code=1)
    for warning in plan.warnings:
        err.print(f"警告 / warning: {warning}", soft_wrap=True, markup=False)
    console.print(
        f"配置有效 / valid: {len(plan.files)} 个文件 file(s) — {len(plan.channels)} channel(s), "
        f"{len(plan.subscriptions)} subscription(s), {len(plan.policies)} escalation policy(ies), "
        f"{len(plan.schedules)} on-call schedule(s), routing: {'yes' if plan.routing else 'no'}, "
        f"{len(plan.deletes)} deletion(s)" + ("" if users is not None else
                                              "；未核对用户 / people not checked (no --database-url)"),
        soft_wrap=True, markup=False)


@config_app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="where to write the provisioning files")],
    database_url: Annotated[str | None, typer.Option(help="state database (default SHOPSENTINEL_DATABASE_URL)")] = None,
) -> None:
    """Write the stored channels, subscriptions, escalation policies, on-call schedules and routing
    tree as provisioning files; secrets become ${ENV_VAR} placeholders, never values."""
    import yaml

    from shopsentinel.api.provisioning.export import export_config
    from shopsentinel.core.settings import Settings
    from shopsentinel.notify import builtin_registry
    from shopsentinel.store.db import open_database

    engine, sessions = open_database(database_url or Settings().database_url)
    try:
        with sessions() as session:
            result = export_config(session, builtin_registry())
    finally:
        engine.dispose()
    directory.mkdir(parents=True, exist_ok=True)
    for name, document in result.files.items():
        (directory / name).write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
        console.print(f"已写入 / wrote {directory / name}", soft_wrap=True, markup=False)
    if result.variables:
        console.print("请设置这些环境变量 / set these environment variables: " + ", ".join(result.variables),
                      soft_wrap=True, markup=False)


__all__ = ["config_app"]
