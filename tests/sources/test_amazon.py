"""Contract tests: the Amazon SP-API connector against the fake LWA + SP-API over loopback HTTP."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError
from shopsentinel.sim.platforms import amazon as fake
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset
from shopsentinel.sim.platforms.dataset_intl import HourlyTraffic, make_traffic, only_states
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sources.amazon import mapping
from shopsentinel.sources.amazon.client import retry_after
from shopsentinel.sources.amazon.connector import AmazonConfig, AmazonSource
from shopsentinel.sources.amazon.signing import LwaAuth
from shopsentinel.sources.kit.http import TrafficPage, TrafficPoint
from tests.sources.intl_helpers import ClockSleep, entities, read_pages

pytestmark = pytest.mark.anyio
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 3, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")


@dataclass
class World:
    clock: ManualClock
    dataset: Dataset
    traffic: list[HourlyTraffic]
    sim: fake.AmazonSim
    url: str
    sleep: ClockSleep

    def source(self, **overrides: Any) -> AmazonSource:
        fields: dict[str, Any] = {
            "store": "amz-us-1", "client_id": "amzn1.application-oa2-client.test",
            "client_secret": SecretStr("amzn-secret"), "refresh_token": SecretStr("Atzr|refresh"),
            "endpoint": self.url, "lwa_url": self.url + "/auth/o2/token", "start": START, "page_size": 10}
        return AmazonSource(AmazonConfig(**{**fields, **overrides}), clock=self.clock, sleep=self.sleep)


def serve(**options: Any) -> Iterator[World]:
    clock = ManualClock(END + timedelta(hours=1))
    dataset = only_states(make_dataset(31, "America/Los_Angeles", START, END, 3), fake.STATES)
    traffic = make_traffic(31, START - timedelta(days=1), END)
    app = fake.create_app(dataset, clock=clock, traffic=traffic, **options)
    with serve_in_thread(app) as url:
        yield World(clock, dataset, traffic, app.state.sim, url, ClockSleep(clock))


@pytest.fixture
def world() -> Iterator[World]:
    yield from serve()


def facts(order: Any) -> tuple[Any, ...]:
    return (order.order_id, order.status, order.amount if order.status != "待付款" else 0.0,
            order.created_at, order.updated_at)


async def test_amazon_lwa_token_is_refreshed_before_expiry() -> None:
    forms: list[dict[str, str]] = []

    def lwa(request: httpx.Request) -> httpx.Response:
        forms.append(dict(httpx.QueryParams(request.content.decode())))
        return httpx.Response(200, json={"access_token": f"Atza|{len(forms)}", "expires_in": 3600})

    clock = ManualClock(START)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lwa)) as http:
        auth = LwaAuth(http, client_id="cid", client_secret=SecretStr("cs"), refresh_token=SecretStr("rt"),
                       clock=clock, url="https://lwa.test/auth/o2/token")
        assert await auth.access_token() == "Atza|1"
        clock.advance(timedelta(minutes=54))
        assert await auth.access_token() == "Atza|1"
        clock.advance(timedelta(minutes=2))  # within the 5-minute margin
        assert await auth.access_token() == "Atza|2"
    assert forms[0] == {"grant_type": "refresh_token", "refresh_token": "rt", "client_id": "cid",
                        "client_secret": "cs"}
    config = AmazonConfig(store="s", client_id="c", client_secret=SecretStr("cs-9f2e"),
                          refresh_token=SecretStr("Atzr|rt-77aa"), start=START)
    assert "cs-9f2e" not in repr(config) + str(config.model_dump()) and "rt-77aa" not in repr(config)


async def test_amazon_full_read_pages_orders_and_inventory_exactly(world: World) -> None:
    source = world.source()
    orders = await source.read("orders", {}, END)
    inventory = await source.read("inventory", {}, END)
    await source.aclose()
    assert len(orders) > 5 and world.sim.calls.count("getOrders") == len(orders) - 1
    got = [facts(o) for o in entities(orders)]
    assert len(got) == len({g[0] for g in got})
    assert sorted(got) == sorted(facts(o) for o in world.dataset.orders)
    latest = {s.sku: s.quantity for s in sorted(world.dataset.stock, key=lambda s: s.at)}
    assert {s.sku: s.quantity for s in entities(inventory)} == latest


async def test_amazon_read_stopped_midway_resumes_without_gaps_or_duplicates(world: World) -> None:
    source = world.source()
    first = await read_pages(source, "orders", {}, END, stop_after=2)
    world.clock.advance(timedelta(minutes=30))
    rest = await read_pages(source, "orders", first[-1].cursor, END)
    await source.aclose()
    ids = [o.order_id for o in entities(first) + entities(rest)]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(o.order_id for o in world.dataset.orders)


@pytest.mark.parametrize("overlap_minutes,caught", [(10, True), (0, False)])
async def test_amazon_order_visible_late_is_caught_by_the_overlap_window(overlap_minutes: int, caught: bool) -> None:
    for world in serve(visibility_lag=timedelta(minutes=5)):
        late = replace(world.dataset.orders[0], updated_at=world.clock.now() - timedelta(minutes=3))
        world.dataset.replace_order(late)  # changed 3 min ago: inside the window, not yet visible
        source = world.source(overlap_minutes=overlap_minutes)
        first = await source.read("orders", {}, world.clock.now())
        # listed in its state before the change (the platform shows the change only after the lag)
        before = [o for o in entities(first) if o.order_id == late.order_id]
        assert len(before) == 1 and before[0].updated_at is not None and before[0].updated_at < late.updated_at
        world.clock.advance(timedelta(minutes=10))
        again = entities(await source.read("orders", first[-1].cursor, world.clock.now()))
        await source.aclose()
        assert [(o.order_id, o.updated_at) for o in again] == ([(late.order_id, late.updated_at)] if caught else [])


async def test_amazon_429_waits_one_bucket_token_from_the_rate_header() -> None:
    for world in serve(rate_limits={"getOrders": (0.5, 2)}):
        source = world.source()
        pages = await source.read("orders", {}, END)
        await source.aclose()
        fetched = len(pages) - 1
        assert fetched > 3 and world.sim.calls.count("getOrders") == fetched + (fetched - 2)
        assert world.sleep.waits == [2.0] * (fetched - 2)  # 1 / 0.5 requests per second
        assert sum(p.throttle_wait_seconds for p in pages) == pytest.approx(2.0 * (fetched - 2))
    assert retry_after(httpx.Response(429, headers={"x-amzn-RateLimit-Limit": "0.0167"}), 1.0) == pytest.approx(59.88, 0.01)


async def test_amazon_expired_access_token_is_refreshed(world: World) -> None:
    source = world.source()
    await source.read("inventory", {}, END)
    world.clock.advance(timedelta(hours=1))
    await source.read("inventory", {}, END)
    assert world.sim.calls.count("lwa") == 2  # refreshed before expiry, no 403 seen
    world.sim.tokens.expire_all()  # revoked early: 403 "expired", refresh, retry
    again = await source.read("inventory", {}, world.clock.now())
    await source.aclose()
    assert world.sim.calls.count("lwa") == 3 and again[-1].done


async def test_amazon_error_body_becomes_platform_error_with_code(world: World) -> None:
    world.sim.fail_next(400, "InvalidInput", "Invalid Input")
    source = world.source()
    with pytest.raises(PlatformError, match="HTTP 400 InvalidInput: Invalid Input") as info:
        await source.read("orders", {}, END)
    await source.aclose()
    assert info.value.code == "InvalidInput"


async def test_amazon_wrong_client_secret_is_rejected(world: World) -> None:
    source = world.source(client_secret=SecretStr("wrong"))
    with pytest.raises(AuthError, match="invalid_client"):
        await source.read("orders", {}, END)
    await source.aclose()


async def test_amazon_state_table_covers_every_native_state_the_fake_emits(world: World) -> None:
    assert {n for pair in fake._NATIVE.values() for n in pair} == set(mapping.ORDER_STATUS)
    source = world.source()
    orders = entities(await source.read("orders", {}, END))
    await source.aclose()
    assert {o.native_status for o in orders} <= set(mapping.ORDER_STATUS)
    assert all(mapping.ORDER_STATUS[o.native_status] == o.status for o in orders)


async def test_amazon_sales_and_traffic_report_becomes_uv_and_pv(world: World) -> None:
    source = world.source(traffic_overlap_days=1)
    pages = await source.read("sales_traffic", {}, END)
    assert all(isinstance(p, TrafficPage) for p in pages)
    points = [pt for p in pages for pt in p.points]  # type: ignore[attr-defined]
    day_start = datetime(2026, 10, 31, tzinfo=LA)  # START aligned to the marketplace day
    expected: dict[tuple[str, datetime], float] = defaultdict(float)
    for hour in world.traffic:
        if day_start <= hour.hour < END:
            local = datetime.combine(hour.hour.astimezone(LA).date(), datetime.min.time(), LA).astimezone(UTC)
            expected["uv", local] += hour.sessions
            expected["pv", local] += hour.pageviews
    got = {(p.metric, p.hour): p.value for p in points if p.metric in ("uv", "pv")}
    assert got == dict(expected) and len(got) == 2 * 3  # Oct 31, Nov 1, Nov 2 (LA)
    assert {p.metric for p in points} == {"uv", "pv", "unit_session_percentage"}
    assert world.sleep.waits and sum(p.throttle_wait_seconds for p in pages) == 0  # polling is not throttling
    again = await source.read("sales_traffic", pages[-1].cursor, END)
    await source.aclose()
    assert [pt for p in again for pt in p.points] == []  # type: ignore[attr-defined]


def test_amazon_report_parser_tolerates_the_browser_typo() -> None:
    document = {"salesAndTrafficByDate": [{"date": "2026-11-01", "trafficByDate": {
        "browerPageViews": 30, "mobileAppPageViews": 12, "sessions": 20, "unitSessionPercentage": 150.0}}]}
    points = {k.item.metric: k.item for k in mapping.sales_and_traffic(json.dumps(document), LA)}
    assert points["pv"].value == 42 and points["uv"].value == 20 and points["unit_session_percentage"].value == 150
    # 2026-11-01 is the day US clocks fall back: the LA day starts 07:00 UTC and lasts 25 hours.
    assert points["uv"] == TrafficPoint("uv", 20.0, datetime(2026, 11, 1, 7, tzinfo=UTC), 25)


async def test_amazon_expired_fba_next_token_restarts_the_listing_without_duplicates() -> None:
    for world in serve(inventory_page_size=2):
        source = world.source()
        skus: list[str] = []
        stalled = False
        async for page in source.pages("inventory", {}, END):
            skus += [s.sku for s in page.entities]
            if not stalled:  # the consumer stalls once after the first page: the nextToken dies after 30 s
                world.clock.advance(timedelta(seconds=31))
                stalled = True
        await source.aclose()
        assert world.sim.calls.count("getInventorySummaries") > 4  # restarted at least once
        assert sorted(skus) == sorted({s.sku for s in world.dataset.stock})
