"""Outbox delivery: channels from the notify registry, backoff for recoverable failures only,
and the background runner evaluating promptly after ingest (woken, not polled by the test)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify import DeliveryResult, Notification
from shopsentinel.notify.delivery import deliver_outbox
from shopsentinel.notify.outbox import NotifierDispatcher, backoff
from tests.support.service import START


@pytest.fixture
def clock() -> ManualClock:
    """The service tests' clock (tests/support/service.py), not the notify package's own."""
    return ManualClock(START)

RULES = {"rules": [{"id": "orders.too_low", "name": {"zh": "订单过低", "en": "Orders too low"}, "severity": "warning",
                    "when": {"metric": "orders", "type": "threshold", "below": 5}, "for": "1h"}]}


class FakeChannel:
    channel = "fake"

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.sent: list[Notification] = []

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(notification)
        return DeliveryResult(channel=self.channel)


def _fire(api: Any, clock: ManualClock, store: str = "tm-1") -> None:
    api.put("/api/v1/rules", json=RULES)
    ts = clock.now()
    api.post("/api/v1/points", json={"points": [
        {"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": store, "metric": "orders", "value": 1}]})
    clock.advance(timedelta(hours=1))


def test_recoverable_failures_back_off_then_deliver_once(api: Any, clock: ManualClock) -> None:
    channel = FakeChannel([RecoverableDeliveryError("429 too many"), RecoverableDeliveryError("503")])
    api.service.dispatcher = NotifierDispatcher([channel])
    _fire(api, clock)
    api.service.tick()  # first attempt fails
    api.service.tick()  # not due yet: no second attempt
    entry = api.get("/api/v1/outbox").json()["items"][0]
    assert (entry["status"], entry["attempts"], entry["last_error"]) == ("pending", 1, "RecoverableDeliveryError: 429 too many")
    clock.advance(backoff(1))
    api.service.tick()
    clock.advance(backoff(2))
    api.service.tick()
    entry = api.get("/api/v1/outbox").json()["items"][0]
    assert (entry["status"], entry["attempts"]) == ("sent", 3)
    assert [n.key for n in channel.sent] == [entry["key"]]
    assert channel.sent[0].alerts[0]["rule"] == "orders.too_low" and channel.sent[0].alerts[0]["state"] == "firing"
    api.service.tick()
    assert len(channel.sent) == 1


def test_permanent_failure_is_not_retried(api: Any, clock: ManualClock) -> None:
    channel = FakeChannel([PermanentDeliveryError("bad signature")])
    api.service.dispatcher = NotifierDispatcher([channel])
    _fire(api, clock)
    api.service.tick()
    clock.advance(timedelta(hours=2))
    assert deliver_outbox(api.service.sessions, api.service.dispatcher, clock) == 0
    entry = api.get("/api/v1/outbox").json()["items"][0]
    assert (entry["status"], entry["attempts"]) == ("failed", 1)


def test_background_runner_evaluates_promptly_after_ingest(api: Any, clock: ManualClock) -> None:
    app, service = api.app, api.service
    evaluated = threading.Event()
    original = service.evaluator.evaluate

    def spy(keys: list[tuple[str, str]]) -> Any:
        result = original(keys)
        if ("tmall", "tm-bg") in keys:
            evaluated.set()
        return result

    service.evaluator.evaluate = spy  # type: ignore[method-assign]
    service.scheduler.next_due = clock.now() + timedelta(days=1)  # only ingest can trigger it

    async def scenario() -> None:
        from shopsentinel.runtime.scheduler import BackgroundRunner

        runner = BackgroundRunner(service.scheduler, poll_seconds=30)
        runner.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         headers={"Authorization": "Bearer test-admin-token"}) as client:
                await client.put("/api/v1/rules", json=RULES)
                ts = clock.now() - timedelta(hours=1)  # a closed hour: judged at once, the ingest wakes the runner
                r = await client.post("/api/v1/points", json={"points": [
                    {"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": "tm-bg", "metric": "orders", "value": 1}]})
                assert r.status_code == 200
                assert await anyio.to_thread.run_sync(evaluated.wait, 20), "no evaluation after ingest"
        finally:
            await runner.stop()

    anyio.run(scenario)
    assert service.scheduler.pending() == []
