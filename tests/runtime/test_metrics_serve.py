"""Metrics an SRE can page on, against a real ``shopsentinel serve`` (issue 16, "Must show"): a
DingTalk robot that refuses every message (errcode 300001) and a registered Taobao store whose
platform fake has revoked the app's authorization. A traffic crash is routed to the robot; the
scrape then shows the failed sends of that channel with their reason, and the sync failures and lag
of that store per stream — and every metric the sample rule file uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shopsentinel.core.secrets import SecretBox
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.sim.channels import FakeDingTalk, run_fake_server
from shopsentinel.sim.sync import START, SimEnv, running_sim
from shopsentinel.sources.registry import seal_config
from tests.runtime.test_fault_delivery import ROBOT_SECRET, ROBOT_TOKEN, add_robot
from tests.runtime.test_metrics_rules import missing_from
from tests.support.processes import (
    Server,
    post_crashes,
    route_everything_at_once,
    serve,
    service_env,
    wait_for,
)

STORE = "tb-lagging"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def refusing_robot() -> Iterator[tuple[FakeDingTalk, str]]:
    fake = FakeDingTalk({ROBOT_TOKEN: ROBOT_SECRET})
    fake.faults.reject_credentials = True  # HTTP 200, errcode 300001 "token is not exist"
    with run_fake_server(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
def revoked_taobao() -> Iterator[SimEnv]:
    with running_sim("taobao", store=STORE) as env:
        credentials = env.app.state.credentials
        credentials.access.clear()  # the seller revoked the app's authorization
        credentials.refresh.clear()
        yield env


def scrape(server: Server) -> tuple[str, Samples]:
    text = server.client.get("/metrics").text
    return text, {(s.name, frozenset(s.labels.items())): s.value
                  for family in text_string_to_metric_families(text) for s in family.samples}


def store_series(samples: Samples, name: str) -> dict[str, float]:
    """``name``'s samples of the lagging store, by stream."""
    out = {}
    for (sample_name, labels), value in samples.items():
        label = dict(labels)
        if sample_name == name and label.get("platform") == "taobao" and label.get("store") == STORE:
            out[label["stream"]] = value
    return out


def test_a_failing_channel_and_a_lagging_store_show_in_a_real_scrape(
        tmp_path: Path, refusing_robot: tuple[FakeDingTalk, str], revoked_taobao: SimEnv) -> None:
    fake, robot_url = refusing_robot
    env = service_env(tmp_path, SHOPSENTINEL_SYNC_DB=str(tmp_path / "sync.duckdb"))
    box = SecretBox(env["SHOPSENTINEL_SECRET_KEY"].encode())  # the service's own key opens the store's config
    with SyncDB(env["SHOPSENTINEL_DATABASE_URL"]) as sync_db:  # the state database serve uses
        sync_db.put_store(StoreRecord("taobao", STORE, revoked_taobao.record.timezone, START,
                                      seal_config("taobao", revoked_taobao.config, box)))

    with ExitStack() as stack:
        server = serve(stack, tmp_path, env, "metrics")
        add_robot(server, robot_url)
        route_everything_at_once(server)
        post_crashes(server, ["tm-metrics-1"])

        def paged() -> tuple[str, Samples] | None:
            text, samples = scrape(server)
            failed = samples.get(("shopsentinel_notifications_failed_total",
                                  frozenset({("channel", "robot"), ("reason", "rejected")})), 0)
            return (text, samples) if failed > 0 and store_series(samples, "shopsentinel_sync_failures_total") else None

        text, samples = wait_for("the robot's failures and the store's sync failures in /metrics", paged, timeout=90)

        assert fake.requests_seen >= 1 and fake.received == []  # the robot answered, and refused
        assert samples.get(("shopsentinel_notifications_sent_total", frozenset({("channel", "robot")}))) is None
        failures = store_series(samples, "shopsentinel_sync_failures_total")
        lag = store_series(samples, "shopsentinel_sync_lag_seconds")
        assert failures and all(v >= 1 for v in failures.values()), failures
        assert set(failures) <= set(lag), (failures, lag)
        # never synced: the lag runs from the store's start (START, weeks before now)
        assert all(lag[stream] > 86_400 for stream in failures), lag
        assert samples[("shopsentinel_alerts_firing", frozenset({("severity", "critical")}))] >= 1
        assert samples[("shopsentinel_ticks_total", frozenset())] >= 1
        assert samples[("shopsentinel_ready", frozenset({("check", "scheduler")}))] == 1
        assert missing_from(text) == {}  # the sample rule file matches what a real service exposes

        assert server.client.get("/livez").json() == {"status": "alive"}
        ready = server.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "scheduler": "ok"}
