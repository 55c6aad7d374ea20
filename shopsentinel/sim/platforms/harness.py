"""Test helpers for the fake platforms: a sleep that moves a manual clock, and page collection."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from shopsentinel.core.clock import ManualClock
from shopsentinel.sim.platforms.dataset import Dataset
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sources.base import Entity, Order, Review, StreamPage


@dataclass
class ClockSleep:
    """An injectable ``sleep`` that records the wait and advances the fake's clock instead of sleeping."""

    clock: ManualClock
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


class PagedSource(Protocol):
    def pages(self, stream: str, cursor: dict[str, Any], until: datetime) -> Any: ...

    async def aclose(self) -> None: ...


@dataclass
class Collected:
    entities: list[Entity]
    cursor: dict[str, Any]
    pages: list[StreamPage]


async def collect(
    source: PagedSource,
    stream: str,
    cursor: dict[str, Any],
    until: datetime,
    *,
    stop_after: int | None = None,
    stop_mid_window: bool = False,
) -> Collected:
    """Read pages, keeping each page's cursor as a store would (JSON round trip); optionally stop
    after ``stop_after`` pages, or at the first page (past the first) that ends mid-window, as if
    the process died there. The source is closed afterwards (no connection outlives its loop)."""
    entities: list[Entity] = []
    pages: list[StreamPage] = []
    try:
        async for page in source.pages(stream, cursor, until):
            entities.extend(page.entities)
            pages.append(page)
            cursor = json.loads(json.dumps(page.cursor))
            if stop_after is not None and len(pages) >= stop_after:
                break
            if stop_mid_window and len(pages) >= 2 and "window" in cursor:
                break
    finally:
        await source.aclose()
    return Collected(entities, cursor, pages)


def comparable(entities: Sequence[Entity], *, clear: Sequence[str] = ()) -> list[Entity]:
    """Entities with what a platform cannot carry cleared, sorted: native_status, tracking time,
    the order fields named in ``clear``, and review stars reduced to good/neutral/bad (5/3/1)."""
    out: list[Entity] = []
    for entity in entities:
        if isinstance(entity, Order):
            cleared: dict[str, Any] = dict.fromkeys(clear)
            entity = replace(entity, native_status="", last_tracking_at=None, **cleared)
        elif isinstance(entity, Review):
            entity = replace(entity, stars=5 if entity.stars >= 4 else (3 if entity.stars == 3 else 1))
        out.append(entity)
    return sorted(out, key=repr)


@dataclass
class FakeEnv:
    """A running fake: its dataset, clock, app (``app.state.log``), router URL and a ClockSleep."""

    dataset: Dataset
    clock: ManualClock
    app: Any
    url: str
    sleep: ClockSleep

    def methods(self) -> list[str]:
        return list(self.app.state.log.methods())


@contextmanager
def running_fake(
    create_app: Callable[..., Any], path: str, dataset: Dataset, *, now: datetime, **options: Any
) -> Iterator[FakeEnv]:
    """Serve ``create_app(dataset, clock=…, **options)`` on loopback; the clock starts at ``now``."""
    clock = ManualClock(now)
    app = create_app(dataset, clock=clock, **options)
    with serve_in_thread(app) as base_url:
        yield FakeEnv(dataset, clock, app, base_url + path, ClockSleep(clock))
