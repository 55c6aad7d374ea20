"""Sync every registered store: decrypt its Config, build its connector, run the engine, and
store rotated tokens again encrypted (TOP, JOS and PDD spend a refresh token on every refresh,
so a token that is not persisted locks the store out at the next run)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import ShopSentinelError
from shopsentinel.core.secrets import SecretBox
from shopsentinel.ingest.sync import Sleep, SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.sources.kit import Tokens
from shopsentinel.sources.registry import StateOverrides, build_source, open_config


class TokenSaver:
    """``on_tokens`` callback: seal the new tokens into the store's stored Config."""

    def __init__(self, db: SyncDB, box: SecretBox, platform: str, store: str) -> None:
        self.db, self.box, self.platform, self.store = db, box, platform, store
        self.saved = 0

    def __call__(self, tokens: Tokens) -> None:
        current = self.db.store(self.platform, self.store)
        if current is None:
            return
        fresh = {"access_token": tokens.access_token.get_secret_value()}
        if tokens.refresh_token is not None:
            fresh["refresh_token"] = tokens.refresh_token.get_secret_value()
        sealed = self.box.seal_fields(fresh, list(fresh))
        self.db.put_store(replace(current, config={**current.config, **sealed}))
        self.saved += 1


async def sync_registered(
    db: SyncDB, box: SecretBox, *, clock: Clock, sleep: Sleep = asyncio.sleep,
    overrides: StateOverrides | None = None, only: list[tuple[str, str]] | None = None,
) -> list[SyncReport]:
    """One sync per registered store (all, or the ``(platform, store)`` pairs in ``only``)."""
    engine = SyncEngine(db, clock=clock, sleep=sleep, overrides=overrides)
    reports: list[SyncReport] = []
    for record in db.stores():
        if only is not None and (record.platform, record.store) not in only:
            continue
        reports.append(await _sync_one(db, box, engine, record, clock, sleep))
    return reports


async def _sync_one(
    db: SyncDB, box: SecretBox, engine: SyncEngine, record: StoreRecord, clock: Clock, sleep: Sleep
) -> SyncReport:
    try:
        config = open_config(record.platform, record.config, box)
    except (ShopSentinelError, ValueError) as exc:  # wrong key, or a Config the connector no longer accepts
        error = f"cannot open stored config: {type(exc).__name__}"
        db.record_failure(record.platform, record.store, clock.now(), error)
        return SyncReport(record.platform, record.store, clock.now(), error=error)
    source = build_source(record.platform, config, clock=clock, sleep=sleep,
                          on_tokens=TokenSaver(db, box, record.platform, record.store))
    try:
        return await engine.sync_store(record, source)
    finally:
        await source.aclose()
