"""Dependencies shared by the routes, as ``Annotated`` aliases.

``Reader`` accepts any valid token; ``Editor`` needs editor or admin; ``Admin`` needs admin.
A missing or unknown token is 401, a token without the role is 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from shopsentinel.runtime.service import Service
from shopsentinel.store.repository import ROLES, token_user

bearer = HTTPBearer(auto_error=False)


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_session(service: ServiceDep) -> Iterator[Session]:
    with service.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    user: str
    role: str

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def get_principal(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    row = token_user(session, credentials.credentials)
    if row is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return Principal(row.user, row.role)


def _needs(role: str) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.at_least(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role} role; this token is {principal.role}")
        return principal

    return check


Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(_needs("editor"))]
Admin = Annotated[Principal, Depends(_needs("admin"))]


def now(service: ServiceDep) -> datetime:
    return service.clock.now()


Now = Annotated[datetime, Depends(now)]

__all__ = ["Admin", "DbSession", "Editor", "Now", "Principal", "Reader", "RowId", "ServiceDep", "get_service", "get_session"]


RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="row id (a 32-bit integer, as every database stores it)")]
