"""The metric library (指标库)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shopsentinel.api.deps import Reader, ServiceDep

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])


@router.get("")
def catalog(service: ServiceDep, _reader: Reader) -> dict[str, list[dict[str, Any]]]:
    return {"items": [m.as_dict() for m in service.catalog]}
