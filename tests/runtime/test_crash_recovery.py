"""The durable outbox survives ``kill -9`` between evaluation and sending (issue 3, "Must show").

A real ``shopsentinel serve`` subprocess (SQLite state file, system clock, 1 s schedule) is
given a signed webhook channel pointing at a loopback fake that *hangs*: it accepts the request
and never answers. Points create a firing alert; once the delivery attempt is in flight (the fake
has seen the request, the outbox row is still ``pending``) the service is killed with SIGKILL.
Restarted on the same database with the fake answering normally, it delivers the message:
exactly one message for the alert reaches the receiver (no loss, no double send), and the alert
is still firing under the same id.

Delivery semantics observed (see :mod:`shopsentinel.notify.outbox`): the outbox row is marked
``sent`` only after the channel answers, so an attempt cut off by a crash is offered again after
restart — *at least once*. Receiving exactly one message here holds because the hung request
never completed: the fake records only requests it has accepted (a hung one is never recorded),
so the receiver's view is "delivered once". Had the crash happened after the receiver accepted
the message but before the ``sent`` commit, the receiver would get it twice; receivers dedupe by
the notification ``key`` (stable across the resend, asserted below), which is what makes it
effectively exactly once end to end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.fernet import Fernet

from shopsentinel.sim.channels import FakeWebhookReceiver, run_fake_server

ADMIN = "crash-test-admin-token"
HOOK_SECRET = "crash-test-webhook-secret"
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


class Server:
    """One ``shopsentinel serve`` subprocess on loopback."""

    def __init__(self, tmp_path: Path, env: dict[str, str], name: str) -> None:
        self.port = free_port()
        self.log_path = tmp_path / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(SHOPSENTINEL), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, cwd=tmp_path, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5.0,
                                   headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=0.5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("/healthz", healthy, timeout=30.0)

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

    def ticks(self) -> int:
        text = self.client.get("/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("shopsentinel_ticks_total "))
        return int(line.split()[1])


def serve(stack: ExitStack, tmp_path: Path, env: dict[str, str], name: str) -> Server:
    """Start a service (stopped when ``stack`` closes) and wait for /healthz."""
    server = Server(tmp_path, env, name)
    stack.callback(server.close)
    server.wait_healthy()
    return server


@pytest.fixture
def receiver() -> Iterator[tuple[FakeWebhookReceiver, str]]:
    fake = FakeWebhookReceiver(HOOK_SECRET)  # system clock, like the service
    with run_fake_server(fake.app) as base_url:
        yield fake, base_url


def service_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSENTINEL_")}
    env.update({
        "SHOPSENTINEL_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "SHOPSENTINEL_BOOTSTRAP_TOKEN": ADMIN,
        "SHOPSENTINEL_SECRET_KEY": Fernet.generate_key().decode(),
        "SHOPSENTINEL_SCHEDULE_SECONDS": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    })  # fmt: skip
    return env


def configure(server: Server, hook_url: str) -> None:
    channel = server.client.put("/api/v1/channels", json={
        "name": "ops-hook", "kind": "webhook", "medium": "im", "receiver": "default",
        # a long client timeout: the hung attempt must still be in flight when the process is killed
        "settings": {"url": hook_url, "secret": HOOK_SECRET, "timeout_seconds": 60},
    })  # fmt: skip
    assert channel.status_code == 200, channel.text
    routing = server.client.put("/api/v1/routing", json={"route": {"receiver": "default", "group_wait_seconds": 0}})
    assert routing.status_code == 200, routing.text
    rule = {"id": "traffic.crash", "name": {"zh": "流量骤降", "en": "traffic crash"}, "severity": "critical",
            "when": {"metric": "uv", "type": "threshold", "below": 50}, "for": "1h"}
    rules = server.client.put("/api/v1/rules", json={"rules": [rule]})
    assert rules.status_code == 200, rules.text


def post_crash_points(server: Server) -> None:
    """Five complete hours before the current one (healthy, then a traffic crash), plus the current
    hour, still crashed: evaluation only sees complete hours, so should the hour roll over during
    the test the newly complete hour keeps the alert firing instead of leaving a gap."""
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    values = (500, 20, 10, 8, 6, 4)
    points = [{"ts": f"{this_hour - timedelta(hours=len(values) - 1 - i):%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall",
               "store": "tm-crash", "metric": "uv", "value": v} for i, v in enumerate(values)]
    response = server.client.post("/api/v1/points", json={"points": points})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(values), response.text


def firing_ids(server: Server) -> list[str]:
    return [a["id"] for a in server.get("/api/v1/alerts", params={"state": "firing"})["items"]]


def routed_entries(server: Server) -> list[dict[str, Any]]:
    return [o for o in server.get("/api/v1/outbox")["items"] if o["key"].endswith(">ops-hook")]


def test_outbox_survives_kill_9_while_the_delivery_is_in_flight(
    tmp_path: Path, receiver: tuple[FakeWebhookReceiver, str]
) -> None:
    fake, base_url = receiver
    env = service_env(tmp_path)
    fake.faults.hang = True
    with ExitStack() as stack:
        # First life: evaluate, write the outbox row, start sending into a receiver that never answers.
        first = serve(stack, tmp_path, env, "first")
        configure(first, f"{base_url}/hook")
        post_crash_points(first)
        [alert_id] = wait_for("a firing alert", lambda: firing_ids(first) or None)
        wait_for("the delivery attempt to reach the receiver", lambda: fake.requests_seen >= 1)
        [entry] = routed_entries(first)
        # Marked in flight (committed before the request), with its attempt open.
        assert entry["status"] == "sending" and entry["alert_id"] == alert_id
        in_flight = first.get("/api/v1/notifications")["items"]
        assert [(a["channel"], a["outcome"]) for a in in_flight] == [("ops-hook", "sending")]
        first.kill9()
        assert fake.received == []  # the hung request was never accepted

        # Second life, same database, receiver healthy again.
        fake.faults.hang = False
        second = serve(stack, tmp_path, env, "second")

        def sent() -> list[dict[str, Any]] | None:
            attempts: list[dict[str, Any]] = second.get("/api/v1/notifications")["items"]
            return attempts if any(a["outcome"] == "sent" for a in attempts) else None

        attempts = wait_for("the pending entry to be delivered after restart", sent)
        # Let at least one further full tick (evaluation, then notify) run before counting messages.
        after = second.ticks()
        wait_for("two more scheduler ticks", lambda: second.ticks() >= after + 2)

        # The attempt the kill cut off is recorded as interrupted; the one resend succeeded.
        assert sorted((a["channel"], a["outcome"], a["alert_id"]) for a in attempts) == [
            ("ops-hook", "interrupted", alert_id), ("ops-hook", "sent", alert_id)]
        [entry_after] = routed_entries(second)
        assert (entry_after["id"], entry_after["key"], entry_after["status"]) == (entry["id"], entry["key"], "sent")
        assert firing_ids(second) == [alert_id]  # still firing, same id: nothing re-created

        # No loss, no double send: the receiver accepted exactly one message, for that alert.
        assert fake.requests_seen == 2  # the hung attempt, then the one resend after restart
        [message] = fake.received
        assert (message.payload["id"], message.payload["key"]) == (alert_id, entry["key"])
        assert message.headers.get("idempotency-key") == entry["key"]  # the receiver can dedupe the resend
        assert "流量骤降" in message.payload["text"]
