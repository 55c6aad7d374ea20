"""What the exactly-once tests check on a webhook receiver after kills: every expected store's crash
arrived, one message each, except at most the single message in flight at a kill — sent again with the
same Idempotency-Key, so a receiver that honours it sees it once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from shopsentinel.sim.channels import FakeWebhookReceiver, run_fake_server
from tests.runtime.test_fault_delivery import HOOK_SECRET


def hook_receiver() -> Iterator[FakeWebhookReceiver]:
    """A signature-checking webhook receiver on loopback (``.base_url`` set), for a fixture to yield from."""
    fake = FakeWebhookReceiver(HOOK_SECRET)
    with run_fake_server(fake.app) as base_url:
        fake.base_url = base_url  # type: ignore[attr-defined]
        yield fake


def arrived(fake: FakeWebhookReceiver) -> list[tuple[str, str]]:
    """(notification key, Idempotency-Key) of every message the receiver accepted."""
    out = []
    for message in fake.received:
        headers = {k.lower(): v for k, v in message.headers.items()}
        out.append((str(message.payload["key"]), headers.get("idempotency-key", "")))
    return out


def stores_in(fake: FakeWebhookReceiver, stores: list[str]) -> set[str]:
    return {s for m in fake.received for s in stores if s in str(m.payload)}


def assert_each_once(fake: FakeWebhookReceiver, everyone: list[str]) -> None:
    messages = arrived(fake)
    counts = Counter(key for key, _ in messages)
    repeated = {key: n for key, n in counts.items() if n > 1}
    assert len(repeated) <= 1 and all(n == 2 for n in repeated.values()), repeated
    for key in repeated:
        assert len({idem for k, idem in messages if k == key}) == 1  # the resend carries the same key
    assert len(counts) == len(everyone)  # one message per crash, none missing, none extra
