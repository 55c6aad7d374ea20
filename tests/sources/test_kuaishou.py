"""Contract tests: the Kuaishou (快手小店) connector against its fake over loopback HTTP — signing
vectors, token refresh and rotation, pcursor paging, throttling, drops, and a full sync through the
real engine equal to the ground truth."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError
from shopsentinel.ingest.sync import SyncEngine, SyncReport, with_zero_units
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.sim.platforms import kuaishou as fake
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset, visible
from shopsentinel.sim.platforms.harness import comparable
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sources.hourly import HOUR, hour_start, hourly_points, hours_between
from shopsentinel.sources.kit import Tokens
from shopsentinel.sources.kuaishou import mapping
from shopsentinel.sources.kuaishou.connector import KuaishouConfig, KuaishouSource
from shopsentinel.sources.kuaishou.signing import sign_params
from shopsentinel.sources.registry import build_source, secret_fields
from tests.sources.intl_helpers import ClockSleep, entities, read_pages

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 3, tzinfo=UTC)
NOW = END + timedelta(hours=1)
TZ = "Asia/Shanghai"


@dataclass
class World:
    clock: ManualClock
    dataset: Dataset
    app: Any
    url: str
    sleep: ClockSleep

    @property
    def sim(self) -> fake.KuaishouSim:
        sim: fake.KuaishouSim = self.app.state.sim
        return sim

    def config(self, **overrides: Any) -> KuaishouConfig:
        fields: dict[str, Any] = {"store": "ks-1", "app_key": "ks-app", "app_secret": "ks-secret",
                                  "sign_secret": "ks-sign-secret", "refresh_token": "ks-refresh-0",
                                  "base_url": self.url, "start": START, "page_size": 15}
        return KuaishouConfig(**{**fields, **overrides})

    def source(self, *, on_tokens: Any = None, **overrides: Any) -> KuaishouSource:
        return KuaishouSource(self.config(**overrides), clock=self.clock, sleep=self.sleep, on_tokens=on_tokens)


def serve(**options: Any) -> Iterator[World]:
    clock = ManualClock(NOW)
    dataset = make_dataset(13, TZ, START, END, 3)
    app = fake.create_app(dataset, clock=clock, **options)
    with serve_in_thread(app) as url:
        yield World(clock, dataset, app, url, ClockSleep(clock))


@pytest.fixture
def world() -> Iterator[World]:
    yield from serve()


def read(source: KuaishouSource, stream: str) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return entities(await read_pages(source, stream, {}, NOW))
        finally:
            await source.aclose()

    return asyncio.run(go())


def test_signing_matches_the_reference_vectors() -> None:
    params = {"access_token": "token", "appkey": "ks123", "method": "open.seller.order.list",
              "param": '{"title":"短袖"}', "timestamp": "1583271919000", "version": "1"}
    assert sign_params({**params, "signMethod": "MD5"}, "sign-secret") == "6005da269b372ff10945e565ef37a4c6"
    assert sign_params({**params, "signMethod": "HMAC_SHA256"}, "sign-secret") == "ZpPrG0oB1g/T93FyyVD+VCzRey41yqxZoCqcGg7upYM="


@pytest.mark.parametrize("sign_method", ["MD5", "HMAC_SHA256"])
def test_orders_are_read_across_pcursor_pages_with_states_money_and_times(world: World, sign_method: str) -> None:
    got = read(world.source(sign_method=sign_method), "orders")
    expected = visible(world.dataset, NOW).orders
    assert len(expected) > 45 and world.sim.calls.count("open.seller.order.pcursor.list") >= len(expected) // 15
    assert comparable(got) == comparable(expected)
    natives = {o.native_status for o in got}
    assert {"50/0", "70/0"} <= natives  # both 已完成 twins mapped


def test_refunds_are_read(world: World) -> None:
    got = read(world.source(), "refunds")
    assert sorted(got, key=repr) == sorted(visible(world.dataset, NOW).refunds, key=repr) and got


def test_a_missing_access_token_is_refreshed_and_rotated_tokens_are_handed_over(world: World) -> None:
    handed: list[Tokens] = []
    read(world.source(on_tokens=handed.append), "refunds")
    assert len(handed) == 1 and world.sim.calls[0] == "refresh_token"
    assert handed[0].refresh_token is not None
    assert handed[0].refresh_token.get_secret_value() in world.sim.tokens.refresh
    assert "ks-refresh-0" not in world.sim.tokens.refresh  # spent


def test_an_expired_access_token_is_refreshed_once_mid_sync(world: World) -> None:
    source = world.source()

    async def go() -> list[Any]:
        try:
            first = await source.client.call("open.seller.order.refund.pcursor.list",
                                             {"beginTime": 0, "endTime": 2**42, "queryType": 2, "pcursor": "", "pageSize": 5})
            world.sim.tokens.expire_all()
            second = await source.client.call("open.seller.order.refund.pcursor.list",
                                              {"beginTime": 0, "endTime": 2**42, "queryType": 2, "pcursor": "", "pageSize": 5})
            return [first, second]
        finally:
            await source.aclose()

    first, second = asyncio.run(go())
    assert first == second and source.client.refreshes == 2


@pytest.mark.parametrize(("field", "message"), [("sign_secret", "result 17 签名校验失败"),
                                                ("app_secret", "app_id或app_secret错误")])
def test_wrong_secrets_are_auth_errors(world: World, field: str, message: str) -> None:
    with pytest.raises(AuthError, match=message) as info:
        read(world.source(**{field: "wrong"}), "orders")
    assert "wrong" not in str(info.value)


def test_throttling_is_waited_out_on_the_manual_clock() -> None:
    for world in serve(calls_per_second=1.0, burst=2.0):
        got = read(world.source(), "orders")
        assert comparable(got) == comparable(visible(world.dataset, NOW).orders)
        assert world.sleep.waits and set(world.sleep.waits) == {1.0}


def test_a_dropped_connection_is_resent_but_a_dropped_token_refresh_is_not(world: World) -> None:
    world.app.state.drops.drop_next(2, after=1)  # after the token refresh
    assert comparable(read(world.source(), "orders")) == comparable(visible(world.dataset, NOW).orders)
    assert world.app.state.drops.dropped == 2
    world.app.state.drops.drop_next(1)
    with pytest.raises(Exception, match="kuaishou token refresh: RemoteProtocolError"):
        read(world.source(refresh_token=next(iter(world.sim.tokens.refresh))), "orders")


def test_an_unknown_status_is_a_platform_error_naming_it() -> None:
    record = {"orderBaseInfo": {"oid": 1, "status": 99, "refundStatus": 0, "createTime": 1, "updateTime": 1}}
    with pytest.raises(PlatformError, match="unknown order status 99 on order 1"):
        mapping.order(record)


def test_registered_with_rotating_tokens_and_secrets_marked() -> None:
    assert secret_fields(KuaishouConfig) == ["app_secret", "sign_secret", "refresh_token", "access_token"]
    config = KuaishouConfig(store="s", app_key="k", app_secret=SecretStr("a"), sign_secret=SecretStr("b"),
                            refresh_token=SecretStr("c"), start=START)
    source = build_source("kuaishou", config, clock=ManualClock(NOW), on_tokens=lambda tokens: None)
    assert isinstance(source, KuaishouSource) and source.streams() == ("orders", "refunds")
    asyncio.run(source.aclose())


async def engine_sync(world: World, db: SyncDB, record: StoreRecord) -> SyncReport:
    source = world.source()
    try:
        return await SyncEngine(db, clock=world.clock, sleep=world.sleep).sync_store(record, source)
    finally:
        await source.aclose()


def test_a_full_sync_through_the_engine_equals_the_ground_truth() -> None:
    for world in serve(calls_per_second=5.0, burst=5.0):
        record = StoreRecord("kuaishou", "ks-1", TZ, START, {})
        with SyncDB(":memory:") as db:
            report = asyncio.run(engine_sync(world, db, record))
            assert report.ok, report.error
            served = visible(world.dataset, report.until)
            end = hour_start(report.until, TZ) + HOUR
            truth = hourly_points([*served.orders, *served.refunds], platform="kuaishou", store="ks-1", tz=TZ,
                                  start=START, end=end, families={"orders", "refunds"})
            truth = with_zero_units(truth, hours_between(START, end, TZ))  # a SKU that sold nothing sold 0
            got = db.points("kuaishou", "ks-1")
        key = ["ts", "sku", "metric", "value"]
        assert set(got.select(key).iter_rows()) == set(truth.select(key).iter_rows())
        assert truth.filter(truth["metric"] == "orders")["value"].sum() > 100
        assert sum(s.throttle_wait_seconds for s in report.streams.values()) > 0
