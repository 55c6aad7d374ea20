"""Amazon, Douyin and Shopify resend a read whose connection dropped mid-response (the fakes close
the socket after the headers), a bounded number of times; past that a ConnectionDroppedError
surfaces, which the sync engine backs off on, so a sync through drops still equals the ground truth.
Token calls are never resent (a refresh may already have been spent)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from shopsentinel.core.errors import SourceError
from shopsentinel.ingest.sync import SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sim.sync import SimEnv, compare, ground_truth, running_sim
from shopsentinel.sources.douyin.connector import DouyinSource
from shopsentinel.sources.kit.resend import DEFAULT_ATTEMPTS, ConnectionDroppedError, resend_dropped
from shopsentinel.sources.registry import build_source

PLATFORMS = ("amazon", "douyin", "shopify")


async def sync(env: SimEnv, db: SyncDB) -> tuple[SyncReport, tuple[str, ...]]:
    source = build_source(env.record.platform, env.config, clock=env.clock, sleep=env.sleep)
    try:
        return await SyncEngine(db, clock=env.clock, sleep=env.sleep).sync_store(env.record, source), tuple(source.streams())
    finally:
        await source.aclose()


def assert_truth(env: SimEnv, db: SyncDB, report: SyncReport, streams: tuple[str, ...]) -> None:
    assert report.ok, report.error
    result = compare(env, db.points(env.record.platform, env.record.store), ground_truth(env, streams, report.until),
                     report.until)
    assert result.ok, result.examples


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_sync_through_dropped_connections_is_resent_and_equals_the_ground_truth(platform: str) -> None:
    with running_sim(platform) as env, SyncDB(":memory:") as db:
        env.app.state.drops.drop_next(DEFAULT_ATTEMPTS - 1, after=1)  # after the token call, if any
        report, streams = asyncio.run(sync(env, db))
        assert env.app.state.drops.dropped == DEFAULT_ATTEMPTS - 1
        assert_truth(env, db, report, streams)
    assert sum(s.backoff_seconds for s in report.streams.values()) == 0  # the client resent; the engine did not back off
    assert env.sleep.waits[:DEFAULT_ATTEMPTS - 1] == [0.5, 1.0, 2.0]  # backoff on the manual clock, never for real


@pytest.mark.parametrize("platform", PLATFORMS)
def test_drops_beyond_the_resend_budget_surface_as_retryable_and_the_engine_recovers(platform: str) -> None:
    with running_sim(platform) as env, SyncDB(":memory:") as db:
        env.app.state.drops.drop_next(DEFAULT_ATTEMPTS + 1, after=1)
        report, streams = asyncio.run(sync(env, db))
        assert env.app.state.drops.dropped == DEFAULT_ATTEMPTS + 1
        assert_truth(env, db, report, streams)
    assert sum(s.backoff_seconds for s in report.streams.values()) > 0  # ConnectionDroppedError reached the engine


def test_a_connection_that_keeps_dropping_is_a_connection_dropped_error_after_a_bounded_number_of_sends() -> None:
    with running_sim("shopify") as env:
        env.app.state.drops.drop_next(100)
        source = build_source("shopify", env.config, clock=env.clock, sleep=env.sleep)

        async def first_page() -> Any:
            try:
                async for page in source.pages("orders", {}, env.clock.now()):
                    return page
            finally:
                await source.aclose()

        with pytest.raises(ConnectionDroppedError, match=r"shopify .*dropped 4× \(RemoteProtocolError\)") as info:
            asyncio.run(first_page())
        assert env.app.state.drops.dropped == DEFAULT_ATTEMPTS
    assert info.value.recoverable


def test_a_douyin_token_call_on_a_dropped_connection_is_not_resent() -> None:
    with running_sim("douyin") as env:
        env.app.state.drops.drop_next(1)  # the very first call is token.create
        assert isinstance(env.config, DouyinSource.config_model)
        source = DouyinSource(env.config, clock=env.clock, sleep=env.sleep)  # type: ignore[arg-type]

        async def create() -> Any:
            try:
                return await source.client.create_token()
            finally:
                await source.aclose()

        with pytest.raises(SourceError, match="token.create: RemoteProtocolError"):
            asyncio.run(create())
        assert env.app.state.sim.calls == []  # the dropped request never reached the platform
        assert env.app.state.drops.dropped == 1 and env.app.state.drops.pending == 0


def test_resend_sends_the_request_again_until_it_goes_through() -> None:
    sent: list[int] = []
    waits: list[float] = []

    async def send() -> httpx.Response:
        sent.append(1)
        if len(sent) <= 2:
            raise httpx.ReadError("connection reset by peer")
        return httpx.Response(204)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    response = asyncio.run(resend_dropped(send, what="x", sleep=sleep, attempts=3, backoff_seconds=1.0))
    assert response.status_code == 204 and len(sent) == 3 and waits == [1.0, 2.0]


def test_timeouts_are_not_treated_as_drops() -> None:
    async def send() -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    async def sleep(seconds: float) -> None:
        raise AssertionError("must not back off")

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(resend_dropped(send, what="x", sleep=sleep))


def test_amazon_create_report_is_resent_when_its_connection_drops() -> None:
    with running_sim("amazon") as env, SyncDB(":memory:") as db:
        env.app.state.drops.drop_next(2, method="POST", path="/reports/2021-06-30/reports")
        report, streams = asyncio.run(sync(env, db))
        assert env.app.state.drops.dropped == 2
        assert_truth(env, db, report, streams)
    assert env.app.state.sim.calls.count("createReport") >= 1
