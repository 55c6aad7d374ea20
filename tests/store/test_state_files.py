"""The SQLite state database holds token hashes, sealed secrets and user data: a real first start under
umask 022 leaves it and its -wal/-shm files mode 0600, and a start on a database an earlier version left
world-readable withdraws the group/other bits (issue 14, item 5)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

# A real process with umask 022 builds the service (migrations, bootstrap token), writes a point
# through the API's write path, and reports the modes while its connections are still open.
CHILD = r"""
import json, os, sys
os.umask(0o022)
from datetime import UTC, datetime
from pydantic import SecretStr
from shopsentinel.core.settings import Settings
from shopsentinel.core.types import Point
from shopsentinel.runtime.service import build_service
path = sys.argv[1]
service = build_service(Settings(database_url=f"sqlite:///{path}", bootstrap_token=SecretStr("state-file-token-0123"),
                                 _env_file=None))
service.points.upsert([Point(ts=datetime(2026, 11, 10, tzinfo=UTC), platform="tmall", store="tm-1", metric="uv", value=1.0)])
with open(os.path.join(os.path.dirname(path), "probe"), "w") as probe:
    pass  # an ordinary file under the same umask, for comparison
modes = {name: oct(os.stat(path + suffix).st_mode & 0o777) if os.path.exists(path + suffix) else None
         for name, suffix in (("db", ""), ("wal", "-wal"), ("shm", "-shm"))}
modes["probe"] = oct(os.stat(os.path.join(os.path.dirname(path), "probe")).st_mode & 0o777)
print(json.dumps(modes))
service.close()
"""


def start(path: Path) -> dict[str, str | None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSENTINEL_")}
    env["SHOPSENTINEL_SECRET_KEY"] = Fernet.generate_key().decode()
    run = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=path.parent, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    modes: dict[str, str | None] = json.loads(run.stdout.strip().splitlines()[-1])
    return modes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_the_state_files_0600_under_umask_022(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    modes = start(path)
    assert modes == {"db": "0o600", "wal": "0o600", "shm": "0o600", "probe": "0o644"}  # the umask alone gives 0644
    assert mode(path) == 0o600


def test_a_world_readable_database_from_an_earlier_version_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old_umask = os.umask(0o022)
    try:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE leftover (x INTEGER)")
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o644)
    assert mode(path) == 0o644
    modes = start(path)
    assert modes["db"] == "0o600" and modes["wal"] == "0o600" and modes["shm"] == "0o600"
    with sqlite3.connect(path) as conn:  # the data an earlier version left is still there
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"leftover", "api_tokens", "alembic_version"} <= tables
