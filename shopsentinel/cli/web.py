"""``shopsentinel users add|list``: the user directory from the command line (e.g. the first admin).

The password is read from stdin (``--password-stdin``), never from an argument (shell history)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.core.console import console, fail

users_app = typer.Typer(help="Users of the alert center (login, role, duties, contact).", no_args_is_help=True)


def _sessions(database_url: str | None) -> tuple[Engine, sessionmaker[Session]]:
    from shopsentinel.core.settings import Settings
    from shopsentinel.store.db import open_database

    url = database_url or Settings().database_url
    return open_database(url)


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[str, typer.Option("--role", help="admin | editor | viewer")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
    display_name: Annotated[str, typer.Option("--name", help="Display name")] = "",
    duty: Annotated[list[str] | None, typer.Option("--duty", help="Functional role, e.g. ops_lead (repeatable)")] = None,
    email: Annotated[str, typer.Option("--email")] = "",
    phone: Annotated[str, typer.Option("--phone")] = "",
    database_url: Annotated[str | None, typer.Option("--database-url", help="Default: SHOPSENTINEL_DATABASE_URL")] = None,
) -> None:
    """Create a user (password from stdin)."""
    from datetime import UTC, datetime

    from shopsentinel.core.errors import InputError
    from shopsentinel.store.users import UserInput, create_user

    if not password_stdin:
        fail("give the password on stdin with --password-stdin", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    engine, sessions = _sessions(database_url)
    try:
        with sessions() as session:
            create_user(session, UserInput(username=username, role=role, password=password, display_name=display_name,
                                           duties=list(duty or []), email=email, phone=phone), datetime.now(UTC))
            session.commit()
    except InputError as exc:
        fail(str(exc), 2)
    finally:
        engine.dispose()
    console.print(f"created user {username} ({role})")


@users_app.command("list")
def list_(database_url: Annotated[str | None, typer.Option("--database-url")] = None) -> None:
    """Users, their roles and duties (never passwords)."""
    from shopsentinel.store.users import list_users

    engine, sessions = _sessions(database_url)
    table = Table("username", "name", "role", "duties", "email", "phone", "active")
    with sessions() as session:
        for u in list_users(session):
            table.add_row(u.username, u.display_name, u.role, ", ".join(u.duties), u.email, u.phone, "yes" if u.active else "no")
    engine.dispose()
    console.print(table)


__all__ = ["users_app"]
