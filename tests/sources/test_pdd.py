"""Contract tests of the Pinduoduo connector against the fake PDD router over loopback HTTP."""

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
from shopsentinel.sim.platforms.pdd import NATIVE_ORDER_STATUS, create_app
from shopsentinel.sources.base import Order, StockSnapshot
from shopsentinel.sources.kit import TokenListener, Tokens
from shopsentinel.sources.pdd import Config, PddConnector
from shopsentinel.sources.pdd.mapping import ORDER_STATUS_TO_STATE, REFUND_STATUS_TO_STATE, order_state
from shopsentinel.sources.pdd.signing import sign_pdd, signed_request
from tests.sources.router_helpers import read_everything

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=2)
CLIENT_ID, SECRET = "cid", "csecret"


def dataset(seed: int = 4, per_hour: float = 3) -> Dataset:
    return make_dataset(seed, "Asia/Shanghai", START, END, per_hour)


def served_orders(ds: Dataset) -> list[Order]:
    return [o for o in ds.orders if o.paid_at is not None]  # PDD lists confirmed (paid) orders only


@contextmanager
def fake(ds: Dataset | None = None, **options: Any) -> Iterator[FakeEnv]:
    with running_fake(
        create_app, "/api/router", ds or dataset(), now=END + timedelta(hours=1), app_key=CLIENT_ID, app_secret=SECRET, **options
    ) as env:
        yield env


def config(env: FakeEnv, **overrides: Any) -> Config:
    settings: dict[str, Any] = dict(
        store="pdd-1", app_key=CLIENT_ID, app_secret=SECRET, access_token="token-0", refresh_token="refresh-0",
        base_url=env.url, start=START, page_size=20, window_hours=12,
    )  # fmt: skip
    return Config(**{**settings, **overrides})


def connector(env: FakeEnv, on_tokens: TokenListener | None = None, **overrides: Any) -> PddConnector:
    return PddConnector(config(env, **overrides), clock=env.clock, sleep=env.sleep, on_tokens=on_tokens)


async def read_all(env: FakeEnv, stream: str, on_tokens: TokenListener | None = None, **overrides: Any) -> list[Any]:
    return await read_everything(connector(env, on_tokens, **overrides), stream, END)


def test_pdd_sign_matches_reference_vector() -> None:
    business = {"end_confirm_at": "1700000000", "order_status": "5", "page": "1", "page_size": "100",
                "refund_status": "5", "start_confirm_at": "1699913600"}  # fmt: skip
    vector = {"access_token": "tok", "client_id": "cid", "data_type": "JSON", "timestamp": "1700000000",
              "type": "pdd.order.list.get", **business}  # fmt: skip
    assert sign_pdd(vector, "csecret") == "FEADAC7FC9D301EB1554D0FE83B16965"
    form = signed_request("pdd.order.list.get", business, client_id="cid", client_secret="csecret", access_token="tok",
                          timestamp=datetime.fromtimestamp(1700000000, UTC))  # fmt: skip
    assert form["timestamp"] == "1700000000" and form["sign"] == "FEADAC7FC9D301EB1554D0FE83B16965"


def test_pdd_orders_are_paged_across_several_pages() -> None:
    with fake() as env:
        orders = asyncio.run(read_all(env, "orders", page_size=5, window_hours=24))
        calls = env.methods().count("pdd.order.list.get")
    assert calls >= 2 * 5
    assert comparable(orders) == comparable(served_orders(env.dataset))


def test_pdd_full_read_stopped_midway_and_resumed_is_exact() -> None:
    async def scenario(env: FakeEnv, stream: str) -> list[Any]:
        size = 10 if stream == "orders" else 1
        first = await collect(connector(env, page_size=size), stream, {}, END, stop_mid_window=True)
        assert "window" in first.cursor and len(first.pages) >= 2
        second = await collect(connector(env, page_size=size), stream, first.cursor, END)
        third = await collect(connector(env, page_size=size), stream, second.cursor, END + timedelta(minutes=30))
        assert third.entities == []
        return first.entities + second.entities

    with fake() as env:
        for stream, expected in (("orders", served_orders(env.dataset)), ("refunds", env.dataset.refunds)):
            got = asyncio.run(scenario(env, stream))
            assert len(got) == len(expected), stream
            assert comparable(got) == comparable(expected), stream


def test_pdd_refund_windows_stay_within_thirty_minutes() -> None:
    with fake() as env:
        asyncio.run(read_all(env, "refunds"))
        spans = [int(p["end_updated_at"]) - int(p["start_updated_at"])
                 for t, p in env.app.state.log.calls if t == "pdd.refund.list.increment.get"]  # fmt: skip
    assert spans and max(spans) == 30 * 60


