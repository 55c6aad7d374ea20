"""The incremental-read engine every router connector uses.

Two kinds of stream:

* :class:`WindowedStream` — records filtered by a time range (orders, refunds, reviews). The range
  ``[cursor, until]`` is cut into windows no longer than the platform allows (≤ 1 day); each
  window is paged (forward with ``has_next``, or backward from the last page when the platform
  sorts by "modified desc" and advises it). A first sync may use a different, creation-time API
  (``backfill``) before switching to the modification-time API.
* :class:`SnapshotStream` — a full scan of listings (stock, prices); only SKUs whose quantity or
  price changed since the last scan are emitted.

Cursor of a windowed stream (plain JSON, stored after each page)::

    {"since": "2026-11-01T08:00:00+00:00",      # everything before this has been read
     "phase": "increment",                       # or "backfill" (first sync, by creation time)
     "window": {"start": …, "end": …, "next_page": 3, "last_page": 5},  # only mid-window
     "seen": {"<primary key>": ["<version>", "<changed_at>"]}}         # the overlap tail

A new read starts ``overlap`` before ``since`` so records that became visible late are caught;
``seen`` remembers what the overlap tail already delivered, so unchanged records are not emitted
twice while a record that changed (new version) is emitted again.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from shopsentinel.sources.base import Entity, Order, Refund, Review, StockSnapshot, StreamPage
from shopsentinel.sources.kit.pacing import Sleep, ThrottleWaiter

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RawPage:
    """One page as the platform returned it (records still in native shape)."""

    records: list[Record]
    has_next: bool
    last_page: int | None = None  # known when the API returned a total count


def raw_page(records: list[Record], page: int, page_size: int, *, total: int | None = None, has_next: bool | None = None) -> RawPage:
    """A page from either paging style: an explicit ``has_next`` flag, or a total count."""
    if has_next is not None:
        return RawPage(records, has_next)
    last = max(1, -(-int(total or 0) // page_size))
    return RawPage(records, page < last, last)


FetchWindow = Callable[[datetime, datetime, int], Awaitable[RawPage]]
FetchPage = Callable[[int], Awaitable[RawPage]]


@dataclass(frozen=True)
class WindowedStream:
    name: str
    fetch: FetchWindow  # (start, end, page) by modification time
    to_entities: Callable[[Record], Sequence[Entity]]
    page_size: int  # page numbers in a stored cursor only hold for the same page size
    backfill: FetchWindow | None = None  # first sync by creation time, if the platform splits the two
    backward: bool = False  # increment pages read from the last one back
    max_window: timedelta | None = None  # a tighter span than the connector's window (PDD refunds)


@dataclass(frozen=True)
class SnapshotStream:
    name: str
    fetch: FetchPage  # (page) → every listing, page by page
    to_entities: Callable[[Record, datetime], Sequence[Entity]]  # (record, observed_at)


Stream = WindowedStream | SnapshotStream


@dataclass(frozen=True)
class ReadPlan:
    start: datetime  # where the first sync begins
    window: timedelta
    overlap: timedelta
    sleep: Sleep
    max_throttle_retries: int


# ---------------------------------------------------------------- identity of entities


def primary_key(entity: Entity) -> str:
    """The stream's primary key: order_id, refund_id, review_id, or ``sku@at`` for stock."""
    if isinstance(entity, Order):
        return entity.order_id
    if isinstance(entity, Refund):
        return entity.refund_id
    if isinstance(entity, Review):
        return entity.review_id
    return f"{entity.sku}@{entity.at.isoformat()}"


def version(entity: Entity) -> str:
    """Changes whenever the record changed in a way the metrics care about."""
    if isinstance(entity, Order):
        return f"{entity.updated_at}|{entity.status}|{entity.amount}"
    if isinstance(entity, Refund):
        return f"{entity.status}|{entity.amount}"
    if isinstance(entity, Review):
        return str(entity.stars)
    return f"{entity.quantity}|{entity.price}"


def changed_at(entity: Entity) -> datetime:
    if isinstance(entity, Order):
        return entity.updated_at or entity.created_at
    if isinstance(entity, StockSnapshot):
        return entity.at
    return entity.created_at


# ---------------------------------------------------------------- reading


async def fetch_waiting(call: Callable[[], Awaitable[RawPage]], plan: ReadPlan) -> tuple[RawPage, float]:
    """Call, waiting out ThrottledError through the injected sleep; returns (page, seconds waited)."""
    waiter = ThrottleWaiter(plan.sleep, max_attempts=plan.max_throttle_retries + 1, max_wait_seconds=math.inf)
    page = await waiter.run(call)
    return page, waiter.take_waited()


def read_stream(stream: Stream, cursor: dict[str, Any], until: datetime, plan: ReadPlan) -> AsyncGenerator[StreamPage, None]:
    if until.tzinfo is None:
        raise ValueError("until must be timezone-aware")
    if isinstance(stream, SnapshotStream):
        return _read_snapshot(stream, cursor, until, plan)
    return _read_windowed(stream, cursor, until, plan)


