"""Key rotation (MultiFernet): secrets stored with key A still open after a restart configured with
[B, A]; ``shopsentinel keys rotate`` re-seals every stored secret (channel settings, playbook
integrations, registered stores' credentials) with B and says how many; after it B alone opens
everything, and a key that opens nothing ([C]) is refused at start as before — on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from typer.testing import CliRunner

from shopsentinel.cli import app as cli
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.secrets import (
    KEY_ENV,
    KEY_FILE_ENV,
    OLD_KEYS_ENV,
    SecretBox,
    SecretKeyError,
    load_keys,
)
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.store.repository import sealed_secrets
from shopsentinel.store.response_state import PlaybookRow
from shopsentinel.store.state import ChannelRow

A, B, C = (Fernet.generate_key().decode() for _ in range(3))
HOOK = {"name": "ops-hook", "kind": "webhook", "medium": "im", "receiver": "default",
        "settings": {"url": "http://127.0.0.1:9/hook?token=URL-SECRET", "secret": "HOOK-SECRET"}}
PLAIN = {"URL-SECRET", "HOOK-SECRET", "JIRA-SECRET", "TAOBAO-SECRET"}


def use_keys(monkeypatch: pytest.MonkeyPatch, newest: str, *old: str) -> None:
    monkeypatch.setenv(KEY_ENV, newest)
    if old:
        monkeypatch.setenv(OLD_KEYS_ENV, ",".join(old))
    else:
        monkeypatch.delenv(OLD_KEYS_ENV, raising=False)


def stored(api: Any, sync_db: Path) -> list[str]:
    """Every sealed value of the state database, the registered stores' credentials included."""
    with api.service.sessions() as session:
        values = sealed_secrets(session)
    with SyncDB(api.service.points.engine) as db:
        values += [v for r in db.stores() for v in r.config.values() if str(v).startswith("enc:")]
    return values


def opened(api: Any, values: list[str]) -> set[str]:
    box = SecretBox(api.service.secret_keys())
    return {box.open(v).split("?token=")[-1] for v in values}


def test_rotate_from_a_to_b_then_drop_a(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        api_factory: Any, clock: ManualClock) -> None:
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "no-such.key"))
    sync_db = tmp_path / "sync.duckdb"
    use_keys(monkeypatch, A)
    first = api_factory(database_url, clock, sync_db=sync_db)
    assert first.put("/api/v1/channels", json=HOOK).status_code == 200
    box_a = SecretBox(A.encode())
    with first.service.sessions() as session:
        session.add(PlaybookRow(version=1, body={"integrations": {"jira": {"api_token": box_a.seal("JIRA-SECRET")}}},
                                created_by="test", created_at=clock.now()))
        session.commit()
    with SyncDB(first.service.points.engine) as db:  # as `stores add` leaves it: in the state database
        db.put_store(StoreRecord("taobao", "tb-1", "Asia/Shanghai", datetime(2026, 11, 1, tzinfo=UTC),
                                 {"app_key": "k", "app_secret": box_a.seal("TAOBAO-SECRET")}))
    sealed_with_a = stored(first, sync_db)
    assert len(sealed_with_a) == 4 and opened(first, sealed_with_a) == PLAIN
    first.service.close()

    use_keys(monkeypatch, B, A)  # B is new, A still listed: everything opens, new secrets are sealed with B
    second = api_factory(database_url, clock, sync_db=sync_db)
    assert opened(second, stored(second, sync_db)) == PLAIN
    assert second.service.secret_key() == B.encode()
    with pytest.raises(SecretKeyError):
        SecretBox(A.encode()).open(SecretBox(second.service.secret_keys()).seal("new"))  # sealed with B, not A
    second.service.close()

    result = CliRunner().invoke(cli, ["keys", "rotate", "--database-url", database_url, "--sync-db", str(sync_db)])
    assert result.exit_code == 0, result.output
    assert "重新加密 4 个机密" in result.output and "channels 2" in result.output and "playbooks 1" in result.output
    assert "stores 1" in result.output and not any(secret in result.output for secret in PLAIN)

    use_keys(monkeypatch, B)  # A removed
    third = api_factory(database_url, clock, sync_db=sync_db)
    rotated = stored(third, sync_db)
    assert set(rotated).isdisjoint(sealed_with_a) and opened(third, rotated) == PLAIN
    with third.service.sessions() as session:
        assert session.scalars(select(ChannelRow)).one().settings["secret"].startswith("enc:")
    third.service.close()

    use_keys(monkeypatch, C)  # a key that opens nothing: the start is refused, as before
    with pytest.raises(SecretKeyError, match="无法解密数据库中 4/4 个加密的机密"):
        api_factory(database_url, clock, sync_db=sync_db)


def test_rotate_with_a_key_that_opens_nothing_changes_nothing(database_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, api_factory: Any,
                                                            clock: ManualClock) -> None:
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "no-such.key"))
    use_keys(monkeypatch, A)
    api = api_factory(database_url, clock)
    assert api.put("/api/v1/channels", json=HOOK).status_code == 200
    with api.service.sessions() as session:
        before = sealed_secrets(session)
    use_keys(monkeypatch, C)
    result = CliRunner().invoke(cli, ["keys", "rotate", "--database-url", database_url])
    assert result.exit_code == 2 and "nothing was changed" in result.output
    with api.service.sessions() as session:
        assert sealed_secrets(session) == before


def test_a_key_file_holds_several_keys_newest_first(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text(f"{B}\n{A}\n")
    assert load_keys({}, key_file=key_file) == [B.encode(), A.encode()]
    assert load_keys({OLD_KEYS_ENV: f"{C} {A}"}, key_file=key_file) == [B.encode(), A.encode(), C.encode()]
    box = SecretBox(load_keys({}, key_file=key_file))
    assert box.open(SecretBox(A.encode()).seal("old")) == "old"
    assert SecretBox(B.encode()).open(box.seal("new")) == "new"  # sealed with the first line
    key_file.write_text(f"{B}\nnot-a-key\n")
    with pytest.raises(SecretKeyError, match="不是有效的 Fernet 密钥"):
        load_keys({}, key_file=key_file)
    with pytest.raises(SecretKeyError, match=OLD_KEYS_ENV):
        load_keys({KEY_ENV: B, OLD_KEYS_ENV: "garbage"})
