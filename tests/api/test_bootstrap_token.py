"""The bootstrap token (issue 14, item 5): one shorter than 16 characters is refused before the database
is touched (``build_service`` raises ValueError; ``shopsentinel serve`` exits 2 naming the setting, as a
real process); changing SHOPSENTINEL_BOOTSTRAP_TOKEN revokes the old value on the next start while
tokens made through the API survive, and rotating back restores it unless an admin revoked it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from shopsentinel.app import create_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings
from shopsentinel.runtime.service import build_service
from shopsentinel.store.state import ApiTokenRow, AuditRow
from tests.support.service import Api

OLD, NEW = "old-bootstrap-token-0123456789", "new-bootstrap-token-9876543210"
SHOPSENTINEL = Path(sys.executable).with_name("shopsentinel")


def settings(database_url: str, token: str) -> Settings:
    return Settings(database_url=database_url, bootstrap_token=SecretStr(token), _env_file=None)  # type: ignore[call-arg]


def start(database_url: str, token: str, clock: ManualClock, started: list[Api]) -> Api:
    api = Api(create_app(settings(database_url, token), clock=clock, background=False), token)
    started.append(api)
    return api


@pytest.fixture
def started() -> Any:
    apps: list[Api] = []
    yield apps
    for api in apps:
        api.service.close()


@pytest.mark.parametrize("token", ["x", "fifteen-chars-!"])
def test_a_short_bootstrap_token_is_refused_before_the_database_is_touched(tmp_path: Path, token: str) -> None:
    state = tmp_path / "state.db"
    with pytest.raises(ValueError) as refused:
        build_service(settings(f"sqlite:///{state}", token))
    message = str(refused.value)
    assert message.startswith(f"SHOPSENTINEL_BOOTSTRAP_TOKEN 太短（{len(token)} 个字符，至少需要 16 个）/ ")
    assert f"SHOPSENTINEL_BOOTSTRAP_TOKEN is too short ({len(token)} characters, at least 16 required)" in message
    assert token not in message.replace("SHOPSENTINEL_BOOTSTRAP_TOKEN", "")  # never echoed
    assert not state.exists()


def test_serve_exits_2_naming_the_setting(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSENTINEL_")}
    env.update(SHOPSENTINEL_DATABASE_URL=f"sqlite:///{state}", SHOPSENTINEL_BOOTSTRAP_TOKEN="tiny-token", COLUMNS="300")
    run = subprocess.run([str(SHOPSENTINEL), "serve", "--port", "1"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "错误 / error: SHOPSENTINEL_BOOTSTRAP_TOKEN 太短（10 个字符，至少需要 16 个）" in run.stderr
    assert "SHOPSENTINEL_BOOTSTRAP_TOKEN is too short" in run.stderr
    assert "tiny-token" not in run.stderr + run.stdout and "Traceback" not in run.stderr
    assert not state.exists()


def test_rotating_the_bootstrap_token_revokes_the_old_one_and_keeps_api_tokens(
        database_url: str, clock: ManualClock, started: list[Api]) -> None:
    first = start(database_url, OLD, clock, started)
    made = {role: first.post("/api/v1/tokens", json={"user": user, "role": role}).json()
            for user, role in (("ops.editor", "editor"), ("admin", "admin"))}  # one for the bootstrap user, too
    assert all(first.as_token(t["token"]).get("/api/v1/alerts").status_code == 200 for t in made.values())
    first.service.close()

    second = start(database_url, NEW, clock, started)
    assert second.get("/api/v1/alerts").status_code == 200
    assert second.as_token(OLD).get("/api/v1/alerts").status_code == 401
    for created in made.values():
        assert second.as_token(created["token"]).get("/api/v1/alerts").status_code == 200
    with second.service.sessions() as session:
        tokens = sorted((t.user, t.role, t.revoked) for t in session.scalars(select(ApiTokenRow)))
        revocations = session.scalars(select(AuditRow).where(AuditRow.action == "token.revoke")).all()
    # the new bootstrap token and the API's admin token live, the old bootstrap token revoked
    assert tokens == [("admin", "admin", False), ("admin", "admin", False), ("admin", "admin", True),
                      ("ops.editor", "editor", False)]
    assert [(r.actor, r.detail) for r in revocations] == [("system", {"reason": "bootstrap token rotated"})]
    second.service.close()

    # the same setting again: nothing changes; back to the old value (a rollback): the old one works again
    third = start(database_url, NEW, clock, started)
    assert third.get("/api/v1/alerts").status_code == 200
    third.service.close()
    back = start(database_url, OLD, clock, started)
    assert back.get("/api/v1/alerts").status_code == 200
    assert back.as_token(NEW).get("/api/v1/alerts").status_code == 401
    assert all(back.as_token(t["token"]).get("/api/v1/alerts").status_code == 200 for t in made.values())


def test_a_bootstrap_token_an_admin_revoked_stays_revoked(database_url: str, clock: ManualClock, started: list[Api]) -> None:
    first = start(database_url, OLD, clock, started)
    spare = first.post("/api/v1/tokens", json={"user": "root", "role": "admin"}).json()
    root = first.as_token(spare["token"])
    ids = {t["user"]: t["id"] for t in root.get("/api/v1/tokens").json() if t["user"] == "admin"}
    assert root.delete(f"/api/v1/tokens/{ids['admin']}").status_code == 204
    first.service.close()
    again = start(database_url, OLD, clock, started)
    assert again.get("/api/v1/alerts").status_code == 401  # the setting does not undo an admin's revocation
    assert again.as_token(spare["token"]).get("/api/v1/alerts").status_code == 200
