"""Load shedding and outages (issue 14, item 1): ``/healthz`` answers from in-process state and never
waits on the pool — with every pool connection taken it is 200 while a points POST is 503 with
Retry-After; a PostgreSQL server that goes away (a real TCP hop to it, closed) is 503 with Retry-After
on the API, the pages and /healthz, never 500, and the service recovers without a restart."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from sqlalchemy import select

from shopsentinel.core.clock import ManualClock
from shopsentinel.store import db
from shopsentinel.store.state import PointRow
from tests.support.service import PG_HOST

POINT = {"ts": "2026-11-09T10:00:00Z", "platform": "tmall", "store": "tm-1", "metric": "uv", "value": 5}


def test_healthz_answers_while_every_pool_connection_is_taken(
        api_factory: Any, database_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # a small pool that gives up quickly, so that the test holds all of it and the refused request
    # comes back soon; the request path and the pool class are the service's own
    monkeypatch.setattr(db, "POOL_SIZE", 2)
    monkeypatch.setattr(db, "POOL_OVERFLOW", 1)
    monkeypatch.setattr(db, "POOL_TIMEOUT", 0.5)
    api = api_factory(database_url, clock)
    engine = api.service.engine
    assert api.post("/api/v1/points", json={"points": [POINT]}).status_code == 200
    with ExitStack() as held:
        for _ in range(db.POOL_SIZE + db.POOL_OVERFLOW):
            held.enter_context(engine.connect())
        assert engine.pool.checkedout() == 3  # every connection the pool may open is taken
        health = api.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        busy = api.post("/api/v1/points", json={"points": [{**POINT, "value": 6}]})
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "1"
        assert busy.json() == {"detail": "服务繁忙，请稍后重试 / busy, retry shortly"}
        assert api.as_token("").get("/healthz").status_code == 200  # anonymous, too
    assert api.post("/api/v1/points", json={"points": [{**POINT, "value": 7}]}).status_code == 200
    with api.service.sessions() as session:
        assert session.scalars(select(PointRow.value)).all() == [7.0]  # the refused batch was not half-written
    assert api.get("/healthz").status_code == 200


class Hop:
    """A TCP hop to PostgreSQL on a fixed local port: ``cut()`` closes the listener and every relayed
    connection (the server is gone, connects are refused); ``mend()`` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.mend()

    def mend(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
            listener, self._listener = self._listener, None
        for sock in [*sockets, *([listener] if listener else [])]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def hop() -> Iterator[Hop]:
    relay = Hop((PG_HOST, 5432))
    yield relay
    relay.cut()


def test_a_database_that_goes_away_is_503_with_retry_after_never_500(
        database_url: str, api_factory: Any, clock: ManualClock, hop: Hop) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server to lose: PostgreSQL (SQLite is a file in the process)")
    through_hop = database_url.replace(f"@{PG_HOST}:5432/", f"@127.0.0.1:{hop.port}/")
    assert through_hop != database_url
    api = api_factory(through_hop, clock)
    assert api.post("/api/v1/points", json={"points": [POINT]}).status_code == 200
    assert api.get("/healthz").json()["status"] == "ok"

    hop.cut()
    down = "数据库暂不可用，请稍后重试 / database unavailable, retry shortly"
    for method, url, kwargs in (("POST", "/api/v1/points", {"json": {"points": [{**POINT, "value": 6}]}}),
                                ("GET", "/api/v1/alerts", {}), ("GET", "/api/v1/stores", {}),
                                ("GET", "/metrics", {})):
        response = api.request(method, url, **kwargs)
        assert response.status_code == 503, (url, response.status_code, response.text[:300])
        assert response.headers["retry-after"] == "5" and response.json() == {"detail": down}, url
    health = api.get("/healthz")
    assert health.status_code == 503 and health.headers["retry-after"] == "5"
    assert health.json()["status"] == "unavailable"
    page = api.as_token("").get("/login")  # a page that needs no database still renders
    assert page.status_code == 200

    hop.mend()  # the server is back: the next requests reconnect, no restart
    assert api.post("/api/v1/points", json={"points": [{**POINT, "value": 7}]}).status_code == 200
    assert api.get("/healthz").json()["status"] == "ok"
    with api.service.sessions() as session:
        assert session.scalars(select(PointRow.value)).all() == [7.0]
