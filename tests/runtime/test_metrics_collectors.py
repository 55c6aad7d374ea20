"""The service's own Prometheus metrics on SQLite and PostgreSQL: the scrape-time collectors (alerts
by state and severity, outbox depth and oldest pending age per channel), the delivery observer's
sent / failed counters by channel and bounded reason (against the DingTalk fake), sync lag and
failures per store and stream, HTTP latency by route template, admission refusals, and the
``/livez`` / ``/readyz`` probes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from shopsentinel.alerting.manager import AlertManager
from shopsentinel.api.admission import Admission
from shopsentinel.app import create_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.secrets import SecretKeyError
from shopsentinel.core.settings import Settings
from shopsentinel.core.types import Severity
from shopsentinel.ingest.sync import StreamReport, SyncReport
from shopsentinel.notify import Notification
from shopsentinel.notify.delivery import FAILURE_REASONS, failure_reason
from shopsentinel.runtime.metrics import ServiceMetrics, SyncMetrics
from shopsentinel.store.state import OutboxRow
from tests.api.test_health import Hop
from tests.support.service import ADMIN_TOKEN, PG_HOST, START, Api

TOKEN, SECRET = "metrics-robot-token", "SECmetrics-robot-secret-01"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: Api) -> Samples:
    """Every sample of ``/metrics``, parsed by prometheus-client's own parser."""
    response = api.as_token("").get("/metrics")  # no token: monitoring scrapes anonymously
    assert response.status_code == 200, response.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def add_robot(api: Api, base_url: str) -> None:
    response = api.put("/api/v1/channels", json={
        "name": "robot", "kind": "dingtalk", "medium": "im",
        "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "markdown"},
    })  # fmt: skip
    assert response.status_code == 200, response.text


def enqueue(api: Api, key: str, channel: str = "robot") -> None:
    now = api.service.clock.now()
    note = Notification(key=key, title=f"告警 {key}", severity="warning", alerts=[
        {"id": key, "ts": "2026-11-10T00:00:00Z", "state": "firing", "platform": "tmall", "store": "tm-1",
         "metric": "uv", "rule": "traffic.crash", "severity": "warning", "kind": "business", "value": 1.0}])
    with api.service.sessions() as session:
        session.add(OutboxRow(key=key, alert_id=key, payload=note.model_dump(mode="json"), muted=False, created_at=now,
                              status="pending", attempts=0, last_error="", channel=channel))
        session.commit()


def fire(api: Api, store: str, severity: Severity) -> None:
    event = AlertEvent(rule="traffic.crash", severity=severity, kind="business", category="traffic", platform="tmall",
                       store=store, sku="", metric="uv", start=api.service.clock.now(), end=None,
                       message="流量骤降", message_en="traffic crash")
    with api.service.sessions() as session:
        AlertManager().reconcile(session, "tmall", store, [event], now=api.service.clock.now(), create_from=EPOCH)
        session.commit()


# ------------------------------------------------------------ scrape-time collectors


def test_alerts_and_outbox_are_read_from_the_state_database_at_scrape_time(api: Api, clock: ManualClock) -> None:
    before = scrape(api)
    assert sample(before, "shopsentinel_alerts_firing", severity="critical") == 0
    assert sample(before, "shopsentinel_outbox_depth", channel="inbox") == 0
    assert sample(before, "shopsentinel_outbox_oldest_pending_age_seconds", channel="inbox") == 0

    fire(api, "tm-1", Severity.CRITICAL)
    fire(api, "tm-2", Severity.CRITICAL)
    fire(api, "tm-3", Severity.WARNING)
    enqueue(api, "old-1", channel="robot")
    enqueue(api, "old-2", channel="robot")
    clock.advance(timedelta(seconds=90))
    enqueue(api, "new-1", channel="robot")
    enqueue(api, "inbox-1", channel="")
    clock.advance(timedelta(seconds=30))

    after = scrape(api)
    assert sample(after, "shopsentinel_alerts", state="firing") == 3
    assert sample(after, "shopsentinel_alerts_firing", severity="critical") == 2
    assert sample(after, "shopsentinel_alerts_firing", severity="warning") == 1
    assert sample(after, "shopsentinel_alerts_firing", severity="fatal") == 0
    assert sample(after, "shopsentinel_outbox_depth", channel="robot") == 3
    assert sample(after, "shopsentinel_outbox_oldest_pending_age_seconds", channel="robot") == 120
    assert sample(after, "shopsentinel_outbox_depth", channel="inbox") == 1
    assert sample(after, "shopsentinel_outbox_oldest_pending_age_seconds", channel="inbox") == 30


