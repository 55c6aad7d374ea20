"""What the broker holds, read at scrape time for ``/metrics`` (issue 15, "Sharding and back-pressure").

* ``shopsentinel_queue_depth{queue}`` — messages waiting in each of the installation's queues
  (``eval.<n>``, ``backlog``, ``deliver``, ``sync``, ``respond``): a burst queues work here instead of
  dropping it, and this is how far behind the workers are.
* ``shopsentinel_queue_reserved`` — Redis only: messages workers have taken but not yet acknowledged
  (running, or held for their countdown, like backlog evaluations). With ``acks_late`` these go back
  to their queue if the worker dies, so "depth 0" alone does not mean "all done".
* ``shopsentinel_broker_up`` — 1 when the broker answered this scrape, else 0 (and no depths).

On Redis the depth is the length of the queue's lists (kombu's ``_size``, every priority step):
kombu's passive ``queue_declare`` checks existence with a pipelined ``EXISTS`` that misses the
``global_keyprefix`` (kombu 5.7), so it would call every prefixed queue missing. On RabbitMQ a passive
``queue_declare`` returns the message count; a queue nobody declared yet counts 0. One short broker
connection per scrape, at most ``timeout`` seconds to connect.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import suppress
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shopsentinel.runtime.distributed.celery_app import is_redis

logger = logging.getLogger(__name__)


class BrokerCollector(Collector):
    def __init__(self, app: Any, queues: Sequence[str], timeout: float = 2.0) -> None:
        self._app = app
        self._queues = list(queues)
        self._timeout = timeout

    def read(self) -> tuple[dict[str, int], int | None]:
        """(messages waiting per queue, messages reserved by workers — ``None`` when the transport
        does not say). Raises when the broker cannot be reached."""
        depths: dict[str, int] = {}
        reserved: int | None = None
        with self._app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=self._timeout)
            if is_redis(self._app.conf.broker_url or ""):
                channel = conn.default_channel
                for queue in self._queues:  # the lists' lengths, every priority step, key prefix applied
                    depths[queue] = int(channel._size(queue))
                reserved = int(channel.client.hlen(channel.unacked_key))
                return depths, reserved
            for queue in self._queues:
                channel = conn.channel()
                try:
                    depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
                except conn.channel_errors:  # not declared yet: nothing was ever queued there
                    depths[queue] = 0
                finally:
                    with suppress(Exception):
                        channel.close()
        return depths, reserved

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("shopsentinel_broker_up", "1 when the broker answered this scrape, else 0.")
        try:
            depths, reserved = self.read()
        except Exception as exc:  # the scrape must not fail because the broker is down: say so instead
            logger.warning("broker not reachable for /metrics: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("shopsentinel_queue_depth", "Messages waiting in each queue (not yet taken by "
                                  "a worker).", labels=["queue"])
        for queue in self._queues:
            depth.add_metric([queue], depths.get(queue, 0))
        yield depth
        if reserved is not None:
            held = GaugeMetricFamily("shopsentinel_queue_reserved", "Messages taken by workers and not yet "
                                     "acknowledged: running, or waiting for their countdown (Redis broker).")
            held.add_metric([], reserved)
            yield held


__all__ = ["BrokerCollector"]
