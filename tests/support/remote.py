"""A broker-less stand-in for the roles' task sender, and a ``remote`` service that sends through it
(fixture): the distributed scheduling of ``runtime/distributed`` tested without Celery or processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings
from shopsentinel.runtime.distributed.tasks import use_broker
from shopsentinel.runtime.service import Service, build_service
from tests.support.service import START

StoreKey = tuple[str, str]


class FakeSender:
    def __init__(self) -> None:
        self.evaluated: list[StoreKey] = []
        self.delivered: list[str] = []
        self.pipelines = 0

    def evaluate(self, keys: list[StoreKey], *, backlog: bool = False, counts: dict[StoreKey, int] | None = None,
                 hold: bool = True) -> None:
        self.evaluated += keys

    def due_backlog(self) -> list[StoreKey]:
        return []

    def started(self, task: str) -> None:
        pass

    def pipeline(self) -> None:
        self.pipelines += 1

    def deliver(self, channel: str) -> None:
        self.delivered.append(channel)

    def sync_due(self) -> None:
        pass

    def respond(self) -> None:
        pass


@pytest.fixture
def remote(database_url: str) -> Iterator[tuple[Service, FakeSender, ManualClock]]:
    clock = ManualClock(START)
    settings = Settings(database_url=database_url, bootstrap_token=SecretStr("x" * 32), _env_file=None,  # type: ignore[call-arg]
                        schedule_seconds=60, eval_retry_seconds=30)
    sender = FakeSender()
    service = use_broker(build_service(settings, clock=clock), sender, follow=False)
    try:
        yield service, sender, clock
    finally:
        service.close()
