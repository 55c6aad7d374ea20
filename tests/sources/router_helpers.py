"""Test helpers shared by the router connector tests (Taobao/Tmall TOP, JD JOS, Pinduoduo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from shopsentinel.sources.base import StreamPage


class ReadableSource(Protocol):
    async def read(self, stream: str, cursor: dict[str, Any], until: datetime) -> list[StreamPage]: ...

    async def aclose(self) -> None: ...


async def read_everything(source: ReadableSource, stream: str, until: datetime) -> list[Any]:
    """Everything through the Source protocol's ``read`` from an empty cursor, then close the source;
    checks that the last page, and only the last, says it is done."""
    try:
        pages = await source.read(stream, {}, until)
    finally:
        await source.aclose()
    assert pages[-1].done and not any(p.done for p in pages[:-1])
    return [entity for page in pages for entity in page.entities]
