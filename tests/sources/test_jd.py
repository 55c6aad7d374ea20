"""Contract tests of the JD JOS connector against the fake JOS router over loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError
from shopsentinel.core.types import ORDER_STATES
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset
from shopsentinel.sim.platforms.gateway import RateLimit
from shopsentinel.sim.platforms.harness import FakeEnv, collect, comparable, running_fake
from shopsentinel.sim.platforms.jd import NATIVE_ORDER_STATE, create_app
from shopsentinel.sources.base import Order
from shopsentinel.sources.jd import Config, JdConnector
from shopsentinel.sources.jd.client import check_api_result
from shopsentinel.sources.jd.mapping import ORDER_STATE_TO_STATE, order_state
from shopsentinel.sources.jd.signing import param_json, sign_jd, signed_request
from shopsentinel.sources.kit import TokenListener, Tokens
from tests.sources.router_helpers import read_everything

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=2)
APP_KEY, SECRET = "appkey", "appsecret"
NOT_CARRIED = ("shipped_at",)  # pop.order.search has no shipping time among the documented fields


def dataset(seed: int = 2, per_hour: float = 3) -> Dataset:
    return make_dataset(seed, "Asia/Shanghai", START, END, per_hour)


def served_orders(ds: Dataset) -> list[Order]:
    return [o for o in ds.orders if o.status != "待付款"]  # JD's order search has no unpaid state


@contextmanager
def fake(ds: Dataset | None = None, **options: Any) -> Iterator[FakeEnv]:
    with running_fake(
        create_app, "/routerjson", ds or dataset(), now=END + timedelta(hours=1), app_key=APP_KEY, app_secret=SECRET, **options
    ) as env:
        yield env


def config(env: FakeEnv, **overrides: Any) -> Config:
    settings: dict[str, Any] = dict(
        store="jd-1", app_key=APP_KEY, app_secret=SECRET, access_token="token-0", refresh_token="refresh-0",
        base_url=env.url, oauth_url=env.url.removesuffix("/routerjson") + "/oauth2", start=START,
        page_size=20, window_hours=12,
    )  # fmt: skip
    return Config(**{**settings, **overrides})


def connector(env: FakeEnv, on_tokens: TokenListener | None = None, **overrides: Any) -> JdConnector:
    return JdConnector(config(env, **overrides), clock=env.clock, sleep=env.sleep, on_tokens=on_tokens)


async def read_all(env: FakeEnv, stream: str, on_tokens: TokenListener | None = None, **overrides: Any) -> list[Any]:
    return await read_everything(connector(env, on_tokens, **overrides), stream, END)


def test_jd_sign_matches_reference_vector() -> None:
    business = {
        "end_date": "2024-01-01 12:00:00", "optional_fields": "orderId,orderState", "order_state": "WAIT_SELLER_STOCK_OUT",
        "page": "1", "page_size": "20", "start_date": "2023-12-31 12:00:00",
    }  # fmt: skip
    vector = {"access_token": "token", "app_key": "appkey", "method": "jingdong.pop.order.search",
              "timestamp": "2024-01-01 12:00:00", "v": "2.0", "360buy_param_json": param_json(business)}  # fmt: skip
    assert sign_jd(vector, "appsecret") == "8F3359EF039F06A98D82DE443CFE9EC3"
    form = signed_request("jingdong.pop.order.search", business, app_key="appkey", secret="appsecret",
                          access_token="token", timestamp=datetime(2024, 1, 1, 4, tzinfo=UTC))  # fmt: skip
    assert form["sign"] == "8F3359EF039F06A98D82DE443CFE9EC3"  # the client's own form, GMT+8 timestamp


def test_jd_orders_are_paged_across_several_pages() -> None:
    with fake() as env:
        orders = asyncio.run(read_all(env, "orders", page_size=5, window_hours=24))
        pages = [p for m, p in env.app.state.log.calls if m == "jingdong.pop.order.search"]
    assert len(pages) >= 2 * 5
    assert comparable(orders, clear=NOT_CARRIED) == comparable(served_orders(env.dataset), clear=NOT_CARRIED)


def test_jd_full_read_stopped_midway_and_resumed_is_exact() -> None:
    async def scenario(env: FakeEnv) -> list[Any]:
        first = await collect(connector(env), "orders", {}, END, stop_mid_window=True)
        assert "window" in first.cursor and len(first.pages) >= 2
        second = await collect(connector(env), "orders", first.cursor, END)
        third = await collect(connector(env), "orders", second.cursor, END + timedelta(minutes=30))
        assert third.entities == []
        return first.entities + second.entities

    with fake() as env:
        got = asyncio.run(scenario(env))
    expected = served_orders(env.dataset)
    assert len(got) == len(expected)
    assert comparable(got, clear=NOT_CARRIED) == comparable(expected, clear=NOT_CARRIED)


@pytest.mark.parametrize(("overlap_minutes", "caught"), [(10.0, True), (0.0, False)])
def test_jd_late_update_is_caught_by_the_overlap_window(overlap_minutes: float, caught: bool) -> None:
    ds = dataset()
    with fake(ds) as env:
        until = env.clock.now()
        first = asyncio.run(collect(connector(env, overlap_minutes=overlap_minutes), "orders", {}, until))
        late = replace(next(o for o in ds.orders if o.status == "在途"), status="退款中", updated_at=until - timedelta(minutes=4))
        ds.replace_order(late)
        env.clock.advance(timedelta(minutes=5))
        second = asyncio.run(collect(connector(env, overlap_minutes=overlap_minutes), "orders", first.cursor, env.clock.now()))
    found = [o for o in second.entities if isinstance(o, Order) and o.order_id == late.order_id]
    assert (found == [replace(late, shipped_at=None, native_status="LOCKED")]) is caught


def test_jd_throttled_calls_are_waited_out_with_the_injected_sleep() -> None:
    with fake(rate_limit=RateLimit(calls=2, per_seconds=1, ban_seconds=2)) as env:
        result = asyncio.run(collect(connector(env, page_size=10), "orders", {}, END))
    assert env.sleep.waits and set(env.sleep.waits) == {2.0}
    assert sum(p.throttle_wait_seconds for p in result.pages) == sum(env.sleep.waits)
    assert len(result.entities) == len(served_orders(env.dataset))


def test_jd_expired_token_is_refreshed_through_oauth() -> None:
    handed: list[Tokens] = []
    with fake(token_ttl=timedelta(hours=1)) as env:
        env.clock.advance(timedelta(hours=2))
        orders = asyncio.run(read_all(env, "orders", on_tokens=handed.append))
    assert env.methods().count("oauth2.refresh_token") == 1
    assert [t.access_token.get_secret_value() for t in handed] == ["access-1"]
    assert len(orders) == len(served_orders(env.dataset))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [({"app_secret": "wrong"}, "14"), ({"app_key": "other"}, "15"), ({"access_token": "stolen", "refresh_token": None}, "19")],
)
def test_jd_fake_rejects_bad_credentials(overrides: dict[str, Any], code: str) -> None:
    with fake() as env, pytest.raises(AuthError, match=rf"\[{code}\] jd jingdong.pop.order.search") as caught:
        asyncio.run(read_all(env, "orders", **overrides))
    assert "wrong" not in str(caught.value)


def test_jd_gateway_and_business_errors_become_clear_platform_errors() -> None:
    async def call(env: FakeEnv, params: dict[str, Any]) -> None:
        source = connector(env)
        try:
            body = await source.client.call("jingdong.pop.order.search", params)
            check_api_result("jingdong.pop.order.search", body["searchorderinfo_result"])
        finally:
            await source.aclose()

    window = {"start_date": START, "end_date": END, "order_state": "FINISHED_L", "page": 1}
    with fake() as env:
        with pytest.raises(PlatformError, match=r"^\[67\] jd jingdong.pop.order.search: page_size must be <= 50"):
            asyncio.run(call(env, {**window, "page_size": 80, "optional_fields": "orderId"}))
        with pytest.raises(PlatformError, match=r"^\[10100011\] jd .*optional_fields is required"):
            asyncio.run(call(env, {**window, "page_size": 10}))


def test_jd_fake_honours_optional_fields() -> None:
    async def call(env: FakeEnv) -> dict[str, Any]:
        source = connector(env)
        body = await source.client.call("jingdong.pop.order.search", {
            "start_date": START, "end_date": END, "order_state": "FINISHED_L", "optional_fields": "orderId,orderState",
            "page": 1, "page_size": 10})  # fmt: skip
        await source.aclose()
        return dict(body["searchorderinfo_result"])

    with fake() as env:
        result = asyncio.run(call(env))
    assert result["orderInfoList"] and all(set(o) == {"orderId", "orderState"} for o in result["orderInfoList"])


def test_jd_stock_reports_latest_sku_quantities_and_prices() -> None:
    with fake() as env:
        first = asyncio.run(collect(connector(env, page_size=4), "stock", {}, END))
        again = asyncio.run(collect(connector(env, page_size=4), "stock", first.cursor, END))
    latest = {s.sku: s for s in sorted(env.dataset.stock, key=lambda s: s.at)}
    assert sorted(first.entities, key=repr) == sorted(latest.values(), key=repr)
    assert again.entities == []


def test_jd_state_table_covers_every_native_state_the_fake_emits() -> None:
    for state, native in NATIVE_ORDER_STATE.items():
        assert native in ORDER_STATE_TO_STATE
        assert order_state(native, paid=state != "已取消") == state
    assert set(ORDER_STATE_TO_STATE.values()) <= set(ORDER_STATES)
    with fake(dataset(seed=5, per_hour=6)) as env:
        orders = asyncio.run(read_all(env, "orders"))
    assert {o.status for o in orders if isinstance(o, Order)} == set(ORDER_STATES) - {"待付款"}


def test_jd_clock_skew_beyond_the_window_is_rejected() -> None:
    async def call(env: FakeEnv) -> None:
        skewed = ManualClock(env.clock.now() - timedelta(minutes=7))  # the client's clock runs late
        source = JdConnector(config(env), clock=skewed, sleep=env.sleep)
        try:
            await source.read("orders", {}, END)
        finally:
            await source.aclose()

    with fake() as env, pytest.raises(PlatformError, match=r"^\[12\] jd jingdong.pop.order.search"):
        asyncio.run(call(env))


def test_jd_stock_write_sends_a_nested_request_and_refusals_are_errors() -> None:
    import json

    async def write(env: FakeEnv, sku_id: int, quantity: int) -> dict[str, Any]:
        source = connector(env)
        try:
            return await source.client.update_sku_stock(sku_id, quantity)
        finally:
            await source.aclose()

    with fake() as env:
        answer = asyncio.run(write(env, 1000, 7))
        assert answer == {"data": "1000", "success": True, "storeId": 0}
        [sent] = [p for m, p in env.app.state.log.calls if m == "jingdong.ware.stock.sku.set"]
        assert json.loads(sent["360buy_param_json"]) == {"req": {"skuStocks": [{"skuId": 1000, "stockNum": 7}]}}
        with pytest.raises(PlatformError, match=r"jd ware.stock.sku.set: sku or stockNum invalid"):
            asyncio.run(write(env, 99_999, 7))
