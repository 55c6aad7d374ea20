"""Real ``shopsentinel serve`` subprocesses for fault tests (kill -9, restarts, refusals).

Everything waits by polling with a bound (:func:`wait_for`), never by a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography.fernet import Fernet

ADMIN = "crash-test-admin-token"
SHOPSENTINEL = Path(sys.executable).with_name("shopsentinel")
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something other than None/False (bounded; no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a service on ``tmp_path/state.db`` (no inherited ``SHOPSENTINEL_*``), a
    fresh key in ``SHOPSENTINEL_SECRET_KEY`` and a 1 s schedule; ``overrides`` are added last
    (``SHOPSENTINEL_SECRET_KEY=""`` removes the variable, e.g. to use a key file instead)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSENTINEL_")}
    env.update({
        "SHOPSENTINEL_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "SHOPSENTINEL_BOOTSTRAP_TOKEN": ADMIN,
        "SHOPSENTINEL_SECRET_KEY": Fernet.generate_key().decode(),
        "SHOPSENTINEL_SCHEDULE_SECONDS": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "HOME": str(tmp_path / "home"),  # a default key file, if any, lands here, never in the real home
    })  # fmt: skip
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "" or not k.startswith("SHOPSENTINEL_")}


class Server:
    """One ``shopsentinel serve`` subprocess on loopback (output in ``tmp_path/<name>.log``)."""

    def __init__(self, tmp_path: Path, env: dict[str, str], name: str) -> None:
        self.port = free_port()
        self.log_path = tmp_path / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(SHOPSENTINEL), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, cwd=tmp_path, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.base_url, timeout=5.0,
                                   headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return httpx.get(f"{self.base_url}/healthz", timeout=0.5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("/healthz", healthy, timeout=120.0)  # a cold start imports everything (slow on a loaded machine)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def close(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def metric(self, name: str) -> float:
        """One sample of ``/metrics`` by its full name (with labels, if any)."""
        text = self.client.get("/metrics").text
        line = next((x for x in text.splitlines() if x.startswith(f"{name} ")), None)
        assert line is not None, f"{name} not in /metrics:\n{text}"
        return float(line.split()[-1])

    def ticks(self) -> int:
        return int(self.metric("shopsentinel_ticks_total"))

    def rss_kib(self) -> int:
        """The process's resident set (VmRSS, KiB)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def serve(stack: ExitStack, tmp_path: Path, env: dict[str, str], name: str) -> Server:
    """Start a service (stopped when ``stack`` closes) and wait for /healthz."""
    server = Server(tmp_path, env, name)
    stack.callback(server.close)
    server.wait_healthy()
    return server


def serve_refused(tmp_path: Path, env: dict[str, str], name: str, timeout: float = 60.0) -> tuple[int, str]:
    """Start a service that is expected to refuse to start: its exit code and its output. Fails if
    it is still running after ``timeout`` (it came up after all)."""
    port = free_port()
    try:
        done = subprocess.run(
            [str(SHOPSENTINEL), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=tmp_path, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{name}: the service started instead of refusing") from exc
    output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    (tmp_path / f"{name}.log").write_text(output)
    return done.returncode, output




# --- setting a service up through its API ------------------------------------------------------

CRASH_RULE = {"id": "traffic.crash", "name": {"zh": "流量骤降", "en": "traffic crash"}, "severity": "critical",
              "when": {"metric": "uv", "type": "threshold", "below": 50}, "for": "1h"}
CRASH_VALUES = (500, 20, 10, 8, 6, 4)  # healthy, then a traffic crash that lasts


def put_ok(server: Server, url: str, body: Any) -> Any:
    response = server.client.put(url, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def route_everything_at_once(server: Server) -> None:
    """The traffic-crash rule, and every alert routed to receiver ``default`` with no group wait."""
    put_ok(server, "/api/v1/routing", {"route": {"receiver": "default", "group_wait_seconds": 0}})
    put_ok(server, "/api/v1/rules", {"rules": [CRASH_RULE]})


def crash_points(stores: list[str], platform: str = "tmall") -> list[dict[str, Any]]:
    """For each store, five complete hours before the current one (healthy, then a traffic crash)
    plus the current hour, still crashed: should the hour roll over during a test, the newly
    complete hour keeps the alert firing instead of leaving a gap."""
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    n = len(CRASH_VALUES)
    return [{"ts": f"{this_hour - timedelta(hours=n - 1 - i):%Y-%m-%dT%H:%M:%SZ}", "platform": platform,
             "store": store, "metric": "uv", "value": v} for store in stores for i, v in enumerate(CRASH_VALUES)]


def post_crashes(server: Server, stores: list[str]) -> None:
    points = crash_points(stores)
    response = server.client.post("/api/v1/points", json={"points": points})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(points), response.text


def channel_entries(server: Server, channel: str) -> list[dict[str, Any]]:
    """The outbox entries of one channel (keys end in ``>channel``), oldest first."""
    items = server.get("/api/v1/outbox", params={"limit": 10_000})["items"]
    return sorted((o for o in items if o["key"].endswith(f">{channel}")), key=lambda o: o["id"])


__all__ = ["ADMIN", "CRASH_RULE", "SHOPSENTINEL", "Server", "channel_entries", "crash_points", "free_port", "post_crashes",
           "put_ok", "route_everything_at_once", "serve", "serve_refused", "service_env", "wait_for"]
