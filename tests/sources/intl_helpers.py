"""Test helpers shared by the Douyin, Amazon and Shopify connector tests."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shopsentinel.core.clock import ManualClock
from shopsentinel.sources.base import StreamPage
from shopsentinel.sources.kit.http import IncrementalSource


@dataclass
class ClockSleep:
    """An injected sleep that never sleeps: it records the wait and advances the shared clock."""

    clock: ManualClock
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


async def read_pages(
    source: IncrementalSource, stream: str, cursor: dict[str, Any], until: datetime, stop_after: int | None = None
) -> list[StreamPage]:
    """Read like the sync engine does, optionally stopping after ``stop_after`` pages (a crash)."""
    pages: list[StreamPage] = []
    async with aclosing(source.pages(stream, cursor, until)) as stream_pages:
        async for page in stream_pages:
            pages.append(page)
            if stop_after is not None and len(pages) == stop_after:
                break
    return pages


def entities(pages: list[StreamPage]) -> list[Any]:
    return [e for p in pages for e in p.entities]
