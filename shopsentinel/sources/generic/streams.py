"""The generic source's streams: one :class:`StreamSpec` per configured endpoint, each paging
through its records (page/size, offset/limit, next-cursor token, or ``Link`` headers) inside the
incremental window the shared cursor machinery (:func:`~shopsentinel.sources.kit.http.read_incremental`)
asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from shopsentinel.sources.generic.client import GenericClient
from shopsentinel.sources.generic.config import StreamConfig
from shopsentinel.sources.generic.mapping import MappingError, RecordMapper, format_time, lookup
from shopsentinel.sources.kit import Keyed, StreamSpec, TrafficPage

MAX_PAGES = 100_000  # a server that never says "last page" must not loop forever


def window_params(stream: StreamConfig, start: datetime, end: datetime) -> list[tuple[str, str]]:
    params = list(stream.params.items())
    inc = stream.incremental
    if inc is not None:
        params.append((inc.from_param, format_time(start, inc.format, inc.zone)))
        if inc.to_param:
            params.append((inc.to_param, format_time(end, inc.format, inc.zone)))
    return params


async def fetch_pages(client: GenericClient, stream: StreamConfig, start: datetime, end: datetime) -> AsyncIterator[list[Keyed]]:
    """Every page of ``stream`` for the window ``[start, end]`` as keyed records."""
    mapper = RecordMapper(stream)
    paging = stream.pagination
    base = window_params(stream, start, end)
    what = f"{stream.stream_name} {stream.method} {stream.path}"
    url: str = stream.path
    page_no, offset, token = getattr(paging, "first_page", 1), 0, None
    for number in range(1, MAX_PAGES + 1):
        params: list[tuple[str, str]] | None = list(base)
        if paging.type == "page":
            params = [*base, (paging.page_param, str(page_no)), (paging.size_param, str(paging.size))]
        elif paging.type == "offset":
            params = [*base, (paging.offset_param, str(offset)), (paging.limit_param, str(paging.size))]
        elif paging.type == "cursor":
            params = [*base, *([(paging.size_param, str(paging.size))] if paging.size_param else []),
                      *([(paging.cursor_param, token)] if token else [])]
        elif paging.type == "link":
            params = [*base, *([(paging.size_param, str(paging.size))] if paging.size_param else [])] if number == 1 else None
        response, body = await client.fetch(what, stream.method, url, params, stream.body)
        records = mapper.records(body, number)
        yield mapper.keyed(records, number)
        size = getattr(paging, "size", 0)
        if paging.type == "none":
            return
        if paging.type == "page":
            more = _flag(body, paging.has_more, mapper, number) if paging.has_more else len(records) >= size
            if not more or not records:
                return
            page_no += 1
        elif paging.type == "offset":
            offset += len(records)
            total = _total(body, paging.total, mapper, number) if paging.total else None
            if not records or (total is not None and offset >= total) or (total is None and len(records) < size):
                return
        elif paging.type == "cursor":
            following = lookup(body, paging.next, None)
            if following in (None, "") or following == token:
                return
            token = str(following)
        else:  # link
            following = response.links.get("next", {}).get("url")
            if not following:
                return
            url = str(response.url.join(following))
    raise MappingError(stream.stream_name, None, stream.path, f"more than {MAX_PAGES} pages: is pagination configured right?")


def _flag(body: Any, path: str, mapper: RecordMapper, page: int) -> bool:
    value = lookup(body, path, None)
    if value is None:
        raise MappingError(mapper.name, None, path, "pagination.has_more not found", page=page)
    return value in (True, 1, "1", "true", "True")


def _total(body: Any, path: str, mapper: RecordMapper, page: int) -> int:
    try:
        return int(lookup(body, path))
    except (KeyError, TypeError, ValueError):
        raise MappingError(mapper.name, None, path, "pagination.total is not a number", page=page) from None


def stream_specs(client: GenericClient, streams: list[StreamConfig]) -> list[StreamSpec]:
    specs = []
    for stream in streams:
        overlap = timedelta(minutes=stream.incremental.overlap_minutes) if stream.incremental else timedelta(0)
        specs.append(StreamSpec(
            stream.stream_name, "id", stream.cursor_field() or "", partial(fetch_pages, client, stream), overlap,
            page_factory=(lambda name: TrafficPage(stream=name)) if stream.kind == "metrics" else None,
        ))
    return specs
