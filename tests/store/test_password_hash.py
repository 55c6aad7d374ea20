"""Passwords: new hashes are argon2id; a hash of the earlier scrypt format still logs in and is
rewritten as argon2id on that login (as is an argon2 hash with outdated parameters); a wrong password
fails and rewrites nothing; unknown users cost an argon2 verification too — on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.store import users
from shopsentinel.store.state import UserRow
from shopsentinel.store.users import (
    UserInput,
    authenticate,
    create_user,
    get_user,
    hash_password,
    verify_password,
)

PASSWORD = "correct-horse-battery"


def make_user(api: Any, clock: ManualClock, stored_hash: str) -> None:
    with api.service.sessions() as session:
        row = create_user(session, UserInput(username="ops", role="editor", password="placeholder-pass"), clock.now())
        row.password_hash = stored_hash
        session.commit()


def stored_hash(api: Any) -> str:
    with api.service.sessions() as session:
        row = get_user(session, "ops")
        assert row is not None
        return row.password_hash


def login(api: Any, password: str) -> bool:
    with api.service.sessions() as session:
        row = authenticate(session, "ops", password)
        session.commit()  # as the login route does, with its audit entry
        return row is not None


def test_an_old_scrypt_hash_logs_in_and_is_rewritten_as_argon2id(api: Any, clock: ManualClock) -> None:
    old = users._scrypt_hash(PASSWORD)
    assert old.startswith("scrypt$")
    make_user(api, clock, old)
    assert not login(api, "wrong-password")
    assert stored_hash(api) == old  # a failed login rewrites nothing
    assert login(api, PASSWORD)
    new = stored_hash(api)
    assert new.startswith("$argon2id$") and PASSWORD not in new
    assert PasswordHasher().verify(new, PASSWORD)
    assert login(api, PASSWORD) and stored_hash(api) == new  # already current: left alone
    assert not login(api, "wrong-password")


def test_an_argon2_hash_with_outdated_parameters_is_rehashed(api: Any, clock: ManualClock) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    make_user(api, clock, weak)
    assert login(api, PASSWORD)
    assert stored_hash(api) != weak and not PasswordHasher().check_needs_rehash(stored_hash(api))


def test_new_hashes_are_salted_argon2id_and_garbage_never_verifies() -> None:
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("$argon2id$") and verify_password(PASSWORD, a)
    assert not verify_password("other-password", a)
    for garbage in ("", "garbage", "$argon2id$garbage", "scrypt$1$2$3$zz$zz", "$2b$12$" + "x" * 53):
        assert not verify_password(PASSWORD, garbage)


def test_unknown_users_cost_an_argon2_verification_too(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real = users.verify_password

    def spy(password: str, stored: str) -> bool:
        checked.append(stored)
        return real(password, stored)

    monkeypatch.setattr(users, "verify_password", spy)
    with api.service.sessions() as session:
        assert authenticate(session, "nobody", PASSWORD) is None
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")  # the same work as for a real user


def test_the_web_login_form_upgrades_an_old_hash(database_url: str, clock: ManualClock, api_factory: Any) -> None:
    api = api_factory(database_url, clock, bootstrap_admin=SecretStr(f"admin:{PASSWORD}")).as_token("")
    with api.service.sessions() as session:
        row = get_user(session, "admin")
        assert row is not None
        row.password_hash = users._scrypt_hash(PASSWORD)
        session.commit()

    def form_login(password: str) -> int:
        page = api.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        return int(api.post("/login", data={"username": "admin", "password": password, "csrf": token.group(1),
                                            "next": "/"}).status_code)

    assert form_login("wrong-password") == 401
    with api.service.sessions() as session:
        assert (get_user(session, "admin") or UserRow()).password_hash.startswith("scrypt$")
    assert form_login(PASSWORD) == 303
    with api.service.sessions() as session:
        assert (get_user(session, "admin") or UserRow()).password_hash.startswith("$argon2id$")
