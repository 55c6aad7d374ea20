"""Fixtures of the service tests: a fresh state database per test (SQLite file and, when it is
reachable, a private schema in the local PostgreSQL), an app on a manual clock, and a small
synchronous client over httpx's ASGI transport (no network, no lifespan: tests tick by hand)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from shopsentinel.app import create_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings
from shopsentinel.runtime.service import Service

ADMIN_TOKEN = "test-admin-token"
PG_HOST = "127.0.0.1"


def _pg_user() -> str | None:
    import psycopg

    for user in ("postgres", "root"):
        try:
            with psycopg.connect(host=PG_HOST, port=5432, dbname="test", user=user, connect_timeout=2):
                return user
        except psycopg.OperationalError:
            continue
    return None


_PG_USER: str | None | bool = False


def pg_user() -> str | None:
    global _PG_USER
    if _PG_USER is False:
        _PG_USER = _pg_user()
    return _PG_USER if isinstance(_PG_USER, str) else None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no other test sees: a SQLite file, or a random PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with pg_schema("t") as (_user, _schema, url):
        yield url


@contextmanager
def pg_schema(prefix: str) -> Iterator[tuple[str, str, str]]:
    """(user, schema, database URL) of a brand-new empty PostgreSQL schema, dropped after; skips the
    test when PostgreSQL is not reachable."""
    user = pg_user()
    if user is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:5432 (database 'test', user postgres/root)")
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_HOST, dbname="test", user=user, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield user, schema, f"postgresql+psycopg://{user}@{PG_HOST}:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(host=PG_HOST, dbname="test", user=user, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


class Api:
    """Synchronous calls into the ASGI app with a bearer token (none: anonymous), keeping the cookies
    the app sets like a browser would (the alert center's session)."""

    def __init__(self, app: FastAPI, token: str | None = ADMIN_TOKEN) -> None:
        self.app = app
        self.token = token
        self.cookies = httpx.Cookies()

    @property
    def service(self) -> Service:
        service: Service = self.app.state.service
        return service

    def as_token(self, token: str) -> Api:
        return Api(self.app, token)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers,
                                         cookies=self.cookies) as client:
                response = await client.request(method, url, **kwargs)
                self.cookies = client.cookies
                return response

        return anyio.run(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


START = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make_api(database_url: str, clock: ManualClock, **settings: Any) -> Api:
    config = Settings(database_url=database_url, bootstrap_token=SecretStr(ADMIN_TOKEN), _env_file=None, **settings)  # type: ignore[call-arg]
    app = create_app(config, clock=clock, background=False)
    return Api(app)


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[Api]:
    client = make_api(database_url, clock)
    yield client
    client.service.close()


@pytest.fixture
def api_factory() -> Iterator[Any]:
    """Build apps on a given database and clock; every one is closed at the end of the test."""
    made: list[Api] = []

    def factory(database_url: str, clock: ManualClock, **settings: Any) -> Api:
        client = make_api(database_url, clock, **settings)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.service.close()
