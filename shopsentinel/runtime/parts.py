"""What the live service's parts need of the service: the protocol :class:`ServiceParts`, so the
point write path and the sync runner depend on it rather than on :class:`~shopsentinel.runtime.service.Service`
(which wires them)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.catalog import Catalog
from shopsentinel.core.clock import Clock
from shopsentinel.core.settings import Settings
from shopsentinel.runtime.scheduler import Scheduler
from shopsentinel.store.points import PointStore


class ServiceParts(Protocol):
    settings: Settings
    clock: Clock
    catalog: Catalog
    sessions: sessionmaker[Session]
    points: PointStore
    scheduler: Scheduler


__all__ = ["ServiceParts"]
