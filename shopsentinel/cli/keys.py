"""``shopsentinel keys rotate``: re-seal every stored secret with the newest key (key rotation).

Configure the new key first, the old ones after it (``SHOPSENTINEL_SECRET_KEY`` = new key and
``SHOPSENTINEL_SECRET_KEYS_OLD`` = old keys, or the key file with the new key on its first line),
then run ``keys rotate``: channel settings and playbook integrations in the state database are
re-sealed in one transaction, the credentials of registered stores in the sync database in one
more. Afterwards only the newest key is needed; the old ones can be removed. Secrets are never
printed, only counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.core.console import console, fail
from shopsentinel.core.errors import ShopSentinelError
from shopsentinel.core.secrets import (
    SecretBox,
    SecretKeyError,
    check_sealed,
    key_location,
    load_keys,
    sealed_values,
)
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.store.legacy_duckdb import move_duckdb_file
from shopsentinel.store.repository import sealed_secrets
from shopsentinel.store.response_state import PlaybookRow
from shopsentinel.store.state import ChannelRow

keys_app = typer.Typer(help="The secret key: rotation of stored secrets (密钥轮换).", no_args_is_help=True)


@dataclass
class Rotation:
    """How many sealed values were re-sealed, by where they are stored."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def rotate_state(session: Session, keys: Sequence[bytes]) -> dict[str, int]:
    """Re-seal every secret of the state database with the newest of ``keys`` (newest first); the caller
    commits. Raises :class:`SecretKeyError` (nothing may be committed then) when a value opens with no
    key, or when something sealed is left that the newest key alone cannot open."""
    box = SecretBox(keys)
    counts = {"channels": 0, "playbooks": 0}
    for row in session.scalars(select(ChannelRow).order_by(ChannelRow.id)).all():
        settings, n = box.reseal_values(row.settings)
        if n:
            row.settings, counts["channels"] = settings, counts["channels"] + n
    for playbook in session.scalars(select(PlaybookRow).order_by(PlaybookRow.version)).all():
        body, n = box.reseal_values(playbook.body)
        if n:
            playbook.body, counts["playbooks"] = body, counts["playbooks"] + n
    session.flush()
    check_sealed(keys[0], sealed_secrets(session), "the newest key")  # nothing sealed was missed
    return counts


def rotate_sync_db(db: SyncDB, keys: Sequence[bytes]) -> int:
    """Re-seal the credentials of every registered store with the newest of ``keys`` (one transaction
    of the state database's sync tables)."""
    box = SecretBox(keys)
    count = 0
    with db.transaction():
        for record in db.stores():
            config, n = box.reseal_values(record.config)
            if n:
                db.put_store(replace(record, config=config))
                count += n
        check_sealed(keys[0], [v for r in db.stores() for v in sealed_values(r.config)], "the newest key")
    return count


@keys_app.command("rotate")
def rotate(
    database_url: Annotated[str | None, typer.Option("--database-url", help="Default: SHOPSENTINEL_DATABASE_URL")] = None,
    sync_db: Annotated[Path | None, typer.Option("--sync-db", help="Default: SHOPSENTINEL_SYNC_DB (if set)")] = None,
) -> None:
    """Re-seal every stored secret with the newest configured key and say how many were."""
    from shopsentinel.core.settings import Settings
    from shopsentinel.store.db import open_database

    try:
        keys = load_keys(create=False)
    except SecretKeyError as exc:
        fail(exc)
    settings = Settings()
    url = database_url or settings.database_url
    rotation = Rotation()
    engine, sessions = open_database(url)
    try:
        with sessions() as session:
            try:
                rotation.counts.update(rotate_state(session, keys))
            except SecretKeyError as exc:
                session.rollback()
                fail(f"没有改动任何机密 / nothing was changed: {exc}")
            session.commit()
    finally:
        engine.dispose()
    engine, _ = open_database(url)
    try:
        path = sync_db or settings.sync_db
        if path is not None:  # an older install's DuckDB sync file: into the state database first
            move_duckdb_file(path, engine)
        with SyncDB(engine) as db:
            try:
                rotation.counts["stores"] = rotate_sync_db(db, keys)
            except SecretKeyError as exc:
                fail(f"店铺凭据未改动（状态库已轮换）/ store credentials unchanged (the state database was rotated): {exc}")
    except ShopSentinelError as exc:
        fail(exc)
    finally:
        engine.dispose()
    detail = "，".join(f"{name} {n}" for name, n in rotation.counts.items())
    console.print(f"已用最新密钥（{key_location()}，共 {len(keys)} 个密钥）重新加密 {rotation.total} 个机密（{detail}）；"
                  f"现在可以移除旧密钥。/ re-sealed {rotation.total} secrets with the newest key "
                  f"({len(keys)} keys configured); the old keys can now be removed.", soft_wrap=True)


__all__ = ["Rotation", "keys_app", "rotate_state", "rotate_sync_db"]
