"""Contract tests of the Taobao/Tmall TOP connector against the fake TOP router over loopback HTTP."""

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
from shopsentinel.sim.platforms.taobao import NATIVE_TRADE_STATUS, create_app
from shopsentinel.sources.base import Order, StockSnapshot
from shopsentinel.sources.kit import TokenListener, Tokens
from shopsentinel.sources.taobao import Config, TaobaoConnector
from shopsentinel.sources.taobao.mapping import TRADE_STATUS_TO_STATE, order_state
from shopsentinel.sources.taobao.signing import sign_top, signed_request
from tests.sources.router_helpers import read_everything

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=2)
APP_KEY, SECRET = "12345678", "helloworld"


def dataset(seed: int = 1, per_hour: float = 3) -> Dataset:
    return make_dataset(seed, "Asia/Shanghai", START, END, per_hour)


@contextmanager
def fake(ds: Dataset | None = None, **options: Any) -> Iterator[FakeEnv]:
    with running_fake(
        create_app, "/router/rest", ds or dataset(), now=END + timedelta(hours=1), app_key=APP_KEY, app_secret=SECRET, **options
    ) as env:
        yield env


def config(env: FakeEnv, **overrides: Any) -> Config:
    settings: dict[str, Any] = dict(
        store="tb-1", app_key=APP_KEY, app_secret=SECRET, access_token="session-0", refresh_token="refresh-0",
        base_url=env.url, start=START, page_size=20, window_hours=12,
    )  # fmt: skip
    return Config(**{**settings, **overrides})


def connector(env: FakeEnv, on_tokens: TokenListener | None = None, **overrides: Any) -> TaobaoConnector:
    return TaobaoConnector(config(env, **overrides), clock=env.clock, sleep=env.sleep, on_tokens=on_tokens)


async def read_all(env: FakeEnv, stream: str, on_tokens: TokenListener | None = None, **overrides: Any) -> list[Any]:
    return await read_everything(connector(env, on_tokens, **overrides), stream, END)


# ---------------------------------------------------------------- signing


VECTOR = {
    "app_key": "12345678", "fields": "tid,status,payment", "format": "json", "method": "taobao.trades.sold.get",
    "page_no": "1", "page_size": "40", "session": "test", "timestamp": "2024-01-01 12:00:00", "v": "2.0",
}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("md5", "EAA54F88D511510A42CE6E99AB1B2A69"),
        ("hmac", "A6C862FABB0E09F46F721AA89A62751D"),
        ("hmac-sha256", "FB63B3753A84F34317F2B1B505BFC6D3E2B42551F929DB27575B7F474D258124"),
    ],
)
def test_taobao_sign_matches_reference_vectors(method: Any, expected: str) -> None:
    assert sign_top({**VECTOR, "sign_method": method}, "helloworld", method) == expected


def test_taobao_signed_request_uses_gmt8_timestamp_and_signs_sign_method() -> None:
    form = signed_request(
        "taobao.trades.sold.get", {"fields": "tid"}, app_key="k", secret="s", session="t",
        timestamp=datetime(2024, 1, 1, 4, 0, tzinfo=UTC), sign_method="hmac",
    )  # fmt: skip
    assert form["timestamp"] == "2024-01-01 12:00:00"
    assert form["sign"] == sign_top({k: v for k, v in form.items() if k != "sign"}, "s", "hmac")


# ---------------------------------------------------------------- reading


def test_taobao_orders_are_paged_across_several_pages() -> None:
    with fake() as env:
        orders = asyncio.run(read_all(env, "orders", page_size=10, window_hours=24, sign_method="hmac-sha256"))
        backfill_calls = env.methods().count("taobao.trades.sold.get")
    assert backfill_calls >= 2 * 4  # two daily windows of ≥ 4 pages each
    assert comparable(orders) == comparable(env.dataset.orders)


