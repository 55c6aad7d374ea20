"""Serve an ASGI app on loopback in a background thread, for tests that need real HTTP.

>>> # with run_fake_server(FakeDingTalk(...).app) as base_url: ...
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def run_fake_server(app: Any, *, ready_timeout: float = 10.0) -> Iterator[str]:
    """Start uvicorn on ``127.0.0.1`` on a free port; yield ``http://127.0.0.1:<port>``; stop on exit.

    The listening socket is bound here, before the thread starts, so there is no port race;
    readiness is the server's own ``started`` flag, polled (no fixed sleep).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        access_log=False,
        timeout_graceful_shutdown=2,  # a request left hanging by a fault switch must not block exit
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"fake-server-{port}")
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("fake server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
