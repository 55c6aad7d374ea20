"""A router client (TOP, JOS, PDD) resends a read once when its pooled keep-alive connection turns
out to have been closed by the server (seen under load in bench/sync_throughput.py), but never a
token refresh, which may already have spent the refresh token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError
from shopsentinel.sim.platforms.dataset import make_dataset
from shopsentinel.sim.platforms.pdd import create_app
from shopsentinel.sources.pdd.client import PddClient, PddConfig

START = datetime(2026, 11, 1, tzinfo=UTC)
NOW = START + timedelta(days=1, hours=1)


class DropFirstRequests(httpx.AsyncBaseTransport):
    """Fails the first ``drops`` requests like a reset keep-alive connection, then serves the app."""

    def __init__(self, app: object, drops: int) -> None:
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self.drops, self.sent = drops, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        if self.sent <= self.drops:
            raise httpx.ReadError("connection reset by peer", request=request)
        return await self.inner.handle_async_request(request)


def client(drops: int) -> tuple[PddClient, DropFirstRequests]:
    clock = ManualClock(NOW)
    app = create_app(make_dataset(4, "Asia/Shanghai", START, START + timedelta(days=1), 2), app_key="cid",
                     app_secret="csecret", clock=clock)
    transport = DropFirstRequests(app, drops)
    config = PddConfig(store="pdd-1", app_key="cid", app_secret="csecret", access_token="token-0",
                       refresh_token="refresh-0", base_url="http://pdd.test/api/router", start=START)
    http = httpx.AsyncClient(transport=transport)
    return PddClient(config, clock=clock, http=http), transport


async def goods(pdd: PddClient) -> dict[str, object]:
    return await pdd.call("pdd.goods.list.get", {"page": 1, "page_size": 10})


def test_a_read_on_a_reset_connection_is_sent_once_more() -> None:
    pdd, transport = client(drops=1)
    body = asyncio.run(goods(pdd))
    assert transport.sent == 2 and body["total_count"] == 3  # 6 SKUs, two per goods


def test_a_second_reset_is_a_platform_error() -> None:
    pdd, transport = client(drops=2)
    with pytest.raises(PlatformError, match="transport error ReadError"):
        asyncio.run(goods(pdd))
    assert transport.sent == 2


def test_a_token_refresh_on_a_reset_connection_is_not_resent() -> None:
    pdd, transport = client(drops=1)
    with pytest.raises(AuthError, match="ReadError"):
        asyncio.run(pdd.refresh())
    assert transport.sent == 1
