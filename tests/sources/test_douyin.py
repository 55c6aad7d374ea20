"""Contract tests: the Douyin Shop connector against the fake Doudian gateway over loopback HTTP."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError, ThrottledError
from shopsentinel.core.types import ORDER_STATES
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset
from shopsentinel.sim.platforms.douyin import DouyinSim, create_app, native_order_status
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sources.base import Order
from shopsentinel.sources.douyin import mapping
from shopsentinel.sources.douyin.client import format_timestamp, raise_for_envelope
from shopsentinel.sources.douyin.connector import DouyinConfig, DouyinSource
from shopsentinel.sources.douyin.signing import param_json, sign_request
from tests.sources.intl_helpers import ClockSleep, entities, read_pages

pytestmark = pytest.mark.anyio
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 3, tzinfo=UTC)


@dataclass
class World:
    clock: ManualClock
    dataset: Dataset
    sim: DouyinSim
    url: str
    sleep: ClockSleep

    def source(self, **overrides: Any) -> DouyinSource:
        fields: dict[str, Any] = {"store": "dy-1", "app_key": "dy-app", "app_secret": SecretStr("dy-secret"),
                                  "shop_id": "4463798", "base_url": self.url, "start": START, "page_size": 10}
        return DouyinSource(DouyinConfig(**{**fields, **overrides}), clock=self.clock, sleep=self.sleep)


@pytest.fixture
def world() -> Iterator[World]:
    clock = ManualClock(END + timedelta(hours=1))
    dataset = make_dataset(21, "Asia/Shanghai", START, END, 3)
    app = create_app(dataset, clock=clock, calls_per_second=1.0, burst=1000)
    with serve_in_thread(app) as url:
        yield World(clock, dataset, app.state.sim, url, ClockSleep(clock))


def order_facts(order: Order) -> tuple[Any, ...]:
    return (order.order_id, order.status, order.amount, order.created_at, order.updated_at, order.paid_at,
            order.shipped_at, order.lines)


def test_douyin_signature_matches_published_vector() -> None:
    args = {"app_key": "appkey123", "method": "order.searchList", "param_json": '{"page":0,"size":100}',
            "timestamp": "1800000000"}
    assert sign_request("secret123", **args) == "a84d3597bbb7aaeb0540d1022623165c"
    assert sign_request("secret123", sign_method="hmac-sha256", **args) == (
        "8a5350b8fdacaa753c0885ab9859d382a31de4add09c6943c1d34298bd2165f1")


def test_douyin_param_json_is_sorted_compact_and_keeps_chinese() -> None:
    assert param_json({"size": 1, "b": {"z": 1, "a": "短袖&<>"}}) == '{"b":{"a":"短袖&<>","z":1},"size":1}'
    assert format_timestamp(datetime(2027, 1, 15, 8, tzinfo=UTC), "gmt8") == "2027-01-15 16:00:00"
    assert format_timestamp(datetime(2027, 1, 15, 8, tzinfo=UTC), "unix") == "1800000000"


@pytest.mark.parametrize("sign_method,timestamp_style", [("md5", "unix"), ("hmac-sha256", "gmt8")])
async def test_douyin_full_read_returns_exactly_the_dataset_over_several_pages(
    world: World, sign_method: str, timestamp_style: str
) -> None:
    source = world.source(sign_method=sign_method, timestamp_style=timestamp_style)
    orders = await source.read("orders", {}, END)
    refunds = await source.read("refunds", {}, END)
    stock = await source.read("stock", {}, END)
    await source.aclose()
    assert len(orders) > 5 and orders[-1].done
    got = [order_facts(o) for o in entities(orders)]
    assert sorted(got) == sorted(order_facts(o) for o in world.dataset.orders)
    assert len(got) == len({g[0] for g in got})
    assert sorted((r.refund_id, r.order_id, r.amount, r.status) for r in entities(refunds)) == sorted(
        (r.refund_id, r.order_id, r.amount, r.status) for r in world.dataset.refunds)
    latest = {s.sku: (s.quantity, s.price) for s in sorted(world.dataset.stock, key=lambda s: s.at)}
    assert {s.sku: (s.quantity, s.price) for s in entities(stock)} == latest
    assert world.sim.calls.count("/token/create") == 1


async def test_douyin_read_stopped_midway_resumes_without_gaps_or_duplicates(world: World) -> None:
    source = world.source()
    first = await read_pages(source, "orders", {}, END, stop_after=3)
    assert not first[-1].done
    rest = await read_pages(source, "orders", first[-1].cursor, END)
    await source.aclose()
    ids = [o.order_id for o in entities(first) + entities(rest)]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(o.order_id for o in world.dataset.orders)
    assert rest[-1].done and rest[-1].cursor["since"] == "2026-11-03T00:00:00Z"


@pytest.mark.parametrize("overlap_minutes,caught", [(10, True), (0, False)])
async def test_douyin_late_updated_order_is_caught_by_the_overlap_window(
    world: World, overlap_minutes: int, caught: bool
) -> None:
    source = world.source(overlap_minutes=overlap_minutes)
    late = world.dataset.orders[0]
    world.dataset.orders.remove(late)  # not yet visible at the first read
    done = (await source.read("orders", {}, END))[-1]
    late = replace(late, updated_at=END - timedelta(minutes=3))
    world.dataset.orders.append(late)
    world.clock.advance(timedelta(hours=1))
    again = entities(await source.read("orders", done.cursor, END + timedelta(hours=1)))
    await source.aclose()
    assert [o.order_id for o in again] == ([late.order_id] if caught else [])


async def test_douyin_throttle_envelope_is_waited_out_with_the_injected_sleep(world: World) -> None:
    world.sim.bucket.capacity = world.sim.bucket.available = 2  # then one call per second
    source = world.source()
    pages = await source.read("orders", {}, END)
    await source.aclose()
    calls = world.sim.calls.count("/order/searchList")
    throttled = calls - (len(pages) - 1)
    assert throttled == len(pages) - 1 - 2 > 0
    assert sum(p.throttle_wait_seconds for p in pages) == pytest.approx(throttled * 1.0)
    assert world.sleep.waits == [1.0] * throttled
    assert sorted(o.order_id for o in entities(pages)) == sorted(o.order_id for o in world.dataset.orders)


async def test_douyin_expired_token_is_refreshed(world: World) -> None:
    source = world.source()
    await source.read("refunds", {}, END)
    world.clock.advance(timedelta(days=7))  # past expires_in: refreshed before the call
    await source.read("refunds", {}, END)
    assert world.sim.calls.count("/token/refresh") == 1
    world.sim.tokens.expire_all()  # revoked early: 30002 envelope, refresh, retry
    again = await source.read("refunds", {}, END)
    await source.aclose()
    assert world.sim.calls.count("/token/refresh") == 2
    assert len(entities(again)) == len(world.dataset.refunds)


async def test_douyin_error_envelope_becomes_platform_error_with_code(world: World) -> None:
    world.sim.fail_next(50002, "业务处理失败", "isv.business-failed:1001", "订单不存在")
    source = world.source()
    with pytest.raises(PlatformError, match=r"\[50002\].*isv.business-failed:1001") as info:
        await source.read("orders", {}, END)
    await source.aclose()
    assert info.value.code == "50002"


async def test_douyin_wrong_secret_is_rejected_by_the_signature_check(world: World) -> None:
    source = world.source(app_secret=SecretStr("not-the-secret"))
    with pytest.raises(AuthError, match="code 40002.*isv.sign-invalid"):
        await source.read("orders", {}, END)
    await source.aclose()
    assert "not-the-secret" not in repr(source.config) and "not-the-secret" not in repr(source)


async def test_douyin_timestamp_outside_ten_minutes_is_rejected(world: World) -> None:
    skewed = ManualClock(world.clock.now() - timedelta(minutes=11))
    source = DouyinSource(world.source().config, clock=skewed, sleep=world.sleep)
    with pytest.raises(PlatformError, match="isv.timestamp-expired"):
        await source.read("orders", {}, END)
    await source.aclose()


async def test_douyin_state_table_covers_every_native_state_the_fake_emits(world: World) -> None:
    emitted = {native_order_status(replace(o, status=s, order_id=o.order_id + tail))
               for o in world.dataset.orders[:4] for s in ORDER_STATES for tail in ("0", "1")}
    assert {status for status, _ in emitted} == set(mapping.ORDER_STATUS)  # all seven documented codes
    assert {refund for _, refund in emitted} <= set(mapping.REFUND_STATUS)
    assert set(mapping.ORDER_STATUS.values()) | {s for s in mapping.REFUND_STATUS.values() if s} == set(ORDER_STATES)
    source = world.source()
    orders = entities(await source.read("orders", {}, END))
    await source.aclose()
    assert {o.status for o in orders} == set(ORDER_STATES)
    assert all(o.native_status.split("/")[0].isdigit() for o in orders)


async def test_douyin_access_token_and_sign_never_reach_the_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    source = world.source()
    await source.read("refunds", {}, END)
    await source.aclose()
    assert source.client.tokens is not None
    # masked by the connector's own filter (***) or, once installed, by the service-wide one ([redacted])
    assert re.search(r"access_token=(\*\*\*|\[redacted\])", caplog.text)
    assert re.search(r"[?&]sign=(\*\*\*|\[redacted\])", caplog.text)
    assert source.client.tokens.access_token not in caplog.text and "dy-secret" not in caplog.text


async def test_douyin_order_updated_while_paging_skips_no_other_order(world: World) -> None:
    source = world.source()
    got: list[Order] = []
    async for page in source.pages("orders", {}, END):
        got += page.entities  # type: ignore[arg-type]
        if len(got) == 10:  # after page 0 an early order changes and leaves the window
            moved = sorted(world.dataset.orders, key=lambda o: (o.updated_at, o.order_id))[2]
            world.dataset.replace_order(replace(moved, updated_at=END + timedelta(minutes=5)))
    await source.aclose()
    ids = [o.order_id for o in got]
    assert len(ids) == len(set(ids)) and set(ids) == {o.order_id for o in world.dataset.orders}


@pytest.mark.parametrize("code,error", [(30001, AuthError), (30005, AuthError), (40002, AuthError),
                                        (90000, ThrottledError), (50002, PlatformError), (40004, PlatformError)])
def test_douyin_envelope_codes_map_to_the_error_hierarchy(code: int, error: type[Exception]) -> None:
    envelope = {"code": code, "msg": "失败", "sub_code": "isv.x", "sub_msg": "detail", "data": None}
    with pytest.raises(error, match=f"code {code} 失败 \\(isv.x: detail\\)"):
        raise_for_envelope("order.searchList", envelope)
    assert raise_for_envelope("sku.list", {"code": 10000, "data": [{"id": 1}]}) == {"data": [{"id": 1}]}
