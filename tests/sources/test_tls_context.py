"""Every connector client of a process shares one TLS context (building one loads the CA bundle)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.sources.kit.http import tls_context
from shopsentinel.sources.registry import CONNECTORS, build_source

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _pool_context(client: httpx.AsyncClient) -> object:
    return client._transport._pool._ssl_context  # type: ignore[attr-defined]


def _clients(obj: Any, depth: int = 2) -> list[httpx.AsyncClient]:
    if isinstance(obj, httpx.AsyncClient):
        return [obj]
    if depth == 0 or not hasattr(obj, "__dict__"):
        return []
    return [c for value in vars(obj).values() for c in _clients(value, depth - 1)]


def test_tls_context_is_built_once_per_process() -> None:
    assert tls_context() is tls_context()
    assert _pool_context(httpx.AsyncClient(verify=tls_context())) is tls_context()
    assert _pool_context(httpx.AsyncClient()) is not tls_context()  # what a client builds on its own


@pytest.mark.parametrize("platform", sorted(CONNECTORS))
def test_every_connector_client_uses_the_shared_context(platform: str) -> None:
    found = CONNECTORS[platform]
    config = found.config_model.model_validate(dict(found.example))
    source = build_source(platform, config, clock=ManualClock(NOW), on_tokens=lambda tokens: None)
    try:
        clients = _clients(source)
        assert clients, f"{platform}: no HTTP client found"
        assert all(_pool_context(c) is tls_context() for c in clients), platform
    finally:
        asyncio.run(source.aclose())