class _Seen:
    """Primary key → (version, changed_at) of what the overlap tail already delivered."""

    def __init__(self, stored: dict[str, list[str]]) -> None:
        self.entries = {key: (value[0], value[1]) for key, value in stored.items()}

    def fresh(self, entities: Sequence[Entity]) -> list[Entity]:
        out = []
        for entity in entities:
            key, ver = primary_key(entity), version(entity)
            if key in self.entries and self.entries[key][0] == ver:
                continue
            self.entries[key] = (ver, changed_at(entity).isoformat())
            out.append(entity)
        return out

    def dump(self, keep_from: datetime | None = None) -> dict[str, list[str]]:
        if keep_from is not None:
            self.entries = {
                k: v for k, v in self.entries.items() if datetime.fromisoformat(v[1]) >= keep_from
            }
        return {key: [ver, at] for key, (ver, at) in sorted(self.entries.items())}


async def _read_windowed(
    stream: WindowedStream, cursor: dict[str, Any], until: datetime, plan: ReadPlan
) -> AsyncGenerator[StreamPage, None]:
    seen = _Seen(cursor.get("seen", {}))
    span = min(plan.window, stream.max_window or plan.window)
    has_since = "since" in cursor
    phase = cursor.get("phase") or ("backfill" if stream.backfill is not None and not has_since else "increment")
    resume = cursor.get("window")
    if resume is not None:
        start, end = datetime.fromisoformat(resume["start"]), datetime.fromisoformat(resume["end"])
        # a different page size shifts every page: restart the window (``seen`` drops repeats)
        same_size = resume.get("page_size") == stream.page_size
        next_page: int | None = int(resume["next_page"]) if same_size else None
        last_page: int | None = resume.get("last_page") if same_size else None
    else:
        since = datetime.fromisoformat(cursor["since"]) if has_since else plan.start
        start = since - plan.overlap if has_since else since
        end, next_page, last_page = min(start + span, until), None, None
    if start >= until and resume is None:
        yield StreamPage(stream.name, cursor=dict(cursor), done=True)
        return
    while True:
        fetch = stream.backfill if phase == "backfill" and stream.backfill is not None else stream.fetch
        backward = stream.backward and phase == "increment"
        waited = 0.0
        if next_page is None:  # a fresh window
            raw, waited = await fetch_waiting(partial(fetch, start, end, 1), plan)
            if backward and (raw.last_page or 1) > 1:
                last_page = raw.last_page
                raw, more = await fetch_waiting(partial(fetch, start, end, last_page or 1), plan)
                waited += more
                page = last_page or 1
            else:
                page = 1
        else:
            page = next_page
            raw, waited = await fetch_waiting(partial(fetch, start, end, page), plan)
        entities = seen.fresh([e for record in raw.records for e in stream.to_entities(record)])
        more_pages = page > 1 if backward and last_page else raw.has_next
        if more_pages:
            next_page = page - 1 if backward and last_page else page + 1
            window = {"start": start.isoformat(), "end": end.isoformat(), "next_page": next_page, "page_size": stream.page_size}
            if backward and last_page:
                window["last_page"] = last_page
            state = {**_base_state(cursor, phase), "window": window, "seen": seen.dump()}
            yield StreamPage(stream.name, entities, state, False, waited)
            continue
        # window finished: move the watermark
        finished_all = end >= until
        new_phase = "increment" if finished_all else phase
        state = {"since": end.isoformat(), "phase": new_phase, "seen": seen.dump(end - plan.overlap)}
        yield StreamPage(stream.name, entities, state, finished_all, waited)
        if finished_all:
            return
        cursor = state
        start, end, next_page, last_page = end, min(end + span, until), None, None


def _base_state(cursor: dict[str, Any], phase: str) -> dict[str, Any]:
    state: dict[str, Any] = {"phase": phase}
    if "since" in cursor:
        state["since"] = cursor["since"]
    return state


async def _read_snapshot(
    stream: SnapshotStream, cursor: dict[str, Any], until: datetime, plan: ReadPlan
) -> AsyncGenerator[StreamPage, None]:
    prints: dict[str, str] = dict(cursor.get("fingerprints", {}))
    page = int(cursor.get("next_page", 1))
    while True:
        raw, waited = await fetch_waiting(partial(stream.fetch, page), plan)
        changed: list[Entity] = []
        for record in raw.records:
            for entity in stream.to_entities(record, until):
                sku = entity.sku if isinstance(entity, StockSnapshot) else primary_key(entity)
                if prints.get(sku) != version(entity):
                    prints[sku] = version(entity)
                    changed.append(entity)
        state: dict[str, Any] = {"fingerprints": dict(sorted(prints.items()))}
        if raw.has_next:
            state["next_page"] = page + 1
        else:
            state["scanned_at"] = until.isoformat()
        yield StreamPage(stream.name, changed, state, not raw.has_next, waited)
        if not raw.has_next:
            return
        page += 1
