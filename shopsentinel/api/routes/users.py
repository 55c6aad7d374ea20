"""The user directory (admin only): who logs in to the alert center and how channels reach them.

Password hashes are never returned; a password is only ever written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, SecretStr

from shopsentinel.api.deps import Admin, DbSession, Now
from shopsentinel.core.errors import InputError
from shopsentinel.store import users as repo
from shopsentinel.store.repository import audit
from shopsentinel.store.state import UserRow

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserBody(BaseModel):
    role: str = "viewer"
    password: SecretStr | None = None
    display_name: str = ""
    duties: list[str] = Field(default_factory=list)
    email: str = ""
    phone: str = ""
    im_ids: dict[str, Any] = Field(default_factory=dict)
    locale: str = "zh-CN"
    timezone: str = Field(default="", description="IANA zone the person reads the alert center in; empty: the "
                          "installation's display zone (SHOPSENTINEL_DISPLAY_TIMEZONE)")
    active: bool = True


class UserCreate(UserBody):
    username: str


class UserPublic(BaseModel):
    username: str
    display_name: str
    role: str
    duties: list[str]
    email: str
    phone: str
    im_ids: dict[str, Any]
    locale: str
    timezone: str
    active: bool
    created_at: datetime


def _public(row: UserRow) -> UserPublic:
    return UserPublic(username=row.username, display_name=row.display_name, role=row.role, duties=list(row.duties),
                      email=row.email, phone=row.phone, im_ids=dict(row.im_ids), locale=row.locale,
                      timezone=row.timezone or "", active=row.active, created_at=row.created_at)


def _input(username: str, body: UserBody) -> repo.UserInput:
    data = body.model_dump(exclude={"password", "username"})
    password = body.password.get_secret_value() if body.password else None
    return repo.UserInput(username=username, password=password, **data)


def _invalid(exc: InputError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"field": exc.field or "", "msg": exc.reason}])


@router.get("", response_model=list[UserPublic])
def list_users(session: DbSession, _admin: Admin) -> list[UserPublic]:
    return [_public(r) for r in repo.list_users(session)]


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: DbSession, principal: Admin, now: Now) -> UserPublic:
    try:
        row = repo.create_user(session, _input(body.username, body), now)
    except InputError as exc:
        raise _invalid(exc) from None
    audit(session, principal.user, "user.create", row.username, now, role=row.role)
    session.commit()
    return _public(row)


@router.put("/{username}", response_model=UserPublic)
def update_user(username: str, body: UserBody, session: DbSession, principal: Admin, now: Now) -> UserPublic:
    row = repo.get_user(session, username)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}")
    try:
        repo.update_user(session, row, _input(username, body))
    except InputError as exc:
        raise _invalid(exc) from None
    audit(session, principal.user, "user.update", username, now, role=row.role, password_changed=body.password is not None)
    session.commit()
    return _public(row)