def test_taobao_full_read_stopped_midway_and_resumed_is_exact() -> None:
    async def scenario(env: FakeEnv, stream: str) -> list[Any]:
        source = connector(env, page_size=20 if stream == "orders" else 3, sign_method="hmac")
        first = await collect(source, stream, {}, END, stop_mid_window=True)  # the process "dies" mid-window
        assert "window" in first.cursor and len(first.pages) >= 2
        # orders resume at the stored page; refunds/reviews resume with another page size → window restart
        size = 20 if stream == "orders" else 7
        second = await collect(connector(env, page_size=size), stream, first.cursor, END)
        third = await collect(connector(env, page_size=size), stream, second.cursor, END + timedelta(minutes=30))
        assert third.entities == []  # the overlap re-read delivers nothing twice
        await source.aclose()
        return first.entities + second.entities

    with fake() as env:
        for stream, expected in (("orders", env.dataset.orders), ("refunds", env.dataset.refunds), ("reviews", env.dataset.reviews)):
            got = asyncio.run(scenario(env, stream))
            assert len(got) == len(expected), stream  # no duplicates, no gaps
            assert comparable(got) == comparable(expected), stream


@pytest.mark.parametrize(("overlap_minutes", "caught"), [(10.0, True), (0.0, False)])
def test_taobao_late_update_is_caught_by_the_overlap_window(overlap_minutes: float, caught: bool) -> None:
    ds = dataset()
    with fake(ds) as env:
        until = env.clock.now()
        first = asyncio.run(collect(connector(env, overlap_minutes=overlap_minutes), "orders", {}, until))
        shipped = next(o for o in ds.orders if o.status == "在途")
        # written at until-3min but only visible now: the platform's index lagged
        late = replace(shipped, status="已完成", updated_at=until - timedelta(minutes=3))
        ds.replace_order(late)
        env.clock.advance(timedelta(minutes=5))
        second = asyncio.run(collect(connector(env, overlap_minutes=overlap_minutes), "orders", first.cursor, env.clock.now()))
    assert "taobao.trades.sold.increment.get" in env.methods()
    assert ([o for o in second.entities if isinstance(o, Order) and o.order_id == late.order_id] == [
        replace(late, native_status="TRADE_FINISHED" if int(late.order_id) % 2 == 0 else "TRADE_BUYER_SIGNED")
    ]) is caught


def test_taobao_increment_pages_backwards_across_pages_and_misses_nothing() -> None:
    with fake() as env:
        cursor = {"since": START.isoformat(), "phase": "increment"}
        result = asyncio.run(collect(connector(env, page_size=10, overlap_minutes=0), "orders", cursor, END))
        pages = [int(p["page_no"]) for m, p in env.app.state.log.calls if m == "taobao.trades.sold.increment.get"]
    assert pages[:3] == [1, pages[1], pages[1] - 1] and max(pages) >= 3  # count, then last page backwards
    assert comparable(result.entities) == comparable(env.dataset.orders)


def test_taobao_throttled_calls_are_waited_out_with_the_injected_sleep() -> None:
    with fake(rate_limit=RateLimit(calls=3, per_seconds=1, ban_seconds=4)) as env:
        source = connector(env, page_size=10)
        result = asyncio.run(collect(source, "orders", {}, END))
    assert env.sleep.waits and all(w == 4.0 for w in env.sleep.waits)
    assert sum(p.throttle_wait_seconds for p in result.pages) == sum(env.sleep.waits)
    assert comparable(result.entities) == comparable(env.dataset.orders)


def test_taobao_expired_session_is_refreshed_and_new_tokens_are_handed_over() -> None:
    handed: list[Tokens] = []
    with fake(token_ttl=timedelta(hours=1)) as env:
        env.clock.advance(timedelta(hours=2))
        orders = asyncio.run(read_all(env, "reviews", on_tokens=handed.append))
    assert env.methods().count("taobao.top.auth.token.refresh") == 1
    assert [t.access_token.get_secret_value() for t in handed] == ["access-1"]
    assert len(orders) == len(env.dataset.reviews)


def test_taobao_expired_session_without_refresh_token_is_an_auth_error() -> None:
    with fake(token_ttl=timedelta(hours=1)) as env:
        env.clock.advance(timedelta(hours=2))
        with pytest.raises(AuthError, match=r"\[27\].*session-expired"):
            asyncio.run(read_all(env, "orders", refresh_token=None))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [({"app_secret": "wrong"}, "25"), ({"app_key": "999"}, "29"), ({"access_token": "stolen"}, "27")],
)
def test_taobao_fake_rejects_bad_credentials(overrides: dict[str, Any], code: str) -> None:
    with fake() as env, pytest.raises(AuthError, match=rf"\[{code}\]") as caught:
        asyncio.run(read_all(env, "orders", refresh_token=None, **overrides))
    assert "wrong" not in str(caught.value) and "stolen" not in str(caught.value)


