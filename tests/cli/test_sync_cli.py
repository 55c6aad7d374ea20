"""``stores add`` keeps credentials encrypted; ``sync check`` passes only on the ground truth; the secret box."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import typer
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from shopsentinel.cli import sources as sources_cli
from shopsentinel.cli.sources import stores_app, sync_app
from shopsentinel.core.secrets import KEY_ENV, SecretBox, SecretKeyError, load_key
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sources.exports import read_export
from shopsentinel.sources.registry import open_config

app = typer.Typer()
app.add_typer(stores_app, name="stores")
app.add_typer(sync_app, name="sync")
SECRET = "tb-secret-9f3a77"
TOKEN = "session-5511aa"
CONFIG = {"app_key": "12345678", "app_secret": SECRET, "access_token": TOKEN, "base_url": "http://127.0.0.1:9/router/rest",
          "start": "2026-11-01T00:00:00+08:00"}


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def test_stores_add_encrypts_secret_fields_and_never_prints_them(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    db = tmp_path / "state.db"  # the state database serve uses (revision 0015)
    result = run("stores", "add", "--platform", "taobao", "--store", "tb-1", "--timezone", "Asia/Shanghai",
                 "--config-json", json.dumps(CONFIG), "--database-url", f"sqlite:///{db}", env={KEY_ENV: key})
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and TOKEN not in result.output
    assert "app_secret" in result.output  # names what it encrypted
    with SyncDB(db) as state:
        (record,) = state.stores()
    assert record.config["app_secret"].startswith("enc:") and record.config["app_key"] == "12345678"
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("state.db*"))  # the file and its WAL
    assert SECRET.encode() not in stored and TOKEN.encode() not in stored
    config = open_config("taobao", record.config, SecretBox(key.encode()))
    assert config.app_secret.get_secret_value() == SECRET and config.store == "tb-1"  # type: ignore[attr-defined]
    with pytest.raises(SecretKeyError):
        open_config("taobao", record.config, SecretBox(Fernet.generate_key()))


def test_stores_add_rejects_a_bad_config_without_echoing_secrets(tmp_path: Path) -> None:
    bad = {**CONFIG, "page_size": 1000}
    result = run("stores", "add", "--platform", "taobao", "--store", "tb-1", "--timezone", "Asia/Shanghai",
                 "--config-json", json.dumps(bad), "--database-url", f"sqlite:///{tmp_path / 'state.db'}",
                 env={KEY_ENV: Fernet.generate_key().decode()})
    assert result.exit_code == 2 and "page_size" in result.output and SECRET not in result.output
    wrong_zone = run("stores", "add", "--platform", "taobao", "--store", "x", "--timezone", "Mars/Base",
                     "--config-json", "{}", "--db", str(tmp_path / "s.duckdb"))
    assert wrong_zone.exit_code == 2 and "Mars/Base" in wrong_zone.output


def test_key_comes_from_the_environment_or_a_created_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "secret.key"
    created = load_key({}, key_file=key_file)
    assert load_key({}, key_file=key_file) == created and key_file.stat().st_mode & 0o777 == 0o600
    assert load_key({KEY_ENV: Fernet.generate_key().decode()}, key_file=key_file) != created
    with pytest.raises(SecretKeyError):
        load_key({KEY_ENV: "not-a-key"})
    with pytest.raises(SecretKeyError):
        load_key({}, key_file=tmp_path / "missing.key", create=False)
    box = SecretBox(created)
    assert "enc:" in box.seal("x") and created.decode() not in repr(box)


def test_sync_check_passes_on_the_ground_truth_and_prints_what_it_fetched() -> None:
    result = run("sync", "check", "--platform", "douyin")
    assert result.exit_code == 0, result.output
    for text in ("orders", "refunds", "stock", "throttle wait", "cursor orders", "gmv", "OK"):
        assert text in result.output


def test_sync_check_fails_when_metrics_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sources_cli.ground_truth

    def off_by_one(*args: Any) -> pl.DataFrame:
        truth = real(*args)
        return truth.with_columns(pl.when(pl.col("metric") == "orders").then(pl.col("value") + 1).otherwise("value").alias("value"))

    monkeypatch.setattr(sources_cli, "ground_truth", off_by_one)
    result = run("sync", "check", "--platform", "jd", "--no-throttle")
    assert result.exit_code == 1 and "differ" in result.output
    assert run("sync", "check", "--platform", "ebay").exit_code == 2


def test_sync_import_stores_exports_and_rejects_a_malformed_one_keeping_earlier_points(tmp_path: Path) -> None:
    fixtures = Path(__file__).parents[1] / "fixtures" / "exports"
    db = tmp_path / "m.duckdb"
    state_url = f"sqlite:///{tmp_path / 'state.db'}"  # the metric store serve reads
    ok = run("sync", "import", str(fixtures / "sycm_hourly.csv"), "--platform", "tmall", "--store", "tm-1",
             "--timezone", "Asia/Shanghai", "--db", str(db), "--database-url", state_url)
    assert ok.exit_code == 0, ok.output
    assert "生意参谋" in ok.output and "hourly" in ok.output
    bad = run("sync", "import", str(fixtures / "sycm_malformed.csv"), "--platform", "tmall", "--store", "tm-1",
              "--timezone", "Asia/Shanghai", "--db", str(db), "--database-url", state_url)
    assert bad.exit_code == 2 and "line 5" in bad.output and "支付金额" in bad.output
    first = read_export(fixtures / "sycm_hourly.csv", platform="tmall", store="tm-1", timezone="Asia/Shanghai")
    with SyncDB(state_url) as state:
        assert state.points("tmall", "tm-1").equals(first.frame)  # the first file's points, none of the second
    assert not db.exists()  # nothing beside the state database


def test_stores_list_and_sync_run_never_show_secrets(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    db = tmp_path / "state.db"
    env = {KEY_ENV: key, "SHOPSENTINEL_DATABASE_URL": f"sqlite:///{db}"}  # the state database, as serve's
    assert run("stores", "add", "--platform", "taobao", "--store", "tb-1", "--timezone", "Asia/Shanghai",
               "--config-json", json.dumps(CONFIG), env=env).exit_code == 0
    listed = run("stores", "list", env=env)
    assert listed.exit_code == 0 and "tb-1" in listed.output and SECRET not in listed.output
    # nothing listens on 127.0.0.1:9: the sync fails, is reported per store, and names no secret
    ran = run("sync", "run", env=env)
    assert ran.exit_code == 1 and "tb-1" in ran.output and SECRET not in ran.output and TOKEN not in ran.output
    with SyncDB(db) as state:
        assert state.health("taobao", "tb-1").consecutive_failures == 1
    no_key = run("sync", "run", env={KEY_ENV: "", "SHOPSENTINEL_SECRET_KEY_FILE": str(tmp_path / "none"),
                                                      "SHOPSENTINEL_DATABASE_URL": env["SHOPSENTINEL_DATABASE_URL"]})
    assert no_key.exit_code == 2 and "no secret key" in no_key.output


def test_sync_import_folder_exit_code_reflects_rejected_files(tmp_path: Path) -> None:
    fixtures = Path(__file__).parents[1] / "fixtures" / "exports"
    inbox = tmp_path / "inbox" / "jd" / "jd-1"
    inbox.mkdir(parents=True)
    (inbox / "day.csv").write_bytes((fixtures / "jd_shangzhi_daily.csv").read_bytes())
    db = str(tmp_path / "m.duckdb")
    state = ["--database-url", f"sqlite:///{tmp_path / 'state.db'}"]
    ok = run("sync", "import-folder", str(tmp_path / "inbox"), "--db", db, *state)
    assert ok.exit_code == 0 and "1 imported" in ok.output
    (inbox / "bad.csv").write_text("日期,访客数\n2026-11-01,many\n", encoding="utf-8")
    bad = run("sync", "import-folder", str(tmp_path / "inbox"), "--db", db, *state)
    assert bad.exit_code == 1 and "1 rejected, 1 unchanged" in bad.output and "访客数" in bad.output


def test_stores_list_moves_an_old_duckdb_sync_file_into_the_state_database(tmp_path: Path) -> None:
    """An install upgraded from DuckDB sync state: the first CLI command given the old file (``--db``)
    moves it into the state database once, keeps it as ``….moved``, and lists what it held."""
    from datetime import UTC, datetime

    from tests.store import legacy_sync_state_0013 as old_sync

    old = tmp_path / "shopsentinel.duckdb"
    with old_sync.SyncDB(old) as db:  # written by the code of revision 0013
        db.put_store(old_sync.StoreRecord("jd", "jd-old", "Asia/Shanghai", datetime(2026, 11, 1, tzinfo=UTC),
                                          {"app_key": "k"}))
        db.record_failure("jd", "jd-old", datetime(2026, 11, 2, tzinfo=UTC), "timeout")
    state = ["--database-url", f"sqlite:///{tmp_path / 'state.db'}"]
    listed = run("stores", "list", "--db", str(old), *state)
    assert listed.exit_code == 0, listed.output
    assert "jd-old" in listed.output and "timeout" in listed.output and "已迁入状态数据库" in listed.output
    assert not old.exists() and (tmp_path / "shopsentinel.duckdb.moved").is_file()
    again = run("stores", "list", "--db", str(old), *state)  # nothing left to move; the store stays
    assert again.exit_code == 0 and "jd-old" in again.output and "已迁入" not in again.output