@pytest.mark.usefixtures("secret_key")
def test_sends_and_failures_are_counted_by_channel_and_bounded_reason(
        api: Api, clock: ManualClock, robot: tuple[Any, str]) -> None:
    fake, base_url = robot
    add_robot(api, base_url)
    assert sample(scrape(api), "shopsentinel_outbox_depth", channel="robot") == 0  # a configured channel: a series at 0

    fake.faults.reject_credentials = True  # errcode 300001: permanent
    enqueue(api, "m-1")
    api.service.tick()
    fake.faults.reject_credentials = False
    fake.faults.status = 500  # recoverable: kept and retried
    enqueue(api, "m-2")
    api.service.tick()
    samples = scrape(api)
    assert sample(samples, "shopsentinel_notifications_failed_total", channel="robot", reason="rejected") == 1
    assert sample(samples, "shopsentinel_notifications_failed_total", channel="robot", reason="http_5xx") == 1
    assert sample(samples, "shopsentinel_notifications_sent_total", channel="robot") is None
    assert sample(samples, "shopsentinel_outbox_depth", channel="robot") == 1  # m-2 waits for its retry

    fake.faults.status = None
    clock.advance(timedelta(hours=1))  # past the back-off
    api.service.tick()
    samples = scrape(api)
    assert sample(samples, "shopsentinel_notifications_sent_total", channel="robot") == 1
    assert sample(samples, "shopsentinel_notifications_failed_total", channel="robot", reason="http_5xx") == 1
    assert sample(samples, "shopsentinel_outbox_depth", channel="robot") == 0
    assert len(fake.received) == 1


@pytest.mark.parametrize(("error", "reason"), [
    (RecoverableDeliveryError("robot: timed out (ReadTimeout)"), "timeout"),
    (RecoverableDeliveryError("robot: transport error (ConnectError)"), "transport"),
    (RecoverableDeliveryError("robot: HTTP 503", retry_after=5.0), "throttled"),
    (RecoverableDeliveryError("robot: HTTP 429"), "throttled"),
    (RecoverableDeliveryError("robot: errcode 130101 send too fast", retry_after=600.0), "throttled"),
    (RecoverableDeliveryError("robot: HTTP 502"), "http_5xx"),
    (PermanentDeliveryError("hook: HTTP 404: not found"), "http_4xx"),
    (PermanentDeliveryError("robot: errcode 310000 sign not match"), "rejected"),
    (SecretKeyError("wrong key"), "secret_key"),
    (RuntimeError("HTTP 500 inside a bug"), "error"),
])  # fmt: skip
def test_failure_reason_is_a_short_label_never_the_error_text(error: Exception, reason: str) -> None:
    assert failure_reason(error) == reason
    assert reason in FAILURE_REASONS


# ------------------------------------------------------------ sync lag and failures


def report(until: datetime, streams: dict[str, str | None], *, recomputed: bool = True, error: str | None = None) -> SyncReport:
    results = {name: StreamReport(name, error=problem) for name, problem in streams.items()}
    failed = error or ("; ".join(f"{n}: {p}" for n, p in streams.items() if p) or None)
    return SyncReport("taobao", "tb-1", until, ok=failed is None, error=failed, streams=results,
                      recomputed_from=until - timedelta(hours=1) if recomputed else None)


def test_sync_lag_counts_from_each_streams_last_successful_window_and_failures_per_stream() -> None:
    clock = ManualClock(START)
    registry = CollectorRegistry()
    sync = SyncMetrics(clock, registry)

    def lag(stream: str) -> float | None:
        return registry.get_sample_value("shopsentinel_sync_lag_seconds",
                                         {"platform": "taobao", "store": "tb-1", "stream": stream})

    def failures(stream: str) -> float | None:
        return registry.get_sample_value("shopsentinel_sync_failures_total",
                                         {"platform": "taobao", "store": "tb-1", "stream": stream})

    sync.seed("taobao", "tb-1", ["orders"], START - timedelta(hours=2))  # what the sync state said at start
    assert lag("orders") == 2 * 3600
    sync.synced(report(START, {"orders": None, "refunds": None}), START - timedelta(hours=2))
    assert lag("orders") == 0 and lag("refunds") == 0

    clock.advance(timedelta(minutes=10))
    sync.synced(report(clock.now(), {"orders": None, "refunds": "AuthError: invalid session"}), START)
    assert lag("orders") == 0
    assert lag("refunds") == 600  # still counted from its last good window
    assert failures("refunds") == 1 and failures("orders") is None

    clock.advance(timedelta(minutes=5))
    assert lag("refunds") == 900 and lag("orders") == 300
    sync.synced(report(clock.now(), {}, recomputed=False, error="cannot open stored config: SecretKeyError"), START)
    assert failures("all") == 1  # failed before any stream ran
    assert lag("orders") == 300  # and no stream moved on


def test_a_stream_that_never_synced_counts_from_the_stores_start() -> None:
    clock = ManualClock(START)
    registry = CollectorRegistry()
    sync = SyncMetrics(clock, registry)
    sync.synced(report(START, {"orders": "PlatformError: isv.invalid-permission"}), START - timedelta(days=3))
    assert registry.get_sample_value("shopsentinel_sync_lag_seconds",
                                     {"platform": "taobao", "store": "tb-1", "stream": "orders"}) == 3 * 86400


