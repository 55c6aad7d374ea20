"""The Source protocol every platform connector implements, and the entity types it yields.

A connector is a small folder ``sources/<platform>/`` with ``client.py`` (HTTP + signing only),
``streams.py`` (each stream with a primary key and an incremental cursor), ``mapping.py``
(platform records → the entities below) and a README. Entities are turned into canonical
hourly points by :mod:`shopsentinel.sources.hourly`, which is shared by every platform.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    amount: float  # in the store's currency, major units (yuan, dollars)


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    created_at: datetime  # UTC
    status: str  # one of shopsentinel.core.types.ORDER_STATES
    amount: float  # paid amount, major units
    paid_at: datetime | None = None
    updated_at: datetime | None = None
    shipped_at: datetime | None = None
    last_tracking_at: datetime | None = None
    lines: tuple[OrderLine, ...] = ()
    native_status: str = ""


@dataclass(frozen=True, slots=True)
class Refund:
    refund_id: str
    order_id: str
    created_at: datetime
    amount: float
    status: str = ""


@dataclass(frozen=True, slots=True)
class Review:
    review_id: str
    order_id: str
    created_at: datetime
    stars: int  # 1..5; 1–3 count as negative

    @property
    def negative(self) -> bool:
        return self.stars <= 3


@dataclass(frozen=True, slots=True)
class StockSnapshot:
    sku: str
    at: datetime
    quantity: int
    price: float | None = None


Entity = Order | Refund | Review | StockSnapshot


@dataclass
class StreamPage:
    """One fetched page of a stream, with the cursor to persist once it is stored."""

    stream: str
    entities: list[Entity] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    throttle_wait_seconds: float = 0.0


@runtime_checkable
class Source(Protocol):
    """The one protocol every platform connector satisfies; what the sync engine drives.

    A connector class is built as ``Connector(config, clock=..., sleep=...)`` (router platforms also
    take ``on_tokens``) and registered in :data:`shopsentinel.sources.registry.CONNECTORS`.
    """

    platform: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def streams(self) -> Sequence[str]:
        """Names of the streams this source offers (orders, refunds, reviews, stock …)."""
        ...

    async def read(self, stream: str, cursor: dict[str, Any], until: datetime) -> list[StreamPage]:
        """Fetch everything of ``stream`` changed after ``cursor`` up to ``until``."""
        ...

    def pages(self, stream: str, cursor: dict[str, Any], until: datetime) -> AsyncGenerator[StreamPage, None]:
        """Like :meth:`read`, one page at a time: persist each page's cursor once it is stored."""
        ...

    async def aclose(self) -> None:
        """Release the connection pool (unless it was injected)."""
        ...
