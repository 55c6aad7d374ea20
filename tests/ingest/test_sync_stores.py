"""Syncing registered stores: credentials decrypted only in memory, rotated tokens stored encrypted."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from shopsentinel.core.secrets import SecretBox
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.ingest.sync_stores import sync_registered
from shopsentinel.sim.sync import running_sim
from shopsentinel.sources.registry import open_config, seal_config


def test_refreshed_tokens_are_persisted_encrypted_and_used_next_time(tmp_path: Path) -> None:
    box = SecretBox(Fernet.generate_key())
    path = tmp_path / "state.duckdb"
    with running_sim("taobao", token_ttl=timedelta(hours=1)) as env, SyncDB(path) as db:
        db.put_store(replace(env.record, config=seal_config("taobao", env.config, box)))
        env.clock.advance(timedelta(hours=2))  # the session expired: the connector must refresh
        (first,) = asyncio.run(sync_registered(db, box, clock=env.clock, sleep=env.sleep))
        stored = db.store("taobao", env.record.store)
        assert stored is not None
        config = open_config("taobao", stored.config, box)
        env.clock.advance(timedelta(minutes=30))
        (second,) = asyncio.run(sync_registered(db, box, clock=env.clock, sleep=env.sleep))
        refreshes = env.app.state.log.methods().count("taobao.top.auth.token.refresh")
    assert first.ok and second.ok, (first.error, second.error)
    assert config.access_token.get_secret_value() == "access-1"  # type: ignore[attr-defined]
    assert config.refresh_token.get_secret_value() == "refresh-1"  # type: ignore[attr-defined]
    assert refreshes == 1  # the second run used the stored new token
    assert b"access-1" not in path.read_bytes() and b"refresh-1" not in path.read_bytes()


def test_a_store_whose_secrets_cannot_be_opened_is_a_failed_sync_not_a_crash(tmp_path: Path) -> None:
    with running_sim("jd") as env, SyncDB(":memory:") as db:
        sealed = seal_config("jd", env.config, SecretBox(Fernet.generate_key()))
        db.put_store(replace(env.record, config=sealed))
        (report,) = asyncio.run(sync_registered(db, SecretBox(Fernet.generate_key()), clock=env.clock))
        health = db.health("jd", env.record.store)
    assert not report.ok and "SecretKeyError" in (report.error or "")
    assert health.consecutive_failures == 1
