"""Delivery faults against a real ``shopsentinel serve`` (issue 14, "Must show").

* A hung webhook beside a healthy DingTalk robot: each channel delivers on its own worker, so the
  robot gets every message — and a later crash, evaluated meanwhile — while the webhook's first
  request is still open.
* ``kill -9`` in the middle of a 60-message send: each message is committed around its own send, so
  after a restart every message has arrived, once, except at most the single one in flight, whose
  resend carries the same ``Idempotency-Key``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from shopsentinel.sim.channels import FakeDingTalk, FakeWebhookReceiver, run_fake_server
from tests.support.processes import (
    Server,
    channel_entries,
    post_crashes,
    put_ok,
    route_everything_at_once,
    serve,
    service_env,
    wait_for,
)

HOOK_SECRET = "fault-test-webhook-secret"
ROBOT_TOKEN, ROBOT_SECRET = "fault-robot-token", "SECfault-robot-secret-0001"


@pytest.fixture
def hook() -> Iterator[tuple[FakeWebhookReceiver, str]]:
    fake = FakeWebhookReceiver(HOOK_SECRET)  # system clock, like the service
    with run_fake_server(fake.app) as base_url:
        yield fake, base_url
        fake.faults.hang = False


@pytest.fixture
def robot() -> Iterator[tuple[FakeDingTalk, str]]:
    fake = FakeDingTalk({ROBOT_TOKEN: ROBOT_SECRET})
    with run_fake_server(fake.app) as base_url:
        yield fake, base_url


def add_webhook(server: Server, url: str, name: str = "slow-hook") -> None:
    put_ok(server, "/api/v1/channels", {
        "name": name, "kind": "webhook", "medium": "im", "receiver": "default",
        # a long client timeout: a hung request stays open for the whole test
        "settings": {"url": url, "secret": HOOK_SECRET, "timeout_seconds": 120},
    })  # fmt: skip


def add_robot(server: Server, base_url: str) -> None:
    put_ok(server, "/api/v1/channels", {
        "name": "robot", "kind": "dingtalk", "medium": "im", "receiver": "default",
        "settings": {"access_token": ROBOT_TOKEN, "secret": ROBOT_SECRET, "base_url": base_url,
                     "message_type": "markdown"},
    })  # fmt: skip


def robot_stores(fake: FakeDingTalk) -> list[str]:
    """The stores named in the robot's messages, in arrival order (markdown escapes removed)."""
    texts = [m.payload["markdown"]["text"].replace("\\", "") for m in fake.received]
    return [next((s for s in ALL_STORES if s in t), "?") for t in texts]  # no store id contains another


EARLY = [f"tm-hang-{i:02d}" for i in range(10)]
LATE = "tm-late-99"
ALL_STORES = [*EARLY, LATE]


def test_a_hung_webhook_delays_only_itself_while_dingtalk_and_evaluation_carry_on(
    tmp_path: Path, hook: tuple[FakeWebhookReceiver, str], robot: tuple[FakeDingTalk, str]
) -> None:
    hook_fake, hook_url = hook
    robot_fake, robot_url = robot
    hook_fake.faults.hang = True  # accepts each request and never answers
    with ExitStack() as stack:
        server = serve(stack, tmp_path, service_env(tmp_path), "hung")
        add_webhook(server, f"{hook_url}/hook")
        add_robot(server, robot_url)
        route_everything_at_once(server)

        post_crashes(server, EARLY)  # ten stores crash: ten messages for each channel
        wait_for("the robot to receive the ten crashes", lambda: len(robot_fake.received) >= len(EARLY))
        # Ten messages are queued for the webhook: its first request is open, the other nine wait behind it.

        def ten_entries() -> list[dict[str, Any]] | None:
            entries = channel_entries(server, "slow-hook")
            return entries if len(entries) == len(EARLY) else None

        entries = wait_for("ten webhook entries", ten_entries)
        assert hook_fake.requests_seen == 1 and hook_fake.received == []
        assert sorted(e["status"] for e in entries) == ["pending"] * 9 + ["sending"]

        # A later crash in another store is evaluated and reaches the robot meanwhile.
        post_crashes(server, [LATE])
        wait_for("the robot to receive the later crash", lambda: LATE in robot_stores(robot_fake))

        # All of it happened while the webhook's first request was still hanging.
        assert hook_fake.requests_seen == 1 and hook_fake.received == []
        hook_entries = channel_entries(server, "slow-hook")
        assert sorted(e["status"] for e in hook_entries) == ["pending"] * 10 + ["sending"]
        assert sorted(robot_stores(robot_fake)) == sorted(ALL_STORES)  # each store's crash once, none missing
        assert all(e["status"] == "sent" for e in channel_entries(server, "robot"))
        assert len(channel_entries(server, "robot")) == len(ALL_STORES)


SIXTY = [f"tm-send-{i:02d}" for i in range(60)]


def test_kill_9_during_a_60_message_send_delivers_each_message_once_but_the_one_in_flight(
    tmp_path: Path, hook: tuple[FakeWebhookReceiver, str]
) -> None:
    fake, base_url = hook
    fake.faults.delay_seconds = 0.1  # a slow receiver: the send of 60 messages takes a while
    env = service_env(tmp_path)
    with ExitStack() as stack:
        first = serve(stack, tmp_path, env, "first")
        add_webhook(first, f"{base_url}/hook", name="ops-hook")
        route_everything_at_once(first)
        post_crashes(first, SIXTY)
        wait_for("some messages to arrive", lambda: len(fake.received) >= 15, timeout=30)
        first.kill9()
        arrived_before_restart = len(fake.received)
        assert 0 < arrived_before_restart < len(SIXTY)  # killed in the middle of the send

        fake.faults.delay_seconds = 0.0
        second = serve(stack, tmp_path, env, "second")

        def all_sent() -> list[dict[str, Any]] | None:
            entries = channel_entries(second, "ops-hook")
            done = len(entries) == len(SIXTY) and all(e["status"] == "sent" for e in entries)
            return entries if done else None

        entries = wait_for("all 60 messages to be sent after the restart", all_sent, timeout=40)
        keys = {e["key"] for e in entries}
        assert len(keys) == len(SIXTY)

        received = Counter(m.payload["key"] for m in fake.received)
        assert set(received) == keys  # nothing lost
        twice = [key for key, count in received.items() if count > 1]
        assert len(twice) <= 1 and all(received[key] == 2 for key in twice)  # at most the one in flight, twice
        for message in fake.received:  # the receiver can dedupe: each message carries its outbox key
            assert message.headers.get("idempotency-key") == message.payload["key"]
        # Attempts: one sent per message, plus at most one cut off by the kill (recorded as interrupted).
        attempts = second.get("/api/v1/notifications", params={"limit": 1000})["items"]
        outcomes = Counter(a["outcome"] for a in attempts if a["channel"] == "ops-hook")
        assert outcomes["sent"] == len(SIXTY) and outcomes["interrupted"] <= 1
        assert set(outcomes) <= {"sent", "interrupted"}
