"""Logging in, sessions (signed, idle expiry on the injected clock), CSRF, roles and the users API."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from shopsentinel.core.clock import ManualClock
from shopsentinel.store.state import AuditRow, UserRow
from shopsentinel.store.users import authenticate, hash_password, verify_password
from shopsentinel.web.sessions import SESSION_COOKIE, SessionCodec, WebSession
from tests.web.conftest import ADMIN_TOKEN, PASSWORDS, Client

CLI = str(Path(sys.executable).parent / "shopsentinel")


def test_passwords_are_salted_argon2id_hashes() -> None:
    a, b = hash_password("same-password"), hash_password("same-password")
    assert a != b and a.startswith("$argon2id$") and "same-password" not in a
    assert verify_password("same-password", a) and not verify_password("other-password", a)
    assert not verify_password("x", "garbage") and not verify_password("x", "scrypt$1$2$3$zz$zz")


def test_login_sets_an_httponly_lax_session_and_pages_need_it(client_factory: Any) -> None:
    client = client_factory()
    first = client.get("/alerts?state=firing")
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=%2Falerts")
    response = client.login("admin")
    assert response.status_code == 303
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("ss_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and PASSWORDS["admin"] not in cookie
    page = client.get("/")
    assert page.status_code == 200 and "预警总览" in page.text


def test_wrong_password_and_unknown_user_are_refused_and_audited(client_factory: Any, web_app: FastAPI) -> None:
    client = client_factory()
    assert client.login("admin", "wrong-password").status_code == 401
    bad = client.login("nobody", "whatever-pass")
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text
    assert client.get("/").status_code == 303
    with web_app.state.service.sessions() as session:
        assert session.scalars(select(AuditRow.action).where(AuditRow.action == "web.login_failed")).all()
        assert authenticate(session, "admin", PASSWORDS["admin"]) is not None


def test_login_form_needs_its_csrf_token(client_factory: Any) -> None:
    client = client_factory()
    client.get("/login")
    refused = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"], "csrf": "forged"})
    assert refused.status_code == 403
    assert client.get("/").status_code == 303


def test_session_expires_after_the_idle_limit(client_factory: Any, clock: ManualClock) -> None:
    client = client_factory("editor")
    clock.advance(timedelta(hours=7, minutes=59))
    assert client.get("/").status_code == 200  # activity slides the expiry
    clock.advance(timedelta(hours=7, minutes=59))
    assert client.get("/").status_code == 200
    clock.advance(timedelta(hours=8, minutes=1))
    response = client.get("/")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_a_tampered_session_cookie_is_no_session(client_factory: Any, clock: ManualClock) -> None:
    client = client_factory("viewer")
    value = str(client.cookies.get("ss_session"))
    now = clock.now().timestamp()
    client.cookies.set("ss_session", SessionCodec(b"not-the-secret" * 3, 3600).encode(WebSession("admin", now, now, "c")))
    assert client.get("/").status_code == 303
    client.cookies.set("ss_session", value.replace(".", ".0", 1))
    assert client.get("/").status_code == 303


def test_a_post_without_the_csrf_token_is_rejected(client_factory: Any) -> None:
    client = client_factory("admin")
    no_token = client.post("/silences", data={"name0": "store", "value0": "tm-1", "ends": "2h"})
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    wrong = client.post("/silences", data={"name0": "store", "value0": "tm-1", "ends": "2h", "csrf": "guess"})
    assert wrong.status_code == 403
    ok = client.form("/silences", {"name0": "store", "value0": "tm-1", "ends": "2h"})
    assert ok.status_code == 303
    other = client_factory("editor")  # another session's token is not this session's
    stolen = other.post("/silences", data={"name0": "store", "value0": "tm-1", "ends": "2h", "csrf": client.csrf()})
    assert stolen.status_code == 403


def test_viewers_see_but_cannot_change(client_factory: Any) -> None:
    viewer = client_factory("viewer")
    page = viewer.get("/silences")
    assert page.status_code == 200 and 'id="create-silence"' not in page.text
    assert 'id="save-button"' not in viewer.get("/rules").text
    forced = viewer.form("/silences", {"name0": "store", "value0": "tm-1", "ends": "2h"})
    assert forced.status_code == 403 and "编辑" in forced.text
    assert viewer.form("/rules/traffic.crash/toggle").status_code == 403
    assert viewer.get("/users").status_code == 403
    editor = client_factory("editor")
    assert editor.get("/users").status_code == 403
    assert 'id="create-silence"' in editor.get("/silences").text


def test_the_language_switch_is_remembered_per_user(client_factory: Any, web_app: FastAPI) -> None:
    client = client_factory("editor")
    assert "Alert overview" in client.get("/?lang=en").text
    fresh = client_factory("editor")  # a new browser: the saved locale wins
    assert "Alert overview" in fresh.get("/").text
    assert "预警总览" in fresh.get("/?lang=zh-CN").text
    with web_app.state.service.sessions() as session:
        assert session.scalars(select(UserRow.locale).where(UserRow.username == "editor")).one() == "zh-CN"


def test_users_api_is_admin_only_and_never_returns_hashes(web_app: FastAPI) -> None:
    admin = Client(web_app, ADMIN_TOKEN)
    created = admin.post("/api/v1/users", json={"username": "zhang", "role": "editor", "password": "long-enough-1",
                                                "duties": ["ops_lead"], "phone": "13800000001", "display_name": "张运营"})
    assert created.status_code == 201, created.text
    assert "long-enough-1" not in created.text and "scrypt" not in created.text and "argon2" not in created.text
    listed = admin.get("/api/v1/users").json()
    assert {u["username"] for u in listed} == {"admin", "editor", "viewer", "zhang"}
    assert all("password" not in u and "password_hash" not in u for u in listed)
    short = admin.post("/api/v1/users", json={"username": "li", "password": "short"})
    assert short.status_code == 422 and "password" in short.text
    dup = admin.post("/api/v1/users", json={"username": "zhang", "password": "long-enough-1"})
    assert dup.status_code == 422
    bad_role = admin.put("/api/v1/users/zhang", json={"role": "boss"})
    assert bad_role.status_code == 422
    changed = admin.put("/api/v1/users/zhang", json={"role": "viewer", "password": "new-password-2", "duties": ["director"]})
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    client = Client(web_app)
    assert client.login("zhang", "new-password-2").status_code == 303
    token = admin.post("/api/v1/tokens", json={"user": "v", "role": "editor"}).json()["token"]
    assert Client(web_app, token).get("/api/v1/users").status_code == 403


def test_admins_add_users_on_the_users_page(client_factory: Any) -> None:
    admin = client_factory("admin")
    response = admin.form("/users", {"username": "li.kefu", "display_name": "李客服", "password": "kefu-pass-1", "role": "editor",
                                     "duties": ["cs_supervisor"], "phone": "13800000002", "locale": "zh-CN"})
    assert response.status_code == 303
    page = admin.get("/users")
    assert "李客服" in page.text and "客服主管" in page.text and "kefu-pass-1" not in page.text
    bad = admin.form("/users", {"username": "x y", "password": "kefu-pass-1", "role": "editor"})
    assert bad.status_code == 422 and "username" in bad.text
    changed = admin.form("/users", {"username": "li.kefu", "existing": "1", "role": "viewer", "duties": ["director"],
                                    "locale": "en"})
    assert changed.status_code == 303
    row = re.search(r'<tr id="user-li.kefu">(.*?)</tr>', admin.get("/users").text, flags=re.S)
    assert row is not None and "只读" in row.group(1) and "总监" in row.group(1) and "客服主管" not in row.group(1)
    assert Client(admin.app).login("li.kefu", "kefu-pass-1").status_code == 303  # an empty password keeps the old one
    demote = admin.form("/users", {"username": "admin", "existing": "1", "role": "viewer"})
    assert demote.status_code == 422 and "cannot remove your own admin role" in demote.text


def test_cli_adds_a_user_with_the_password_on_stdin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = subprocess.run([CLI, "users", "add", "ops", "--role", "admin",
                             "--password-stdin", "--database-url", url], input="cli-password-1\n", capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "cli-password-1" not in result.stdout + result.stderr
    listed = subprocess.run([CLI, "users", "list", "--database-url", url],
                            capture_output=True, text=True, timeout=120)
    assert re.search(r"ops .*admin", listed.stdout), listed.stdout
    refused = subprocess.run([CLI, "users", "add", "ops2", "--database-url", url],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "password-stdin" in refused.stderr


def test_logout_ends_the_session_and_redirects_stay_on_the_site(client_factory: Any) -> None:
    client = client_factory("editor")
    assert client.form("/logout").status_code == 303
    assert client.get("/").status_code == 303
    page = client.get("/login", params={"next": "//evil.example/x"})
    assert 'name="next" value="/"' in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    response = client.post("/login", data={"username": "editor", "password": PASSWORDS["editor"], "csrf": token.group(1),
                                           "next": "/\\evil.example"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    back = client.form("/alerts/bulk", {"action": "ack", "back": "https://evil.example/"})
    assert back.status_code == 303 and back.headers["location"] == "/alerts"


def test_logout_revokes_a_copied_session_cookie_on_the_server(client_factory: Any, web_app: FastAPI) -> None:
    """A cookie copied before logout (another tab, another machine, a leaked header) is refused after
    it; so are cookies issued before a password change or a deactivation. A fresh login works."""
    from shopsentinel.store.users import UserInput, get_user, update_user

    client = client_factory("editor")
    stolen = Client(web_app)
    stolen.cookies.set(SESSION_COOKIE, client.cookies.get(SESSION_COOKIE) or "")
    assert stolen.get("/").status_code == 200  # the copy works while the session lives
    assert client.form("/logout").status_code == 303
    assert stolen.get("/").status_code == 303  # … and not after the owner logged out
    again = client_factory("editor")
    assert again.get("/").status_code == 200
    with web_app.state.service.sessions() as db:
        row = get_user(db, "editor")
        assert row is not None
        update_user(db, row, UserInput(username="editor", role=row.role, display_name=row.display_name,
                                       locale=row.locale, active=True, password="a-new-password-123"))
        db.commit()
    assert again.get("/").status_code == 303  # a password change ends the open sessions
    with web_app.state.service.sessions() as db:
        assert any(a.action == "web.logout" for a in db.query(AuditRow).filter_by(actor="editor"))


def test_a_configured_session_secret_lets_another_process_read_the_session(tmp_path: Path, clock: ManualClock) -> None:
    from pydantic import SecretStr

    from tests.web.conftest import make_app

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = make_app(url, clock, session_secret=SecretStr("s" * 40))
    try:
        client = Client(first)
        assert client.login("admin").status_code == 303
        from shopsentinel.app import create_app
        from shopsentinel.core.settings import Settings

        second = create_app(Settings(database_url=url, session_secret=SecretStr("s" * 40), _env_file=None),  # type: ignore[call-arg]
                            clock=clock, background=False)
        other = Client(second)
        other.cookies = client.cookies
        assert other.get("/").status_code == 200
        third = create_app(Settings(database_url=url, _env_file=None), clock=clock, background=False)  # type: ignore[call-arg]
        stranger = Client(third)
        stranger.cookies = client.cookies
        assert stranger.get("/").status_code == 303  # a random per-process secret does not know this session
        second.state.service.close()
        third.state.service.close()
    finally:
        first.state.service.close()
