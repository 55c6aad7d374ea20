"""Dependencies shared by the routes, as ``Annotated`` aliases.

``Reader`` accepts any valid token; ``Editor`` needs editor or admin; ``Admin`` needs admin.
A missing or unknown token is 401, a token without the role is 403.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from shopsentinel.ingest.sync_state import SyncDB
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


class TokenThrottle:
    """Bearer-token guessing, per client address: after ``max_failures`` unknown tokens within
    ``window`` seconds, every request from that address is answered 429 (``Retry-After``: until
    the oldest failure leaves the window) before any token is looked up. Time comes from the
    service clock, so tests move it by hand.

    >>> throttle = TokenThrottle(max_failures=2, window=60.0)
    >>> throttle.failure("a", 0.0); throttle.failure("a", 10.0)
    >>> throttle.retry_after("a", 11.0), throttle.retry_after("b", 11.0), throttle.retry_after("a", 61.0)
    (49.0, 0.0, 0.0)
    """

    def __init__(self, max_failures: int = 20, window: float = 300.0, max_addresses: int = 50_000) -> None:
        self.max_failures, self.window, self.max_addresses = max_failures, window, max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, address: str, now: float) -> float:
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(times[-self.max_failures] + self.window - now, 1.0)

    def failure(self, address: str, now: float) -> None:
        with self._lock:
            if address not in self._failures and len(self._failures) >= self.max_addresses:
                for stale in [a for a, t in self._failures.items() if not t or t[-1] <= now - self.window]:
                    del self._failures[stale]
                if len(self._failures) >= self.max_addresses:  # a flood of addresses: forget the oldest
                    del self._failures[next(iter(self._failures))]
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times


_THROTTLE_LOCK = threading.Lock()


def token_throttle(request: Request, service: Service) -> TokenThrottle:
    """The app's throttle (``app.state.token_throttle``), built from the settings on first use."""
    with _THROTTLE_LOCK:
        throttle: TokenThrottle | None = getattr(request.app.state, "token_throttle", None)
        if throttle is None:
            throttle = TokenThrottle(service.settings.token_max_failures, service.settings.token_failure_window_seconds)
            request.app.state.token_throttle = throttle
        return throttle


def get_principal(
    request: Request,
    service: ServiceDep,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    throttle = token_throttle(request, service)
    address = request.client.host if request.client else "?"
    now = service.clock.now().timestamp()
    wait = throttle.retry_after(address, now)
    if wait > 0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            "此地址的无效令牌过多，请稍后重试 / too many unknown tokens from this address; retry later",
                            headers={"Retry-After": str(math.ceil(wait))})
    row = token_user(session, credentials.credentials)
    if row is None:
        throttle.failure(address, now)
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

__all__ = ["Admin", "DbSession", "Editor", "Now", "Principal", "Reader", "RowId", "ServiceDep", "get_service", "get_session",
           "sync_database"]


RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="row id (a 32-bit integer, as every database stores it)")]


@contextmanager
def sync_database(service: Service) -> Iterator[SyncDB]:
    """The sync database while no sync holds it, or the HTTP error that says why not: 404 when syncing
    is off, 503 + Retry-After while a sync runs (the sync status route answers the same way)."""
    if service.settings.sync_db is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "平台同步未开启 / platform sync is off (SHOPSENTINEL_SYNC_DB)")
    with service.sync_runner().database(wait=2.0) as db:
        if db is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "同步进行中，请稍后再试 / a sync is running",
                                headers={"Retry-After": "5"})
        yield db
