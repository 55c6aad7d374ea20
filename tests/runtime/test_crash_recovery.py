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

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shopsentinel.sim.channels import FakeWebhookReceiver, run_fake_server
from tests.support.processes import Server, serve, service_env, wait_for

HOOK_SECRET = "crash-test-webhook-secret"


@pytest.fixture
def receiver() -> Iterator[tuple[FakeWebhookReceiver, str]]:
    fake = FakeWebhookReceiver(HOOK_SECRET)  # system clock, like the service
    with run_fake_server(fake.app) as base_url:
        yield fake, base_url


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
