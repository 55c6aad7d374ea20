"""The Source implementation shared by the router connectors; each platform only lists its streams."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

import httpx
from pydantic import BaseModel

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import SourceError
from shopsentinel.sources.base import StreamPage
from shopsentinel.sources.kit.incremental import ReadPlan, Stream, read_stream
from shopsentinel.sources.kit.pacing import Sleep, wall_sleep
from shopsentinel.sources.kit.router import RouterClient, RouterConfig, TokenListener


class RouterConnector(ABC):
    """Implements :class:`shopsentinel.sources.base.Source` on top of a :class:`RouterClient`.

    ``sleep`` is injected so throttling is waited out without real sleeping in tests; ``on_tokens``
    receives refreshed tokens so the caller can persist them (encrypted).
    """

    platform: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]  # BaseModel, as in the Source protocol (ClassVars are invariant)
    client_class: ClassVar[type[RouterClient]]

    def __init__(
        self,
        config: RouterConfig,
        *,
        clock: Clock | None = None,
        sleep: Sleep = wall_sleep,
        http: httpx.AsyncClient | None = None,
        on_tokens: TokenListener | None = None,
    ) -> None:
        if not isinstance(config, self.config_model):
            raise TypeError(f"{type(self).__name__} needs a {self.config_model.__name__}")
        self.config = config
        self.clock = clock or SystemClock()
        self.client = self.client_class(config, clock=self.clock, http=http, on_tokens=on_tokens)
        self._streams = {stream.name: stream for stream in self._build_streams()}
        self._plan = ReadPlan(
            start=config.start,
            window=timedelta(hours=config.window_hours),
            overlap=timedelta(minutes=config.overlap_minutes),
            sleep=sleep,
            max_throttle_retries=config.max_throttle_retries,
        )

    def __repr__(self) -> str:  # never the secrets
        return f"{type(self).__name__}(store={self.config.store!r}, app_key={self.config.app_key!r})"

    def streams(self) -> Sequence[str]:
        return tuple(self._streams)

    async def read(self, stream: str, cursor: dict[str, Any], until: datetime) -> list[StreamPage]:
        return [page async for page in self.pages(stream, cursor, until)]

    def pages(self, stream: str, cursor: dict[str, Any], until: datetime) -> AsyncGenerator[StreamPage, None]:
        """Like :meth:`read`, one page at a time: persist each page's cursor after storing it."""
        if stream not in self._streams:
            raise SourceError(f"{self.platform}: unknown stream {stream!r}; known: {', '.join(self._streams)}")
        return read_stream(self._streams[stream], cursor, until, self._plan)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abstractmethod
    def _build_streams(self) -> Sequence[Stream]:
        """The platform's streams, built on ``self.client`` and ``self.config``."""
