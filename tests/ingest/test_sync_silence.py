"""Two healthy stores connected on the Tmall and JD fakes (issue 13, "a team's first week"): after
the platforms' data ends, hours pass with no sales and no price or stock change. The sync writes
those hours as zeros (counts) and lets snapshots hold, so nothing is "stopped reporting", the
stores are fresh at the live edge, and different stock on the two platforms is nobody's business
until a shared-stock group is declared: zero data alerts. A real sync failure still is one data
alert, resolved when the sync recovers; a declared group whose stock differs beyond its tolerance
for longer than its lag is one alert for the group (tests/ingest/test_sync_health.py has the
comparison itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from cryptography.fernet import Fernet

from shopsentinel.alerting.repository import list_alerts
from shopsentinel.core.secrets import SecretBox
from shopsentinel.core.settings import Settings
from shopsentinel.ingest.sync_state import StockGroup, StockMember, StoreRecord, SyncDB
from shopsentinel.runtime.service import Service, build_service
from shopsentinel.runtime.sync_runner import SyncRunner
from shopsentinel.sim.sync import START, SimEnv, latest_stock, running_sim
from shopsentinel.sources.registry import seal_config

INTERVAL = timedelta(minutes=5)


@dataclass
class Fleet:
    tmall: SimEnv
    jd: SimEnv
    service: Service
    runner: SyncRunner
    db: SyncDB

    def hours(self, n: int) -> None:
        """``n`` simulated hours, the service ticking (evaluate, then sync and notify) every 20 minutes."""
        for _ in range(3 * n):
            for env in (self.tmall, self.jd):
                env.clock.advance(timedelta(minutes=20))
            self.service.tick()

    def alerts(self, kind: str = "data") -> list[tuple[str, str, str, str, str]]:
        with self.service.sessions() as session:
            return sorted((r.platform, r.store, r.rule, r.sku, r.state) for r in list_alerts(session, limit=100_000)
                          if r.kind == kind)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with ExitStack() as stack:
        tmall = stack.enter_context(running_sim("tmall", store="tm-1"))
        jd = stack.enter_context(running_sim("jd", store="jd-1"))
        assert tmall.clock.now() == jd.clock.now()
        box = SecretBox(Fernet.generate_key())
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'state.db'}", sync_db=tmp_path / "sync.duckdb",
                            sync_interval_seconds=INTERVAL.total_seconds(), _env_file=None)  # type: ignore[call-arg]
        service = build_service(settings, clock=tmall.clock)
        db = SyncDB(service.points.engine)  # the sync tables of the service's own state database
        for env in (tmall, jd):
            db.put_store(StoreRecord(env.record.platform, env.record.store, env.record.timezone, START,
                                     seal_config(env.record.platform, env.config, box)))
        runner = SyncRunner(service, db, lambda: box, clock=tmall.clock, sleep=tmall.sleep, interval=INTERVAL)
        service.sync = runner
        try:
            yield Fleet(tmall, jd, service, runner, db)
        finally:
            db.close()
            service.close()


def test_two_healthy_stores_with_quiet_hours_raise_no_data_alert(fleet: Fleet) -> None:
    fleet.hours(8)
    assert fleet.alerts("data") == []
    tm_stock, jd_stock = latest_stock(fleet.tmall, fleet.tmall.clock.now()), latest_stock(fleet.jd, fleet.jd.clock.now())
    assert any(tm_stock[sku] != jd_stock[sku] for sku in tm_stock.keys() & jd_stock.keys())  # and they differ
    points = fleet.service.points.frame("tmall", "tm-1", fleet.tmall.clock.now() - timedelta(hours=6),
                                        fleet.tmall.clock.now() - timedelta(hours=1))
    quiet = points.filter(pl.col("metric").is_in(["orders", "units_sold"]))
    assert quiet.height > 0 and quiet["value"].max() == 0  # the quiet hours are zeros, not gaps
    assert quiet.filter(pl.col("metric") == "units_sold")["sku"].n_unique() >= 2
    for env in (fleet.tmall, fleet.jd):
        health = fleet.db.health(env.record.platform, env.record.store)
        assert health.consecutive_failures == 0 and health.synced_until is not None


def test_a_real_sync_failure_is_one_data_alert_and_recovery_resolves_it(fleet: Fleet) -> None:
    fleet.hours(1)
    credentials = fleet.tmall.app.state.credentials
    kept_access, kept_refresh = dict(credentials.access), set(credentials.refresh)
    credentials.access.clear()  # the seller revoked the app's authorization
    credentials.refresh.clear()
    fleet.hours(1)
    assert fleet.alerts("data") == [("tmall", "tm-1", "data.sync_failed", "", "firing")]
    credentials.access.update({token: fleet.tmall.clock.now() + timedelta(hours=12) for token in kept_access})
    credentials.refresh.update(kept_refresh)
    fleet.hours(1)
    assert fleet.alerts("data") == [("tmall", "tm-1", "data.sync_failed", "", "resolved")]


def test_a_declared_shared_stock_group_that_differs_is_one_alert_for_the_group(fleet: Fleet) -> None:
    fleet.hours(1)
    now = fleet.tmall.clock.now()
    tm_stock, jd_stock = latest_stock(fleet.tmall, now), latest_stock(fleet.jd, now)
    apart = sorted(sku for sku in tm_stock.keys() & jd_stock.keys() if abs(tm_stock[sku] - jd_stock[sku]) > 3)
    alike = sorted(sku for sku in tm_stock.keys() & jd_stock.keys() if abs(tm_stock[sku] - jd_stock[sku]) <= 3)
    assert apart
    for sku in apart[:1] + alike[:1]:
        fleet.db.put_stock_group(StockGroup(f"共享-{sku}", (StockMember("tmall", "tm-1", sku), StockMember("jd", "jd-1", sku)),
                                            tolerance=3, lag_hours=2))
    fleet.hours(3)
    sku = apart[0]
    assert fleet.alerts("data") == [("jd", "jd-1", "data.stock_sync_failed", sku, "firing")]
    with fleet.service.sessions() as session:
        [row] = [r for r in list_alerts(session) if r.rule == "data.stock_sync_failed"]
    assert f"共享库存组「共享-{sku}」" in row.message and "超过允许的 ±3 件" in row.message
    assert f"jd/jd-1/{sku}={jd_stock[sku]:g}" in row.message_en
    fleet.db.delete_stock_group(f"共享-{sku}")  # undeclared again: nothing to compare, the alert ends
    fleet.hours(1)
    assert fleet.alerts("data") == [("jd", "jd-1", "data.stock_sync_failed", sku, "resolved")]