# ------------------------------------------------------------ HTTP latency and admission


def test_request_latency_is_labelled_by_route_template_never_the_raw_path(api: Api) -> None:
    assert api.get("/api/v1/alerts/a-123456").status_code == 404
    assert api.get("/api/v1/alerts/a-654321").status_code == 404
    assert api.as_token("").get("/no/such/page").status_code == 404
    text = api.as_token("").get("/metrics").text
    assert "a-123456" not in text and "/no/such/page" not in text
    samples = scrape(api)
    assert sample(samples, "shopsentinel_http_request_duration_seconds_count",
                  route="/api/v1/alerts/{alert_id}", method="GET", status="4xx") == 2
    assert sample(samples, "shopsentinel_http_request_duration_seconds_count",
                  route="other", method="GET", status="4xx") == 1


def test_a_shed_write_request_is_counted() -> None:
    metrics = ServiceMetrics(ManualClock(START))
    release = anyio.Event()
    started = anyio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    gate = Admission(slow, max_in_flight=1, on_refused=metrics.refused)
    statuses: list[int] = []

    async def post(client: httpx.AsyncClient) -> None:
        statuses.append((await client.post("/api/v1/points", content=b"{}")).status_code)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="http://test") as client:
            async with anyio.create_task_group() as group:
                group.start_soon(post, client)
                await started.wait()  # the one slot is taken
                await post(client)
                release.set()

    anyio.run(scenario)
    assert sorted(statuses) == [200, 503]
    assert metrics.registry.get_sample_value("shopsentinel_admission_refused_total") == 1


# ------------------------------------------------------------ /livez and /readyz


@pytest.fixture
def background_api(database_url: str, clock: ManualClock) -> Iterator[Api]:
    """An app built as ``serve`` builds it (background runner expected) but driven by hand: no lifespan
    runs, so no tick happens unless the test runs one."""
    settings = Settings(database_url=database_url, bootstrap_token=SecretStr(ADMIN_TOKEN), schedule_seconds=10,
                        _env_file=None)  # type: ignore[call-arg]
    client = Api(create_app(settings, clock=clock, background=True))
    yield client
    client.service.close()


def test_readyz_fails_on_a_stale_scheduler_and_recovers_after_a_tick(background_api: Api, clock: ManualClock) -> None:
    anonymous = background_api.as_token("")
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "scheduler": "ok"}}

    clock.advance(timedelta(seconds=61))  # over max(3 × 10 s, 60 s) without a completed tick
    stale = anonymous.get("/readyz")
    assert stale.status_code == 503 and stale.headers["retry-after"] == "5"
    body = stale.json()
    assert body["status"] == "unready" and body["failed"] == ["scheduler"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["scheduler"].startswith("后台调度已 61 秒未完成一轮")
    assert sample(scrape(background_api), "shopsentinel_ready", check="scheduler") == 0
    assert anonymous.get("/livez").json() == {"status": "alive"}  # alive all the same: do not restart it
    assert anonymous.get("/healthz").status_code == 200  # /healthz as before

    background_api.service.background_tick()
    assert anonymous.get("/readyz").status_code == 200
    samples = scrape(background_api)
    assert sample(samples, "shopsentinel_ready", check="scheduler") == 1
    assert sample(samples, "shopsentinel_last_tick_timestamp_seconds") == clock.now().timestamp()
    assert sample(samples, "shopsentinel_ticks_total") == 1


def test_readyz_without_a_background_runner_checks_the_database_only(api: Api, clock: ManualClock) -> None:
    clock.advance(timedelta(hours=1))
    ready = api.as_token("").get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "scheduler": "not checked"}


@pytest.fixture
def hop() -> Iterator[Hop]:
    relay = Hop((PG_HOST, 5432))
    yield relay
    relay.cut()


def test_readyz_names_the_database_while_it_is_unreachable_and_livez_stays_up(
        database_url: str, api_factory: Any, clock: ManualClock, hop: Hop) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server to lose: PostgreSQL (SQLite is a file in the process)")
    api = api_factory(database_url.replace(f"@{PG_HOST}:5432/", f"@127.0.0.1:{hop.port}/"), clock)
    anonymous = api.as_token("")
    assert anonymous.get("/readyz").status_code == 200
    hop.cut()
    assert api.get("/api/v1/alerts").status_code == 503  # a request finds the database gone
    down = anonymous.get("/readyz")
    assert down.status_code == 503, down.text
    assert down.json()["failed"] == ["database"]
    assert down.json()["checks"]["database"] == "数据库不可达 / database unreachable"
    assert anonymous.get("/livez").status_code == 200  # the process itself is fine
    assert anonymous.get("/metrics").status_code == 503  # the scrape fails: Prometheus sees up == 0
    hop.mend()
    assert api.get("/api/v1/alerts").status_code == 200
    assert anonymous.get("/readyz").status_code == 200
