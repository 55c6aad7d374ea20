"""``shopsentinel sim serve`` without the CLI loop: every fake answers its real, signing client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import ShopSentinelError
from shopsentinel.sim.platforms.dataset import visible
from shopsentinel.sim.platforms.harness import ClockSleep
from shopsentinel.sim.serve_all import ServedFake, describe, serving_all
from shopsentinel.sim.sync import SIM_STORES
from shopsentinel.sources.base import Order
from shopsentinel.sources.registry import build_source, entry

NOW = datetime(2026, 11, 4, 1, 30, tzinfo=UTC)
# The credential each platform's fake checks: a wrong value must be refused.
CHECKED_SECRET = {"shopify": "access_token", "amazon": "client_secret"}


async def read_order_ids(fake: ServedFake, clock: ManualClock, **overrides: str) -> set[str]:
    config = entry(fake.platform).config_model(**{**fake.config, **overrides}, store=f"serve-{fake.platform}")
    source = build_source(fake.platform, config, clock=clock, sleep=ClockSleep(clock))
    try:
        pages = await source.read("orders", {}, clock.now())
    finally:
        await source.aclose()
    return {e.order_id for page in pages for e in page.entities if isinstance(e, Order)}


def test_every_fake_serves_its_dataset_to_its_real_client_and_checks_credentials() -> None:
    clock = ManualClock(NOW)
    with serving_all(seed=3, days=1, per_hour=2.0, clock=clock) as fakes:
        assert sorted(f.platform for f in fakes) == sorted(SIM_STORES)
        assert len({f.root_url for f in fakes}) == len(fakes)
        for fake in fakes:
            assert fake.root_url.startswith("http://127.0.0.1:")
            assert fake.config["start"] == datetime(2026, 11, 3, 1, tzinfo=UTC)
            expected = {o.order_id for o in fake.spec.served(visible(fake.dataset, clock.now())).orders}
            got = asyncio.run(read_order_ids(fake, clock))
            assert expected, fake.platform
            assert got == expected, fake.platform
            secret = CHECKED_SECRET.get(fake.platform, "app_secret")
            with pytest.raises(ShopSentinelError):
                asyncio.run(read_order_ids(fake, clock, **{secret: "wrong-" + str(fake.config[secret])}))
        roots = [f.root_url for f in fakes]
    for root in roots:  # clean shutdown: nothing listens any more
        with pytest.raises(httpx.ConnectError):
            httpx.get(root, timeout=2.0)


def test_describe_prints_the_connector_fields_and_unknown_platforms_are_refused() -> None:
    clock = ManualClock(NOW)
    with serving_all(seed=1, days=1, per_hour=1.0, clock=clock, platforms=["pdd"]) as fakes:
        fields = dict(describe(fakes[0]))
        assert fields["app_key"] == "sim-app"
        assert fields["base_url"] == fakes[0].root_url + "/api/router"
        assert fields["start"] == "2026-11-03T01:00:00+00:00"
    with pytest.raises(KeyError, match="lazada"), serving_all(platforms=["lazada"]):
        pass
