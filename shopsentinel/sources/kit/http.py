"""The base of the REST connectors (Douyin, Kuaishou, Amazon, Shopify, generic): bearer/app tokens in
headers or per-request signatures, JSON bodies, ISO or epoch times.

* :func:`utc`, :func:`iso_z`, :func:`parse_iso`: the UTC ISO-8601 times their cursors store.
* :class:`UpdatedCursor` is the incremental cursor every stream persists: the committed window
  start (``since``) plus the versions already emitted near it, so re-reading an overlap window
  neither skips late-changing records nor emits a record version twice.
* :func:`read_incremental` turns a stream's page fetcher into :class:`StreamPage` objects;
  :class:`IncrementalSource` is the Source implementation these connectors share, each only
  declaring its :class:`StreamSpec` list.
* :func:`tls_context`: the process's one TLS context, shared by every connector's client.
* :class:`TrafficPoint` / :class:`TrafficPage`: base.py has no entity for traffic metrics, so the
  traffic streams put canonical ``(metric, value, hour)`` points on a StreamPage subclass.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from ssl import SSLContext
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import SourceError
from shopsentinel.sources.base import Entity, StreamPage
from shopsentinel.sources.kit.pacing import Sleep, ThrottleWaiter


@cache
def tls_context() -> SSLContext:
    """The one TLS context of this process for the connectors' HTTP clients (httpx's default: the
    certifi bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``). Building it loads the CA bundle
    (~0.1 s), so a client per sync shares it instead of building its own."""
    return httpx.create_ssl_context()


def utc(value: datetime) -> datetime:
    """``value`` as timezone-aware UTC; naive datetimes are rejected rather than guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
    return value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` suffix and whole seconds: ``2026-11-20T08:00:00Z``."""
    return utc(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse ISO-8601 with ``Z`` or an offset into UTC."""
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


@dataclass(frozen=True, slots=True)
class Keyed:
    """One mapped record with its primary key, its version and (if it has one) its change time.

    Records without ``updated_at`` (e.g. Douyin SKU stock, which has no change filter) are
    emitted whenever their version differs from the last one emitted for that key.
    """

    key: str
    version: str  # timed records: "<ISO change time>" or "<ISO>|<extra>"
    updated_at: datetime | None
    item: Any  # an Entity, or a stream-specific point such as TrafficPoint


@dataclass
class UpdatedCursor:
    """``{"since": ISO, "seen": {key: version}}`` — the persisted state of one stream.

    A run reads the window ``[since - overlap, end]``; records already in ``seen`` with the same
    version are dropped, so a resumed or overlapping run emits nothing twice. ``since`` only moves
    when a run completes; pages in between persist the growing ``seen`` map, so a run stopped
    midway resumes by re-reading the same window without duplicates.
    """

    since: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)
    untimed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, state: dict[str, Any]) -> UpdatedCursor:
        since = state.get("since")
        return cls(
            since=parse_iso(since) if since else None,
            seen=dict(state.get("seen", {})),
            untimed=dict(state.get("untimed", {})),
        )

    def dump(self) -> dict[str, Any]:
        state: dict[str, Any] = {"since": iso_z(self.since) if self.since else None, "seen": dict(self.seen)}
        if self.untimed:
            state["untimed"] = dict(self.untimed)
        return state

    def window_start(self, overlap: timedelta, default_start: datetime) -> datetime:
        return (self.since - overlap) if self.since else default_start

    def admit(self, record: Keyed, start: datetime, end: datetime) -> bool:
        """True if ``record`` is new (first sight of this version) and inside ``[start, end]``."""
        if record.updated_at is None:
            if self.untimed.get(record.key) == record.version:
                return False
            self.untimed[record.key] = record.version
            return True
        if not start <= record.updated_at <= end or self.seen.get(record.key) == record.version:
            return False
        self.seen[record.key] = record.version
        return True

    def commit(
        self, end: datetime, overlap: timedelta, align: Callable[[datetime], datetime] | None = None
    ) -> None:
        """Close a run: move ``since`` to ``end`` (never back) and forget versions no window can see."""
        end = max(end, self.since) if self.since else end
        self.since = end
        horizon = align(end - overlap) if align else end - overlap
        self.seen = {k: v for k, v in self.seen.items() if _version_time(v, end) >= horizon}


PageFetcher = Callable[[datetime, datetime], AsyncIterator[list[Keyed]]]


async def read_incremental(
    stream: str,
    fetch_pages: PageFetcher,
    cursor: dict[str, Any],
    *,
    end: datetime,
    overlap: timedelta,
    default_start: datetime,
    waiter: ThrottleWaiter,
    page_factory: Callable[[str], StreamPage] | None = None,
    align_start: Callable[[datetime], datetime] | None = None,
) -> AsyncGenerator[StreamPage, None]:
    """Yield one :class:`StreamPage` per fetched page, then a final ``done`` page.

    Each page carries the cursor to persist once its entities are stored.
    """
    state = UpdatedCursor.load(cursor)
    start = state.window_start(overlap, default_start)
    if align_start is not None:
        start = align_start(start)
    make_page = page_factory or (lambda name: StreamPage(stream=name))
    waiter.take_waited()
    async for records in fetch_pages(start, end):
        page = make_page(stream)
        fresh = [r for r in records if state.admit(r, start, end)]
        add_items(page, [r.item for r in fresh])
        page.cursor = state.dump()
        page.throttle_wait_seconds = waiter.take_waited()
        yield page
    state.commit(end, overlap, align_start)
    final = make_page(stream)
    final.cursor, final.done = state.dump(), True
    final.throttle_wait_seconds = waiter.take_waited()
    yield final


def add_items(page: StreamPage, items: list[Any]) -> None:
    """Put items on the page: entities go to ``entities``, anything else to ``points``."""
    points = getattr(page, "points", None)
    for item in items:
        if isinstance(item, Entity):
            page.entities.append(item)
        elif points is not None:
            points.append(item)
        else:
            raise TypeError(f"{type(item).__name__} is not an entity and the page has no points")


def _version_time(version: str, default: datetime) -> datetime:
    """Versions of timed records start with their ISO change time (``<iso>|<extra>``)."""
    try:
        return parse_iso(version.split("|", 1)[0])
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class TrafficPoint:
    """A canonical traffic observation: ``metric`` over ``hours`` hours starting at ``hour`` (UTC)."""

    metric: str  # uv, pv, or a custom metric such as unit_session_percentage
    value: float
    hour: datetime
    hours: int = 1  # 24 for daily report rows


@dataclass
class TrafficPage(StreamPage):
    points: list[TrafficPoint] = field(default_factory=list)


@dataclass(frozen=True)
class StreamSpec:
    """One stream: its primary key, the field its cursor follows and how to fetch its pages."""

    name: str
    primary_key: str
    cursor_field: str
    fetch: PageFetcher
    overlap: timedelta
    end_lag: timedelta = timedelta(0)  # Amazon: data shows up ~2 minutes after it changes
    page_factory: Callable[[str], StreamPage] | None = None
    align_start: Callable[[datetime], datetime] | None = None  # e.g. report days start at local midnight


class IncrementalSource:
    """The Source protocol on top of :class:`StreamSpec` declarations (subclasses list streams)."""

    platform: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def __init__(
        self,
        *,
        clock: Clock,
        sleep: Sleep,
        default_start: datetime,
        http: httpx.AsyncClient | None,
        base_url: str,
        timeout_seconds: float,
    ) -> None:
        self.clock = clock
        self.waiter = ThrottleWaiter(sleep)
        self.default_start = utc(default_start)
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds, verify=tls_context())
        self._spec_map: dict[str, StreamSpec] = {}

    def _register(self, specs: list[StreamSpec]) -> None:
        self._spec_map = {spec.name: spec for spec in specs}

    def _specs(self) -> dict[str, StreamSpec]:
        return self._spec_map

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was injected (then its owner closes it)."""
        if self._owns_http:
            await self.http.aclose()

    def streams(self) -> tuple[str, ...]:
        return tuple(self._specs())

    def spec(self, stream: str) -> StreamSpec:
        specs = self._specs()
        if stream not in specs:
            raise SourceError(f"{self.platform}: unknown stream {stream!r}; known: {', '.join(specs)}")
        return specs[stream]

    async def read(self, stream: str, cursor: dict[str, Any], until: datetime) -> list[StreamPage]:
        return [page async for page in self.pages(stream, cursor, until)]

    def pages(self, stream: str, cursor: dict[str, Any], until: datetime) -> AsyncGenerator[StreamPage, None]:
        """Like :meth:`read`, one page at a time: persist each page's cursor once it is stored."""
        spec = self.spec(stream)
        end = min(utc(until), self.clock.now() - spec.end_lag).replace(microsecond=0)
        return read_incremental(
            stream, spec.fetch, cursor, end=end, overlap=spec.overlap, default_start=self.default_start,
            waiter=self.waiter, page_factory=spec.page_factory, align_start=spec.align_start,
        )
