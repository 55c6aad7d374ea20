"""Fixtures of the alert-center tests: an app on a manual clock with users of every role, a
synchronous cookie-keeping client over httpx's ASGI transport, and (for browser tests) a real
uvicorn server in a thread on a free port."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from shopsentinel.app import create_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings
from shopsentinel.runtime.service import Service
from shopsentinel.store.users import UserInput, create_user
from tests.support.service import Api
from tests.web.fleet import NOW, seed

ADMIN_TOKEN = "web-test-admin-token"
PASSWORDS = {"admin": "admin-pass-1", "editor": "editor-pass-1", "viewer": "viewer-pass-1"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Debian's chromium through Playwright against a real server")


def make_app(database_url: str, clock: ManualClock, **settings: Any) -> FastAPI:
    config = Settings(database_url=database_url, bootstrap_token=SecretStr(ADMIN_TOKEN),  # type: ignore[call-arg]
                      bootstrap_admin=SecretStr(f"admin:{PASSWORDS['admin']}"), _env_file=None, **settings)
    app = create_app(config, clock=clock, background=False)
    service: Service = app.state.service
    with service.sessions() as session:
        for role in ("editor", "viewer"):
            create_user(session, UserInput(username=role, role=role, password=PASSWORDS[role], display_name=f"{role} 测试"),
                        clock.now())
        session.commit()
    return app


class Client(Api):
    """The service tests' client, anonymous by default, plus the alert center's login and CSRF forms."""

    def __init__(self, app: FastAPI, token: str | None = None) -> None:
        super().__init__(app, token)

    def csrf(self) -> str:
        return str(self.cookies.get("ss_csrf") or "")

    def login(self, username: str, password: str | None = None) -> httpx.Response:
        page = self.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        return self.post("/login", data={"username": username, "password": password or PASSWORDS[username],
                                         "csrf": token.group(1), "next": "/"})

    def form(self, url: str, data: dict[str, Any] | None = None) -> httpx.Response:
        return self.post(url, data={**(data or {}), "csrf": self.csrf()})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def web_app(tmp_path: Path, clock: ManualClock) -> Iterator[FastAPI]:
    app = make_app(f"sqlite:///{tmp_path / 'state.db'}", clock)
    yield app
    app.state.service.close()


@pytest.fixture
def seeded_app(web_app: FastAPI, clock: ManualClock) -> FastAPI:
    seed(Client(web_app, ADMIN_TOKEN), clock)
    return web_app


@pytest.fixture
def client_factory(web_app: FastAPI) -> Any:
    def make(user: str | None = None) -> Client:
        client = Client(web_app)
        if user is not None:
            assert client.login(user).status_code == 303
        return client

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn in a daemon thread; ``url`` once ``server.started`` is true."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.started = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = datetime.now().timestamp() + 20
        while not self.server.started:  # the server flips this once it is listening
            if not self.thread.is_alive() or datetime.now().timestamp() > deadline:
                raise RuntimeError("uvicorn did not start")
            self.thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