@pytest.mark.parametrize(("overlap_minutes", "caught"), [(10.0, True), (0.0, False)])
def test_pdd_late_update_is_caught_by_the_overlap_window(overlap_minutes: float, caught: bool) -> None:
    ds = dataset()
    with fake(ds) as env:
        until = env.clock.now()
        first = asyncio.run(collect(connector(env, overlap_minutes=overlap_minutes), "orders", {}, until))
        late = replace(next(o for o in ds.orders if o.status == "待发货"), status="已退款", updated_at=until - timedelta(minutes=2))
        ds.replace_order(late)
        env.clock.advance(timedelta(minutes=5))
        second = asyncio.run(collect(connector(env, overlap_minutes=overlap_minutes), "orders", first.cursor, env.clock.now()))
    assert "pdd.order.number.list.increment.get" in env.methods()
    found = [o for o in second.entities if isinstance(o, Order) and o.order_id == late.order_id]
    assert (found == [replace(late, native_status="order_status=1,refund_status=4")]) is caught


def test_pdd_throttled_calls_are_waited_out_with_the_injected_sleep() -> None:
    with fake(rate_limit=RateLimit(calls=3, per_seconds=1, ban_seconds=2)) as env:
        result = asyncio.run(collect(connector(env, page_size=10), "orders", {}, END))
    assert env.sleep.waits and set(env.sleep.waits) == {1.0}  # PDD names no wait: the configured backoff
    assert sum(p.throttle_wait_seconds for p in result.pages) == sum(env.sleep.waits)
    assert comparable(result.entities) == comparable(served_orders(env.dataset))


def test_pdd_expired_token_is_refreshed() -> None:
    handed: list[Tokens] = []
    with fake(token_ttl=timedelta(hours=1)) as env:
        env.clock.advance(timedelta(hours=2))
        orders = asyncio.run(read_all(env, "orders", on_tokens=handed.append))
    assert env.methods().count("pdd.pop.auth.token.refresh") == 1
    assert [t.access_token.get_secret_value() for t in handed] == ["access-1"]
    assert len(orders) == len(served_orders(env.dataset))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [({"app_secret": "wrong"}, "10017"), ({"app_key": "nobody"}, "10016"), ({"access_token": "stolen"}, "10018")],
)
def test_pdd_fake_rejects_bad_credentials(overrides: dict[str, Any], code: str) -> None:
    with fake() as env, pytest.raises(AuthError, match=rf"\[{code}\] pdd pdd.order.list.get") as caught:
        asyncio.run(read_all(env, "orders", **overrides))
    assert "wrong" not in str(caught.value)


def test_pdd_error_envelope_becomes_a_clear_platform_error() -> None:
    async def call(env: FakeEnv) -> None:
        source = connector(env)
        try:
            await source.client.call("pdd.order.list.get", {"start_confirm_at": int(START.timestamp()),
                                                            "end_confirm_at": int(END.timestamp()), "page": 1})  # fmt: skip
        finally:
            await source.aclose()

    with fake() as env, pytest.raises(PlatformError) as caught:
        asyncio.run(call(env))
    assert caught.value.code == "10000"
    assert str(caught.value).startswith("[10000] pdd pdd.order.list.get: 参数错误")
    assert "1440 minutes" in str(caught.value)


def test_pdd_stock_reports_sku_quantities_and_then_only_changes() -> None:
    ds = dataset()
    with fake(ds) as env:
        first = asyncio.run(collect(connector(env, page_size=2), "stock", {}, END))
        latest = {s.sku: s.quantity for s in sorted(ds.stock, key=lambda s: s.at)}
        assert {s.sku: s.quantity for s in first.entities if isinstance(s, StockSnapshot)} == latest
        assert len(first.entities) == len(latest)
        ds.stock.append(StockSnapshot("SKU-003", END, 2, None))
        env.clock.set(END + timedelta(hours=2))
        second = asyncio.run(collect(connector(env, page_size=2), "stock", first.cursor, END + timedelta(hours=2)))
    assert second.entities == [StockSnapshot("SKU-003", END + timedelta(hours=2), 2, None)]


def test_pdd_state_tables_cover_every_native_state_the_fake_emits() -> None:
    for state, pairs in NATIVE_ORDER_STATUS.items():
        for order_status, refund_status in pairs:
            assert order_status in ORDER_STATUS_TO_STATE and refund_status in REFUND_STATUS_TO_STATE
            assert order_state(order_status, refund_status) == state
    assert {s for s in [*ORDER_STATUS_TO_STATE.values(), *REFUND_STATUS_TO_STATE.values()] if s} <= set(ORDER_STATES)
    with pytest.raises(PlatformError, match="order_status=9"):
        order_state(9, 1)
    with fake(dataset(seed=6, per_hour=6)) as env:
        orders = asyncio.run(read_all(env, "orders"))
    assert {o.status for o in orders if isinstance(o, Order)} == set(ORDER_STATES) - {"待付款", "已取消"}


def test_pdd_clock_skew_beyond_the_window_is_rejected() -> None:
    async def call(env: FakeEnv) -> None:
        skewed = ManualClock(env.clock.now() - timedelta(minutes=11))  # the client's clock runs late
        source = PddConnector(config(env), clock=skewed, sleep=env.sleep)
        try:
            await source.read("orders", {}, END)
        finally:
            await source.aclose()

    with fake() as env, pytest.raises(PlatformError, match=r"^\[10020\] pdd pdd.order.list.get"):
        asyncio.run(call(env))