def test_taobao_clock_skew_beyond_ten_minutes_is_rejected() -> None:
    async def call(env: FakeEnv) -> None:
        skewed = ManualClock(env.clock.now() - timedelta(minutes=11))  # the client's clock runs 11 min late
        source = TaobaoConnector(config(env), clock=skewed, sleep=env.sleep)
        try:
            await source.read("orders", {}, END)
        finally:
            await source.aclose()

    with fake() as env, pytest.raises(PlatformError, match=r"\[31\] taobao .*Invalid Timestamp"):
        asyncio.run(call(env))


def test_taobao_error_envelope_becomes_a_clear_platform_error() -> None:
    async def call(env: FakeEnv) -> None:
        source = connector(env)
        try:
            await source.client.call(
                "taobao.trades.sold.increment.get",
                {"fields": "tid", "start_modified": START, "end_modified": START + timedelta(days=2)},
            )
        finally:
            await source.aclose()

    with fake() as env, pytest.raises(PlatformError) as caught:
        asyncio.run(call(env))
    assert caught.value.code == "41"
    assert str(caught.value).startswith("[41] taobao taobao.trades.sold.increment.get: Invalid arguments")
    assert "within one day" in str(caught.value)


def test_taobao_fake_honours_field_projection() -> None:
    async def call(env: FakeEnv) -> dict[str, Any]:
        source = connector(env)
        body = await source.client.call(
            "taobao.trades.sold.get", {"fields": "tid,status", "start_created": START, "end_created": END, "type": "fixed"}
        )
        await source.aclose()
        return body

    with fake() as env:
        body = asyncio.run(call(env))
    assert body["trades"] and all(set(t) == {"tid", "status"} for t in body["trades"])


def test_taobao_stock_reports_latest_sku_quantities_and_only_changes_afterwards() -> None:
    ds = dataset()
    with fake(ds) as env:
        first = asyncio.run(collect(connector(env, page_size=2), "stock", {}, END))
        latest = {s.sku: s for s in sorted(ds.stock, key=lambda s: s.at)}
        assert sorted(first.entities, key=repr) == sorted(latest.values(), key=repr)
        changed = replace(latest["SKU-002"], at=END, quantity=1, price=9.99)
        ds.stock.append(changed)
        env.clock.set(END + timedelta(hours=2))
        second = asyncio.run(collect(connector(env, page_size=2), "stock", first.cursor, env.clock.now()))
    assert second.entities == [changed]
    assert all(isinstance(s, StockSnapshot) for s in first.entities)


# ---------------------------------------------------------------- mapping and config


def test_taobao_state_table_covers_every_native_state_the_fake_emits() -> None:
    for state, natives in NATIVE_TRADE_STATUS.items():
        for native in natives:
            assert native in TRADE_STATUS_TO_STATE
            refunds = ["WAIT_SELLER_AGREE"] if state == "退款中" else []
            assert order_state(native, refunds) == state
    assert set(TRADE_STATUS_TO_STATE.values()) <= set(ORDER_STATES)
    with pytest.raises(PlatformError, match="NEW_STATUS"):
        order_state("NEW_STATUS", [])


def test_taobao_read_orders_carry_every_standard_state() -> None:
    with fake(dataset(seed=3, per_hour=6)) as env:
        orders = asyncio.run(read_all(env, "orders"))
    assert {o.status for o in orders if isinstance(o, Order)} == set(ORDER_STATES)
    emitted = {o.native_status.split("+")[0] for o in orders if isinstance(o, Order)}
    assert emitted <= set(TRADE_STATUS_TO_STATE)


def test_taobao_secrets_never_appear_in_repr() -> None:
    config = Config(
        store="s", app_key="k", app_secret="top-secret", access_token="tok-secret", refresh_token="ref-secret",
        start=START,
    )  # fmt: skip
    tokens = Tokens(config.access_token, config.refresh_token)
    text = repr(config) + str(config) + config.model_dump_json() + repr(TaobaoConnector(config)) + repr(tokens)
    assert "secret" not in text.replace("app_secret", "")
    assert config.app_secret.get_secret_value() == "top-secret"
