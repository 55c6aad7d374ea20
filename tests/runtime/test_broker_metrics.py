"""``/metrics`` with a broker (issue 15, "queue depth … exported on /metrics"): what waits in each
queue of the real Redis and RabbitMQ on this machine, what workers hold, and which stores' live
data no evaluation has judged yet. No worker runs here, so every task sent stays queued."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis

from shopsentinel.core.settings import Settings
from shopsentinel.runtime.distributed.celery_app import EVALUATE, make_celery
from shopsentinel.runtime.distributed.monitor import BrokerCollector
from shopsentinel.runtime.distributed.shards import all_queues, by_shard, eval_queue
from tests.runtime.test_metrics_collectors import sample, scrape
from tests.support.service import make_api

REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted after."""
    name = f"ss-test-{uuid.uuid4().hex[:10]}:"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{name}*"))
    if keys:
        client.delete(*keys)


def test_metrics_show_queued_evaluations_and_unjudged_stores(tmp_path: Any, clock: Any, prefix: str) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'state.db'}", clock, broker_url=REDIS_URL, broker_key_prefix=prefix,
                   shards=4)
    try:
        stores = [f"s{i}" for i in range(6)]
        hour = clock.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        points = [{"ts": hour.isoformat(), "platform": "tmall", "store": s, "metric": "uv", "value": 100.0}
                  for s in stores]
        response = api.post("/api/v1/points", json={"points": points})
        assert response.status_code == 200, response.text
        samples = scrape(api)
        assert sample(samples, "shopsentinel_broker_up") == 1.0
        expected = {eval_queue(shard): 0 for shard in range(4)}
        for shard, _batch in by_shard([("tmall", s) for s in stores], 4, api.service.settings.stores_per_shard):
            expected[eval_queue(shard)] += 1  # one evaluate task per shard batch, nobody to take it
        for queue in all_queues(4):
            assert sample(samples, "shopsentinel_queue_depth", queue=queue) == expected.get(queue, 0), queue
        assert sample(samples, "shopsentinel_queue_reserved") == 0.0
        assert sample(samples, "shopsentinel_evaluation_unjudged_stores") == 6.0
        clock.advance(timedelta(seconds=90))
        assert sample(scrape(api), "shopsentinel_evaluation_oldest_unjudged_age_seconds") == 90.0
    finally:
        api.service.close()


def test_an_unreachable_broker_is_reported_not_raised(tmp_path: Any, clock: Any) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'state.db'}", clock, broker_url="redis://127.0.0.1:1/0")
    try:
        samples = scrape(api)
        assert sample(samples, "shopsentinel_broker_up") == 0.0
        assert not [k for k in samples if k[0] == "shopsentinel_queue_depth"]
        assert sample(samples, "shopsentinel_evaluation_unjudged_stores") == 0.0  # the database still answers
    finally:
        api.service.close()


def test_rabbitmq_queue_depths() -> None:
    app = make_celery(Settings(broker_url=AMQP_URL, _env_file=None))  # type: ignore[call-arg]
    queue = f"ss-test-{uuid.uuid4().hex[:10]}"
    try:
        app.connection_for_read().ensure_connection(max_retries=1, timeout=3)
    except Exception:
        pytest.skip("RabbitMQ not reachable at 127.0.0.1:5672")
    collector = BrokerCollector(app, [queue, f"{queue}-never-declared"])
    try:
        for _ in range(3):
            app.send_task(EVALUATE, args=[[["tmall", "s1"]]], queue=queue)
        depths, reserved = collector.read()
        assert depths == {queue: 3, f"{queue}-never-declared": 0}
        assert reserved is None  # RabbitMQ does not say what consumers hold; only Redis does
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
