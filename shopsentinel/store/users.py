"""The user directory: people who log in to the alert center and whom channels reach.

New passwords are stored as argon2id hashes (argon2-cffi's ``PasswordHasher``, its recommended
parameters, a random salt per password: ``$argon2id$v=19$m=…,t=…,p=…$salt$hash``). Hashes of the
earlier format, ``scrypt$n$r$p$salt_hex$hash_hex`` (``hashlib.scrypt``), still verify (in constant
time) and are rewritten as argon2id at the user's next successful login, as are argon2 hashes whose
parameters are out of date (``check_needs_rehash``). Nothing here logs a password.

>>> stored = hash_password("s3cret-pass")
>>> stored.startswith("$argon2id$"), verify_password("s3cret-pass", stored), verify_password("nope", stored)
(True, True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.core.errors import InputError
from shopsentinel.store.repository import ROLES
from shopsentinel.store.state import UserRow

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 8
LOCALES = ("zh-CN", "en")
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


_HASHER = PasswordHasher()  # argon2id with argon2-cffi's recommended parameters (RFC 9106, low memory)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (random salt)."""
    return _HASHER.hash(password)


def _scrypt_hash(password: str) -> str:
    """The earlier format (``scrypt$n$r$p$salt$hash``): kept to verify, and for tests of the upgrade."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected) // 2)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest.hex(), expected)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (argon2, or the earlier scrypt format)."""
    if stored.startswith("$argon2"):
        try:
            return _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    return _verify_scrypt(password, stored)


def needs_rehash(stored: str) -> bool:
    """Whether a hash that just verified should be rewritten: any non-argon2 hash, or argon2 with
    parameters other than the current ones."""
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


@dataclass
class UserInput:
    """What creating or updating a user takes; :func:`validate` says what is wrong, in words."""

    username: str
    role: str = "viewer"
    password: str | None = None
    display_name: str = ""
    duties: list[str] = field(default_factory=list)
    email: str = ""
    phone: str = ""
    im_ids: dict[str, Any] = field(default_factory=dict)
    locale: str = "zh-CN"
    timezone: str = ""  # IANA zone; "" follows the installation's display zone
    active: bool = True


def valid_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows.

    >>> valid_zone("Europe/London"), valid_zone("Beijing"), valid_zone("../etc")
    (True, False, False)
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validate(user: UserInput, *, creating: bool) -> None:
    if not user.username or len(user.username) > 100 or not set(user.username) <= USERNAME_CHARS:
        raise InputError("username: 1–100 letters, digits or . _ - @", field="username")
    if user.role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}", field="role")
    if user.locale not in LOCALES:
        raise InputError(f"locale must be one of {', '.join(LOCALES)}", field="locale")
    if user.timezone and not valid_zone(user.timezone):
        raise InputError(f"未知时区 {user.timezone!r}（例如 Asia/Shanghai、Europe/London）/ unknown time zone "
                         f"{user.timezone!r} (e.g. Asia/Shanghai, Europe/London)", field="timezone")
    if creating and not user.password:
        raise InputError("a new user needs a password", field="password")
    if user.password is not None and len(user.password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters", field="password")
    if user.email and "@" not in user.email:
        raise InputError("email: not an e-mail address", field="email")
    if user.phone and not all(c.isdigit() or c in "+- " for c in user.phone):
        raise InputError("phone: digits, +, - and spaces only", field="phone")


def get_user(session: Session, username: str) -> UserRow | None:
    return session.scalars(select(UserRow).where(UserRow.username == username)).first()


def list_users(session: Session) -> list[UserRow]:
    return list(session.scalars(select(UserRow).order_by(UserRow.username)).all())


def create_user(session: Session, user: UserInput, now: datetime) -> UserRow:
    validate(user, creating=True)
    if get_user(session, user.username) is not None:
        raise InputError(f"user {user.username!r} exists", field="username")
    assert user.password is not None  # checked by validate
    row = UserRow(username=user.username, display_name=user.display_name or user.username,
                  password_hash=hash_password(user.password), role=user.role, duties=list(user.duties),
                  email=user.email, phone=user.phone, im_ids=dict(user.im_ids), locale=user.locale,
                  timezone=user.timezone, active=user.active, created_at=now)
    session.add(row)
    session.flush()
    return row


def update_user(session: Session, row: UserRow, user: UserInput) -> UserRow:
    validate(user, creating=False)
    row.display_name = user.display_name or row.display_name
    row.role, row.duties, row.email, row.phone = user.role, list(user.duties), user.email, user.phone
    revoke = bool(user.password) or (row.active and not user.active)
    row.im_ids, row.locale, row.active = dict(user.im_ids), user.locale, user.active
    row.timezone = user.timezone
    if user.password:
        row.password_hash = hash_password(user.password)
    if revoke:  # a new password or a deactivation ends the user's open web sessions
        row.session_generation = (row.session_generation or 0) + 1
    session.flush()
    return row


def authenticate(session: Session, username: str, password: str) -> UserRow | None:
    """The active user with this password, else None (same work whether or not the user exists).

    A hash of an earlier format or with outdated parameters is rewritten as argon2id on the way (the
    caller commits the session, as the login does with its audit entry)."""
    row = get_user(session, username)
    if row is None or not row.password_hash:
        verify_password(password, _DUMMY)  # keep timing similar for unknown users
        return None
    if not verify_password(password, row.password_hash) or not row.active:
        return None
    if needs_rehash(row.password_hash):
        row.password_hash = hash_password(password)
        session.flush()
    return row


def set_locale(session: Session, username: str, locale: str) -> None:
    row = get_user(session, username)
    if row is not None and locale in LOCALES:
        row.locale = locale


def ensure_bootstrap_admin(session: Session, spec: str, now: datetime) -> bool:
    """``user:password`` from ``SHOPSENTINEL_BOOTSTRAP_ADMIN``: create that admin unless the user exists."""
    username, sep, password = spec.partition(":")
    if not sep:
        raise InputError("SHOPSENTINEL_BOOTSTRAP_ADMIN must be 'user:password'", field="bootstrap_admin")
    if get_user(session, username) is not None:
        return False
    create_user(session, UserInput(username=username, role="admin", password=password), now)
    return True


def duty_members(session: Session) -> dict[str, list[str]]:
    """Functional role (duty) → the active users holding it, by username: how a role reaches people.

    Subscriptions and escalation steps address roles; this is who those roles are."""
    members: dict[str, list[str]] = {}
    for row in session.scalars(select(UserRow).where(UserRow.active.is_(True)).order_by(UserRow.username)).all():
        for duty in row.duties or []:
            members.setdefault(str(duty), []).append(row.username)
    return members


_DUMMY = hash_password(secrets.token_hex(8))

__all__ = [
    "LOCALES",
    "UserInput",
    "authenticate",
    "create_user",
    "duty_members",
    "ensure_bootstrap_admin",
    "get_user",
    "hash_password",
    "list_users",
    "needs_rehash",
    "set_locale",
    "update_user",
    "validate",
    "verify_password",
]
