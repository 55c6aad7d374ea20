"""Keys that fail loudly, against a real ``shopsentinel serve`` (issue 14, "Must show").

A service started once with a key file (``SHOPSENTINEL_SECRET_KEY_FILE``) seals a channel's secret
in its database. Restarted on that database:

* key file deleted → refuses to start (exit 3), Chinese first, naming the key file; no new key file;
* another valid key → refuses: "无法解密";
* garbage in the key file → refuses, naming the file;
* key file deleted but ``SHOPSENTINEL_ALLOW_DEGRADED_KEY=true`` → starts degraded: a firing
  ``kind: data`` system alert, ``shopsentinel_secret_key_degraded 1`` in ``/metrics``, ``/healthz``
  says ``degraded``; the channel's messages fail for good (not retried forever); still no new key file.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.processes import (
    channel_entries,
    put_ok,
    route_everything_at_once,
    serve,
    serve_refused,
    service_env,
    wait_for,
)

CHANNEL_SECRET = "keys-test-webhook-secret-77"  # noqa: S105 (a test value)


@dataclass(frozen=True)
class Sealed:
    """A state database whose channel secret was sealed with the key in ``key``."""

    db: Path
    key: bytes


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    """Serve once with a key file, create a channel with a secret, stop."""
    tmp = tmp_path_factory.mktemp("sealed")
    key_file = tmp / "keys" / "secret.key"
    env = service_env(tmp, SHOPSENTINEL_SECRET_KEY="", SHOPSENTINEL_SECRET_KEY_FILE=str(key_file))
    with ExitStack() as stack:
        server = serve(stack, tmp, env, "setup")
        put_ok(server, "/api/v1/channels", {
            "name": "ops-hook", "kind": "webhook", "medium": "im", "receiver": "default",
            "settings": {"url": "http://127.0.0.1:9/hook", "secret": CHANNEL_SECRET},
        })  # fmt: skip
        route_everything_at_once(server)
    assert key_file.stat().st_mode & 0o777 == 0o600  # created by the first start, owner only
    db = tmp / "state.db"
    with sqlite3.connect(db) as conn:
        [(settings,)] = conn.execute("SELECT settings FROM channels").fetchall()
    assert '"secret": "enc:' in settings and CHANNEL_SECRET not in settings  # sealed at rest
    assert CHANNEL_SECRET.encode() not in db.read_bytes()
    return Sealed(db, key_file.read_bytes())


def restart_env(sealed: Sealed, tmp_path: Path, key: bytes | None, **extra: str) -> tuple[dict[str, str], Path]:
    """A copy of the sealed database in ``tmp_path`` and a key file holding ``key`` (None: no file)."""
    shutil.copy(sealed.db, tmp_path / "state.db")
    key_file = tmp_path / "keys" / "secret.key"
    if key is not None:
        key_file.parent.mkdir()
        key_file.write_bytes(key)
        key_file.chmod(0o600)
    env = service_env(tmp_path, SHOPSENTINEL_SECRET_KEY="", SHOPSENTINEL_SECRET_KEY_FILE=str(key_file), **extra)
    return env, key_file


def chinese_first(output: str) -> str:
    """The refusal line; asserts it is Chinese first (a CJK character before the first English word)."""
    text = " ".join(output.split())
    assert "错误 / error:" in text, output
    message = text.split("错误 / error:", 1)[1]
    cjk = re.search(r"[\u4e00-\u9fff]", message)
    english = re.search(r"\b(the|cannot|does|no)\b", message)
    assert cjk is not None and english is not None and cjk.start() < english.start(), message
    return message


def test_a_missing_key_file_refuses_to_start_and_creates_no_new_key(sealed: Sealed, tmp_path: Path) -> None:
    env, key_file = restart_env(sealed, tmp_path, key=None)
    code, output = serve_refused(tmp_path, env, "missing")
    assert code == 3, output
    message = chinese_first(output)
    assert f"密钥文件 {key_file} 不存在" in message and "拒绝启动" in message
    assert not key_file.exists() and not key_file.parent.exists()  # never a silent new key


def test_another_valid_key_refuses_to_start_cannot_decrypt(sealed: Sealed, tmp_path: Path) -> None:
    other = Fernet.generate_key()
    assert other != sealed.key
    env, key_file = restart_env(sealed, tmp_path, key=other)
    code, output = serve_refused(tmp_path, env, "wrong")
    assert code == 3, output
    message = chinese_first(output)
    assert re.search(rf"密钥 {re.escape(str(key_file))} 无法解密数据库中 (\d+)/\1 个加密的机密", message), message
    assert key_file.read_bytes() == other  # left as it was


def test_garbage_in_the_key_file_refuses_to_start_naming_the_file(sealed: Sealed, tmp_path: Path) -> None:
    env, key_file = restart_env(sealed, tmp_path, key=b"not a fernet key at all\n")
    code, output = serve_refused(tmp_path, env, "garbage")
    assert code == 3, output
    message = chinese_first(output)
    assert f"{key_file} 不是有效的 Fernet 密钥" in message


def test_degraded_start_fires_a_system_alert_sets_the_metric_and_fails_messages_for_good(
    sealed: Sealed, tmp_path: Path
) -> None:
    env, key_file = restart_env(sealed, tmp_path, key=None, SHOPSENTINEL_ALLOW_DEGRADED_KEY="true")
    with ExitStack() as stack:
        server = serve(stack, tmp_path, env, "degraded")
        health = server.client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert server.metric("shopsentinel_secret_key_degraded") == 1

        [alert] = server.get("/api/v1/alerts", params={"state": "firing"})["items"]
        assert (alert["rule"], alert["kind"], alert["severity"]) == ("system.secret_key", "data", "critical")
        assert alert["message"].startswith("【数据】密钥") and "通知发不出去" in alert["message"]
        assert str(key_file) in alert["message"]

        # The system alert is routed to the channel, whose secret the service cannot open: the entry
        # fails for good with a clear error, instead of sitting in retry.
        [entry] = wait_for("the channel's entry to fail", lambda: [
            e for e in channel_entries(server, "ops-hook") if e["status"] not in ("pending", "sending")] or None)
        assert entry["status"] == "failed" and entry["attempts"] == 1, entry
        assert entry["last_error"].startswith("SecretKeyError: 无法解密渠道 ops-hook 的机密"), entry
        assert entry["next_attempt_at"] is None
        attempts = server.get("/api/v1/notifications")["items"]
        assert [(a["channel"], a["outcome"]) for a in attempts if a["channel"] == "ops-hook"] == [("ops-hook", "failed")]
        assert not key_file.exists()  # degraded, it still never makes a new key

    # Restored key: the next start is healthy and resolves the system alert.
    key_file.parent.mkdir()
    key_file.write_bytes(sealed.key)
    key_file.chmod(0o600)
    with ExitStack() as stack:
        server = serve(stack, tmp_path, env, "restored")
        assert server.client.get("/healthz").json()["status"] == "ok"
        assert server.metric("shopsentinel_secret_key_degraded") == 0
        assert server.get("/api/v1/alerts", params={"state": "firing"})["items"] == []
        [resolved] = server.get("/api/v1/alerts", params={"state": "resolved"})["items"]
        assert resolved["rule"] == "system.secret_key"
