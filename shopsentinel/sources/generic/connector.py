"""The generic HTTP/JSON Source (R1.3): any aggregator API described by a :class:`GenericConfig`."""

from __future__ import annotations

from typing import ClassVar

import httpx
from pydantic import BaseModel

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.sources.generic.client import GenericClient
from shopsentinel.sources.generic.config import GenericConfig
from shopsentinel.sources.generic.streams import stream_specs
from shopsentinel.sources.kit import IncrementalSource, Sleep, wall_sleep


class GenericSource(IncrementalSource):
    platform: ClassVar[str] = "generic"
    config_model: ClassVar[type[BaseModel]] = GenericConfig

    def __init__(
        self,
        config: GenericConfig,
        *,
        clock: Clock | None = None,
        sleep: Sleep = wall_sleep,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(clock=clock or SystemClock(), sleep=sleep, default_start=config.start, http=http,
                         base_url=config.base_url, timeout_seconds=config.timeout_seconds)
        self.config = config
        self.client = GenericClient(self.http, config, clock=self.clock, sleep=sleep, waiter=self.waiter)
        self._register(stream_specs(self.client, config.streams))

    def __repr__(self) -> str:
        return f"GenericSource(store={self.config.store!r}, base_url={self.config.base_url!r})"
