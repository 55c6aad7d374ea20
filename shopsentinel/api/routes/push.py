"""Signed push for RPA tools and aggregators, mounted at ``/api/v1/push`` (see :mod:`shopsentinel.sources.push`).

Sources and their secrets come from ``Settings.push_sources``; accepted points take the same
write path as ``POST /api/v1/points`` and are audited as ``push:<source id>``. A push whose
points fail validation is refused whole (422), like an upload.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from fastapi import APIRouter, HTTPException, status

from shopsentinel.runtime.ingest import PointLimits, frame_to_raw, validate_points, write_points
from shopsentinel.runtime.service import Service
from shopsentinel.sources.push import PushSource, push_router

PREFIX = "/api/v1/push"


def build_push_router(service: Service) -> APIRouter:
    sources = {source_id: PushSource(s.secret, s.platform, s.store, s.timezone)
               for source_id, s in service.settings.push_sources.items()}

    def on_points(source_id: str, frame: pl.DataFrame) -> None:
        points, rejected = validate_points(frame_to_raw(frame), service.catalog,
                                            PointLimits.from_settings(service.settings, service.clock.now()))
        if rejected:
            first = rejected[0]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{len(rejected)} points rejected, e.g. point {first.index + 1}: {first.reason}")
        with service.sessions() as session:
            write_points(service, session, points, user=f"push:{source_id}", now=service.clock.now())
        service.metrics.count_points(len(points), 0)

    return push_router(sources, on_points, clock=service.clock,
                       window=timedelta(seconds=service.settings.push_window_seconds), prefix=PREFIX)


__all__ = ["PREFIX", "build_push_router"]
