"""Contract tests: the generic HTTP/JSON source against the fake aggregator over loopback HTTP —
every pagination style, every auth, throttling, 5xx, drops, incremental cursors, mapping and
config errors that name the field."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from shopsentinel.cli.sources import stores_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError, ThrottledError
from shopsentinel.core.secrets import KEY_ENV, SecretBox
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.sim.platforms import generic as fake
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset, visible
from shopsentinel.sim.platforms.dataset_intl import make_traffic
from shopsentinel.sim.platforms.harness import comparable
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sources.base import Order
from shopsentinel.sources.generic import GenericConfig, GenericSource, MappingError
from shopsentinel.sources.kit.http import TrafficPoint
from shopsentinel.sources.registry import config_fields, open_config, seal_config, secret_fields
from tests.sources.intl_helpers import ClockSleep, entities, read_pages

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 3, tzinfo=UTC)
NOW = END + timedelta(hours=1)


@dataclass
class World:
    clock: ManualClock
    dataset: Dataset
    app: Any
    url: str
    sleep: ClockSleep

    @property
    def sim(self) -> fake.GenericSim:
        sim: fake.GenericSim = self.app.state.sim
        return sim

    def config(self, *, secret: str = "agg-secret", **overrides: Any) -> GenericConfig:
        auth = overrides.pop("auth", "hmac")
        raw = {**fake.aggregator_config(auth=auth, page_size=overrides.pop("page_size", 7),
                                        api_key_in=overrides.pop("api_key_in", "header")),
               "store": "agg-1", "base_url": self.url, "start": START, "app_secret": secret, **overrides}
        return GenericConfig(**raw)

    def source(self, **overrides: Any) -> GenericSource:
        return GenericSource(self.config(**overrides), clock=self.clock, sleep=self.sleep)




def serve(**options: Any) -> Iterator[World]:
    clock = ManualClock(NOW)
    dataset = make_dataset(5, "Asia/Shanghai", START, END, 3)
    app = fake.create_app(dataset, clock=clock, traffic=make_traffic(5, START, NOW), **options)
    with serve_in_thread(app) as url:
        yield World(clock, dataset, app, url, ClockSleep(clock))


@pytest.fixture
def world() -> Iterator[World]:
    yield from serve()


def read(source: GenericSource, stream: str, cursor: dict[str, Any] | None = None, until: datetime = NOW) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return entities(await read_pages(source, stream, cursor or {}, until))
        finally:
            await source.aclose()

    return asyncio.run(go())


def truth(world: World) -> Dataset:
    return visible(world.dataset, NOW)


# ---------------------------------------------------------------- paging


@pytest.mark.parametrize(("stream", "kind"), [("orders", "page"), ("refunds", "cursor"), ("reviews", "offset"),
                                              ("stock", "link")])
def test_each_pagination_style_reads_every_page_exactly_once(world: World, stream: str, kind: str) -> None:
    source = world.source(page_size=3)
    assert source.config.streams[[s.stream_name for s in source.config.streams].index(stream)].pagination.type == kind
    got = read(source, stream)
    expected = getattr(truth(world), stream)
    assert len(expected) > 3  # several pages, not one
    assert world.sim.calls.count(stream) >= -(-len(expected) // 3)
    if stream == "orders":
        assert comparable(got) == comparable(expected)
    else:
        assert sorted(got, key=repr) == sorted(expected, key=repr)


def test_orders_map_wall_clock_times_fen_lines_and_native_states(world: World) -> None:
    got = {o.order_id: o for o in read(world.source(), "orders")}
    for order in truth(world).orders:
        mine = got[order.order_id]
        assert isinstance(mine, Order)
        assert (mine.created_at, mine.updated_at, mine.paid_at, mine.shipped_at, mine.amount, mine.lines, mine.status) == (
            order.created_at, order.updated_at, order.paid_at, order.shipped_at, order.amount, order.lines, order.status)
        assert mine.native_status == fake.STATUS_FOR_STATE[order.status]


def test_metrics_stream_yields_canonical_points_with_percent_read_as_ratio(world: World) -> None:
    source = world.source()

    async def go() -> list[TrafficPoint]:
        try:
            pages = await read_pages(source, "traffic", {}, NOW)
        finally:
            await source.aclose()
        return [p for page in pages for p in getattr(page, "points", [])]

    points = asyncio.run(go())
    first = fake.render_traffic(world.sim.traffic[0])
    by_key = {(p.metric, p.hour): p.value for p in points}
    hour = world.sim.traffic[0].hour
    assert by_key[("uv", hour)] == first["stats"]["visitors"]
    assert by_key[("platform_conversion_rate", hour)] == pytest.approx(first["stats"]["cvr_pct"] / 100)
    assert len(points) == 3 * len([h for h in world.sim.traffic if h.hour <= NOW])


# ---------------------------------------------------------------- cursors


def test_a_second_run_from_the_cursor_returns_only_what_changed(world: World) -> None:
    source = world.source()

    async def first_run() -> dict[str, Any]:
        try:
            return (await read_pages(source, "orders", {}, NOW))[-1].cursor
        finally:
            await source.aclose()

    cursor = asyncio.run(first_run())
    assert cursor["since"] == "2026-11-03T01:00:00Z"
    world.clock.advance(timedelta(minutes=30))
    changed = replace(world.dataset.orders[0], status="已完成", updated_at=world.clock.now() - timedelta(minutes=5))
    world.dataset.replace_order(changed)
    again = read(world.source(), "orders", cursor, world.clock.now())
    assert [(o.order_id, o.status) for o in again] == [(changed.order_id, "已完成")]


# ---------------------------------------------------------------- throttling, 5xx, drops


def test_throttling_is_waited_out_with_retry_after_on_the_manual_clock() -> None:
    for world in serve(requests_per_second=1.0, burst=2.0):
        got = read(world.source(page_size=3), "orders")
        assert comparable(got) == comparable(truth(world).orders)
        assert world.sim.throttled > 0
        assert world.sleep.waits and all(w >= 1 for w in world.sleep.waits)  # Retry-After, never real sleeps


def test_client_side_pacing_keeps_under_the_limit_so_the_server_never_throttles() -> None:
    for world in serve(requests_per_second=2.0, burst=1.0):
        got = read(world.source(page_size=3, requests_per_second=2.0), "orders")
        assert comparable(got) == comparable(truth(world).orders)
        assert world.sim.throttled == 0
        assert world.sleep.waits and set(world.sleep.waits) == {0.5}


def test_throttling_beyond_the_retry_budget_is_a_throttled_error_for_the_engine(world: World) -> None:
    world.sim.fail_next(10, 429)
    with pytest.raises(ThrottledError, match=r"HTTP 429 \(throttled 3×\)") as info:
        read(world.source(max_retries=2), "orders")
    assert info.value.retry_after == 2.0 and world.sleep.waits == [2.0, 2.0]


def test_a_retry_after_longer_than_allowed_is_handed_to_the_engine_at_once() -> None:
    for world in serve(requests_per_second=0.01, burst=1.0):
        with pytest.raises(ThrottledError, match=r"throttled 1×") as info:
            read(world.source(page_size=3, max_retry_after_seconds=30), "orders")
        assert info.value.retry_after > 30 and world.sleep.waits == []


def test_server_errors_are_retried_with_backoff_then_reported_with_the_code(world: World) -> None:
    world.sim.fail_next(2, 503)
    assert comparable(read(world.source(), "orders")) == comparable(truth(world).orders)
    assert world.sleep.waits[:2] == [2.0, 2.0]  # the server's Retry-After
    world.sim.fail_next(10, 502)
    with pytest.raises(PlatformError, match=r"HTTP 502 after 3 attempts") as info:
        read(world.source(max_retries=2), "orders")
    assert info.value.code == "HTTP502"


def test_dropped_connections_are_resent(world: World) -> None:
    world.app.state.drops.drop_next(2)
    assert comparable(read(world.source(), "orders")) == comparable(truth(world).orders)
    assert world.app.state.drops.dropped == 2


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize(("auth", "api_key_in"), [("bearer", "header"), ("api_key", "header"), ("api_key", "query"),
                                                  ("hmac", "header")])
def test_each_auth_is_accepted_with_the_right_secret_and_refused_clearly_with_a_wrong_one(auth: str, api_key_in: str) -> None:
    for world in serve(auth=auth, secret="s3cret-value"):
        assert len(read(world.source(auth=auth, api_key_in=api_key_in, secret="s3cret-value"), "reviews")) > 0
        with pytest.raises(AuthError, match=rf"HTTP 401 — the API refused our credentials \(auth type '{auth}'\)") as info:
            read(world.source(auth=auth, api_key_in=api_key_in, secret="wrong-value"), "reviews")
        assert "wrong-value" not in str(info.value) and "s3cret-value" not in str(info.value)


def test_hmac_signature_covers_the_query_so_a_tampered_request_is_refused(world: World) -> None:
    source = world.source()
    client = source.client

    async def tampered() -> None:
        try:
            request = client._signed(source.http.build_request("GET", "/api/v1/reviews", params={"limit": "5"}))
            request.url = request.url.copy_set_param("limit", "6")
            response = await source.http.send(request)
            assert response.status_code == 401 and response.json()["error"] == "bad_signature"
        finally:
            await source.aclose()

    asyncio.run(tampered())


def test_an_api_key_in_the_query_never_reaches_the_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.sim.auth, world.sim.secret = "api_key", "query-secret-123"
    with caplog.at_level(logging.INFO, logger="httpx"):
        read(world.source(auth="api_key", api_key_in="query", secret="query-secret-123"), "reviews")
    assert caplog.records and not any("query-secret-123" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- mapping errors


def test_a_mapping_error_names_the_page_the_record_index_and_the_path(world: World) -> None:
    config = world.config()
    orders = config.streams[0].model_copy(update={"fields": {**config.streams[0].fields,
                                                           "amount": config.streams[0].fields["amount"].model_copy(
                                                               update={"path": "payment.amount_yuan"})}})
    source = GenericSource(config.model_copy(update={"streams": [orders]}), clock=world.clock, sleep=world.sleep)
    with pytest.raises(MappingError) as info:
        read(source, "orders")
    assert (info.value.page, info.value.index, info.value.path) == (1, 0, "payment.amount_yuan")
    assert "page 1, record 0: path 'payment.amount_yuan': not found (missing 'amount_yuan') for fields.amount" in str(info.value)


def test_an_unknown_native_state_is_a_mapping_error_naming_the_value(world: World) -> None:
    config = world.config()
    table = dict(config.streams[0].state_map)
    del table["FINISHED"]
    orders = config.streams[0].model_copy(update={"state_map": table})
    source = GenericSource(config.model_copy(update={"streams": [orders]}), clock=world.clock, sleep=world.sleep)
    with pytest.raises(MappingError, match=r"record \d+: path 'status': state 'FINISHED' is not in state_map"):
        read(source, "orders")


def test_a_wrong_records_path_is_reported_as_such(world: World) -> None:
    config = world.config()
    reviews = config.streams[2].model_copy(update={"records": "data.items"})
    source = GenericSource(config.model_copy(update={"streams": [reviews]}), clock=world.clock, sleep=world.sleep)
    with pytest.raises(MappingError, match=r"page 1, response: path 'data.items': records not found \(missing 'data'\)"):
        read(source, "reviews")


# ---------------------------------------------------------------- config


def base_raw(**changes: Any) -> dict[str, Any]:
    raw = {**fake.aggregator_config(), "store": "s", "base_url": "http://x", "start": "2026-11-01T00:00:00Z",
           "app_secret": "k"}
    raw.update(changes)
    return raw


def error_locations(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        GenericConfig(**raw)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in info.value.errors()]


def test_config_errors_name_the_field() -> None:
    streams = fake.aggregator_config()["streams"]
    no_amount = [{**streams[0], "fields": {k: v for k, v in streams[0]["fields"].items() if k != "amount"}}]
    assert "fields.amount is required" in error_locations(base_raw(streams=no_amount))[0][1]
    bad_state = [{**streams[0], "state_map": {"PAID": "paid"}}]
    loc, msg = error_locations(base_raw(streams=bad_state))[0]
    assert loc == "streams.0.state_map" and "state_map['PAID']: 'paid' is not a standard state" in msg
    bad_unit = [{**streams[0], "fields": {**streams[0]["fields"], "amount": {"path": "x", "unit": "li_to_yuan"}}}]
    assert error_locations(base_raw(streams=bad_unit))[0][0] == "streams.0.fields.amount.unit"
    assert error_locations(base_raw(auth={"type": "hmac"}))[0][0] == "auth.hmac.key_id"
    assert error_locations(base_raw(auth={"type": "oauth"}))[0][0] == "auth"
    assert "auth bearer needs 'app_secret'" in error_locations(base_raw(auth={"type": "bearer"}, app_secret=None))[0][1]
    assert error_locations(base_raw(streams=[{**streams[1], "time_zone": "Mars/Base"}]))[0][0] == "streams.0.time_zone"
    assert "start needs a time zone" in error_locations(base_raw(start="2026-11-01T00:00:00"))[0][1]
    twice = [streams[0], streams[0]]
    assert "two streams named 'orders'" in error_locations(base_raw(streams=twice))[0][1]


def test_config_accepts_yaml_shaped_shorthand_and_keeps_the_secret_out_of_repr() -> None:
    config = GenericConfig(**base_raw(app_secret="hunter2"))
    assert config.streams[2].fields["order_id"].path == "order.no"
    assert "hunter2" not in repr(config)
    assert secret_fields(GenericConfig) == ["app_secret"]
    assert [f["name"] for f in config_fields("generic") if f["secret"]] == ["app_secret"]


def test_the_secret_is_encrypted_at_rest_and_opens_again() -> None:
    box = SecretBox(Fernet.generate_key())
    config = GenericConfig(**base_raw(app_secret="hunter2"))
    sealed = seal_config("generic", config, box)
    assert "hunter2" not in str(sealed)
    opened = open_config("generic", sealed, box)
    assert isinstance(opened, GenericConfig) and opened.app_secret == SecretStr("hunter2")
    assert opened.streams == config.streams


def test_stores_add_takes_a_generic_config_file_and_reports_field_errors(tmp_path: Path) -> None:
    app = typer.Typer()
    app.add_typer(stores_app, name="stores")
    key = Fernet.generate_key().decode()
    raw = {**fake.aggregator_config(), "base_url": "http://127.0.0.1:9", "start": "2026-11-01T00:00:00Z",
           "app_secret": "agg-secret-77f1"}
    config_file = tmp_path / "agg.json"
    config_file.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    db = tmp_path / "state.db"  # the state database (revision 0015)
    args = ["stores", "add", "--platform", "generic", "--store", "agg-1", "--timezone", "Asia/Shanghai",
            "--database-url", f"sqlite:///{db}"]
    result = CliRunner().invoke(app, [*args, "--config-json", f"@{config_file}"], env={KEY_ENV: key})
    assert result.exit_code == 0, result.output
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("state.db*"))  # the file and its WAL
    assert "agg-secret-77f1" not in result.output and b"agg-secret-77f1" not in stored
    with SyncDB(db) as state:
        (record,) = state.stores()
    opened = open_config("generic", record.config, SecretBox(key.encode()))
    assert isinstance(opened, GenericConfig) and len(opened.streams) == 5
    raw["streams"][2]["fields"].pop("stars")
    config_file.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(app, [*args, "--config-json", f"@{config_file}"], env={KEY_ENV: key})
    assert result.exit_code == 2 and "streams.2: Value error, reviews stream '/api/v1/reviews': fields.stars is required" in result.output
    assert "agg-secret-77f1" not in result.output


def test_the_credentials_form_can_describe_and_submit_a_generic_config_as_text() -> None:
    fields = {f["name"]: f for f in config_fields("generic")}
    json.dumps(list(fields.values()))  # the form description is plain data
    assert fields["auth"]["default"] == '{"type": "none"}' and fields["app_secret"]["secret"]
    raw = fake.aggregator_config()
    form = {"store": "s", "base_url": "http://x", "start": "2026-11-01T00:00:00Z", "app_secret": "k",
            "auth": "type: hmac\nkey_id: agg-key\n", "streams": json.dumps(raw["streams"], ensure_ascii=False)}
    config = GenericConfig.model_validate(form)
    assert config.auth.type == "hmac" and len(config.streams) == 5
    with pytest.raises(ValidationError, match="streams: not valid YAML/JSON"):
        GenericConfig.model_validate({**form, "streams": "[{kind: orders"})
