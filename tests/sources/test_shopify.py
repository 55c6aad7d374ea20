"""Contract tests: the Shopify GraphQL connector against the fake Admin API over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError
from shopsentinel.core.types import ORDER_STATES
from shopsentinel.sim.platforms import shopify as fake
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset
from shopsentinel.sim.platforms.dataset_intl import HourlyTraffic, make_traffic
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sources.base import Order
from shopsentinel.sources.kit.http import ThrottleWaiter
from shopsentinel.sources.shopify import mapping
from shopsentinel.sources.shopify.client import ShopifyClient, cost_wait
from shopsentinel.sources.shopify.connector import ShopifyConfig, ShopifySource
from shopsentinel.sources.shopify.signing import HMAC_HEADER, verify_webhook
from tests.sources.intl_helpers import ClockSleep, entities, read_pages

pytestmark = pytest.mark.anyio
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 3, tzinfo=UTC)
DOCUMENTED_FINANCIAL = {"AUTHORIZED", "EXPIRED", "PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED", "PENDING",
                        "REFUNDED", "VOIDED"}
DOCUMENTED_FULFILLMENT = {"FULFILLED", "IN_PROGRESS", "ON_HOLD", "OPEN", "PARTIALLY_FULFILLED",
                          "PENDING_FULFILLMENT", "RESTOCKED", "SCHEDULED", "UNFULFILLED", "REQUEST_DECLINED"}


@dataclass
class World:
    clock: ManualClock
    dataset: Dataset
    traffic: list[HourlyTraffic]
    sim: fake.ShopifySim
    url: str
    sleep: ClockSleep

    def source(self, **overrides: Any) -> ShopifySource:
        fields: dict[str, Any] = {"store": "shp-us-1", "shop_url": self.url, "access_token": SecretStr("shpat_static"),
                                  "start": START, "page_size": 10}
        return ShopifySource(ShopifyConfig(**{**fields, **overrides}), clock=self.clock, sleep=self.sleep)


def serve(**options: Any) -> Iterator[World]:
    clock = ManualClock(END + timedelta(hours=1))
    dataset = make_dataset(41, "America/New_York", START, END, 3)
    traffic = make_traffic(41, START - timedelta(days=1), END + timedelta(hours=1))
    app = fake.create_app(dataset, clock=clock, traffic=traffic, **options)
    with serve_in_thread(app) as url:
        yield World(clock, dataset, traffic, app.state.sim, url, ClockSleep(clock))


@pytest.fixture
def world() -> Iterator[World]:
    yield from serve()


def facts(order: Order) -> tuple[Any, ...]:
    return (order.order_id, order.status, order.amount, order.created_at, order.updated_at, order.paid_at,
            order.shipped_at, order.lines)


def test_shopify_webhook_hmac_verifies_only_the_exact_body_and_secret() -> None:
    sim = fake.ShopifySim.__new__(fake.ShopifySim)
    sim.client_secret = "shp-secret"
    order = Order("4501", START, "待发货", 10.0, updated_at=START)
    body, headers = sim.webhook("orders/updated", order)
    assert verify_webhook(SecretStr("shp-secret"), body, headers[HMAC_HEADER])
    assert not verify_webhook("other-secret", body, headers[HMAC_HEADER])
    assert not verify_webhook("shp-secret", body.replace(b"4501", b"4502"), headers[HMAC_HEADER])
    assert not verify_webhook("shp-secret", body, None)


async def test_shopify_full_read_pages_orders_and_inventory_exactly(world: World) -> None:
    source = world.source()
    orders = await source.read("orders", {}, END)
    inventory = await source.read("inventory", {}, END)
    await source.aclose()
    assert len(orders) > 5
    got = [facts(o) for o in entities(orders)]
    assert len(got) == len({g[0] for g in got})
    assert sorted(got) == sorted(facts(o) for o in world.dataset.orders)
    latest = {s.sku: (s.quantity, s.price) for s in sorted(world.dataset.stock, key=lambda s: s.at)}
    assert {s.sku: (s.quantity, s.price) for s in entities(inventory)} == latest


async def test_shopify_read_stopped_midway_resumes_without_gaps_or_duplicates(world: World) -> None:
    source = world.source()
    first = await read_pages(source, "orders", {}, END, stop_after=4)
    rest = await read_pages(source, "orders", first[-1].cursor, END)
    await source.aclose()
    ids = [o.order_id for o in entities(first) + entities(rest)]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(o.order_id for o in world.dataset.orders)


@pytest.mark.parametrize("overlap_minutes,caught", [(10, True), (0, False)])
async def test_shopify_late_updated_order_is_caught_by_the_overlap_window(
    world: World, overlap_minutes: int, caught: bool
) -> None:
    source = world.source(overlap_minutes=overlap_minutes)
    late = world.dataset.orders[3]
    world.dataset.orders.remove(late)
    done = (await source.read("orders", {}, END))[-1]
    world.dataset.orders.append(replace(late, updated_at=END - timedelta(minutes=4)))
    again = entities(await source.read("orders", done.cursor, END + timedelta(minutes=30)))
    await source.aclose()
    assert [o.order_id for o in again] == ([late.order_id] if caught else [])


@pytest.mark.parametrize("status_code", [200, 429])
async def test_shopify_throttled_query_waits_the_time_computed_from_the_cost(status_code: int) -> None:
    for world in serve(bucket_size=100, restore_rate=10, initially_available=5, throttle_status_code=status_code):
        source = world.source()
        pages = await source.read("orders", {}, END)
        await source.aclose()
        fetched = len(pages) - 1  # requested cost 1 + 2×10 = 21 points per page
        assert world.sim.throttled == 1  # only the first; later calls wait up front for the bucket
        assert world.sleep.waits == pytest.approx([1.6] + [2.1] * (fetched - 1))  # (21-5)/10, then 21/10
        assert sum(p.throttle_wait_seconds for p in pages) == pytest.approx(sum(world.sleep.waits))
        assert len(entities(pages)) == len(world.dataset.orders)


async def test_shopify_expiring_token_is_refreshed(world: World) -> None:
    source = world.source(access_token=None, client_id="shp-client", client_secret=SecretStr("shp-secret"),
                          refresh_token=SecretStr("shprt_initial"))
    await source.read("inventory", {}, END)
    assert world.sim.calls.count("oauth") == 1
    world.clock.advance(timedelta(hours=1))  # past expires_in: refreshed before the call
    await source.read("inventory", {}, END)
    assert world.sim.calls.count("oauth") == 2
    world.sim.tokens.expire_all()  # revoked early: 401, refresh with the rotated refresh token, retry
    again = await source.read("inventory", {}, END)
    await source.aclose()
    assert world.sim.calls.count("oauth") == 3 and again[-1].done
    assert "shp-secret" not in repr(source.config) and "shprt_initial" not in repr(source.config)


async def test_shopify_graphql_error_becomes_platform_error_with_code(world: World) -> None:
    world.sim.fail_next("Internal error. Looks like something went wrong on our end.", "INTERNAL_SERVER_ERROR")
    source = world.source()
    with pytest.raises(PlatformError, match="INTERNAL_SERVER_ERROR: Internal error") as info:
        await source.read("orders", {}, END)
    await source.aclose()
    assert info.value.code == "INTERNAL_SERVER_ERROR"


async def test_shopify_wrong_token_or_client_secret_is_rejected(world: World) -> None:
    source = world.source(access_token=SecretStr("shpat_wrong"))
    with pytest.raises(AuthError, match="Invalid API key or access token"):
        await source.read("orders", {}, END)
    await source.aclose()
    source = world.source(access_token=None, client_id="shp-client", client_secret=SecretStr("wrong"))
    with pytest.raises(AuthError, match="invalid_client"):
        await source.read("orders", {}, END)
    await source.aclose()


async def test_shopify_state_tables_cover_every_native_state_the_fake_emits(world: World) -> None:
    assert set(mapping.FINANCIAL_STATUS) == DOCUMENTED_FINANCIAL
    assert set(mapping.FULFILLMENT_STATUS) == DOCUMENTED_FULFILLMENT
    for state, twins in fake._NATIVE.items():
        for financial, fulfillment in twins:
            cancelled = "2026-11-01T00:00:00Z" if state == "已取消" else None
            node = {"displayFinancialStatus": financial, "displayFulfillmentStatus": fulfillment,
                    "cancelledAt": cancelled}
            assert mapping.order_state(node)[0] == state
    source = world.source()
    orders = entities(await source.read("orders", {}, END))
    await source.aclose()
    assert {o.status for o in orders} == set(ORDER_STATES)


async def test_shopify_shopifyql_sessions_become_hourly_uv_and_pv(world: World) -> None:
    source = world.source()
    pages = await source.read("sessions", {}, END)
    points = [pt for p in pages for pt in p.points]  # type: ignore[attr-defined]
    await source.aclose()
    expected = {("uv", h.hour): h.visitors for h in world.traffic if START <= h.hour <= END}
    expected |= {("pv", h.hour): h.pageviews for h in world.traffic if START <= h.hour <= END}
    assert {(p.metric, p.hour): p.value for p in points if p.metric in ("uv", "pv")} == expected
    assert {p.metric for p in points} == {"uv", "pv", "sessions", "platform_conversion_rate"}


async def test_shopify_client_reads_throttle_cost_from_a_429_body_without_a_server() -> None:
    cost = {"requestedQueryCost": 202, "actualQueryCost": None,
            "throttleStatus": {"maximumAvailable": 2000, "currentlyAvailable": 2, "restoreRate": 100}}
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, json={"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                                             "extensions": {"cost": cost}})
        return httpx.Response(200, json={"data": {"shop": {"name": "x"}}, "extensions": {"cost": {
            **cost, "actualQueryCost": 5, "throttleStatus": {**cost["throttleStatus"], "currentlyAvailable": 1900}}}})

    clock = ManualClock(START)
    sleep = ClockSleep(clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="https://shop.test") as http:
        client = ShopifyClient(http, api_version="2025-10", clock=clock, waiter=ThrottleWaiter(sleep),
                               access_token=SecretStr("shpat_x"))
        assert await client.query("Shop", "{ shop { name } }", {}) == {"shop": {"name": "x"}}
    assert sleep.waits == [2.0]  # (202 - 2) / 100
    assert cost_wait(None, 1.5) == 1.5 and cost_wait({**cost, "requestedQueryCost": 1}) == 0.0
