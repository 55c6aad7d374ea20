"""Two ``serve`` replicas on one PostgreSQL database (issue 15, "exactly once where it matters").

Real processes on a throwaway PostgreSQL schema, a webhook receiver that verifies signatures and
counts what arrives. Crashes are posted to both replicas; the replica that leads (and sends) is
killed with ``-9`` in the middle of the send. The survivor takes the lead over, offers again the one
message that was in flight, and every crash arrives — once — with no twin alert anywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from shopsentinel.sim.channels import FakeWebhookReceiver
from tests.runtime.test_fault_delivery import add_webhook
from tests.support.once import assert_each_once, hook_receiver, stores_in
from tests.support.processes import (
    Server,
    post_crashes,
    route_everything_at_once,
    serve,
    service_env,
    wait_for,
)
from tests.support.service import pg_schema

VIA_A = [f"tm-rep-a{i:02d}" for i in range(20)]
VIA_B = [f"tm-rep-b{i:02d}" for i in range(20)]
LATE = [f"tm-rep-late{i}" for i in range(3)]


@pytest.fixture
def hook() -> Iterator[FakeWebhookReceiver]:
    yield from hook_receiver()


def role(server: Server) -> str | None:
    body = server.client.get("/healthz").json()
    return str(body.get("role"))


def firing_per_store(server: Server) -> Counter[str]:
    items = server.get("/api/v1/alerts", params={"state": "firing", "limit": 1000})["items"]
    return Counter(a["store"] for a in items if a["store"].startswith("tm-rep-"))


def test_two_replicas_send_each_message_once_and_the_survivor_takes_over_after_kill_9(
    tmp_path: Path, hook: FakeWebhookReceiver
) -> None:
    fake = hook
    fake.faults.delay_seconds = 0.1  # slow enough to kill the sender in the middle
    with pg_schema("rep") as (_user, _schema, url), ExitStack() as stack:
        env = service_env(tmp_path, SHOPSENTINEL_DATABASE_URL=url)
        a = serve(stack, tmp_path, env, "replica-a")
        add_webhook(a, f"{fake.base_url}/hook", name="ops-hook")  # type: ignore[attr-defined]
        route_everything_at_once(a)
        wait_for("replica A to lead", lambda: role(a) == "leader")
        b = serve(stack, tmp_path, env, "replica-b")
        assert role(b) == "follower"  # A holds the lead: B never runs the periodic work meanwhile

        post_crashes(a, VIA_A)
        post_crashes(b, VIA_B)  # judged by B, sent by whoever holds the channel
        wait_for("some messages to arrive", lambda: len(fake.received) >= 10, timeout=60)
        leader_sent_so_far = len(fake.received)
        a.kill9()
        assert leader_sent_so_far < len(VIA_A) + len(VIA_B)  # killed in the middle of the send

        fake.faults.delay_seconds = 0.0
        wait_for("replica B to take the lead over", lambda: role(b) == "leader", timeout=30)
        post_crashes(b, LATE)  # the survivor judges and sends on its own
        everyone = [*VIA_A, *VIA_B, *LATE]
        wait_for("every crash to arrive", lambda: stores_in(fake, everyone) == set(everyone) or None, timeout=90)

        assert_each_once(fake, everyone)  # at most the one message in flight at a kill sent twice, same key

        twins = {store: n for store, n in firing_per_store(b).items() if n != 1}
        assert twins == {}  # one firing alert per store, though two replicas judged them

        entries = b.get("/api/v1/outbox", params={"limit": 10_000})["items"]
        hook_entries: list[dict[str, Any]] = [e for e in entries if e["key"].endswith(">ops-hook")]
        assert len(hook_entries) == len(everyone) and all(e["status"] == "sent" for e in hook_entries)
