"""双11 ingest: many requests in flight at once must all be served — each request holds one
database connection (auth and upsert share it), so the pool never deadlocks; when the pool or the
database is not available the answer is 503 with Retry-After, never a 500."""

from __future__ import annotations

from datetime import timedelta

import anyio
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shopsentinel.store.state import PointRow
from tests.support.service import ADMIN_TOKEN, START, Api

IN_FLIGHT = 32
PER_REQUEST = 250


def _batch(i: int) -> dict[str, list[dict[str, object]]]:
    store = f"tm-{i % 8}"
    return {"points": [
        {"ts": (START - timedelta(hours=j + 1)).isoformat(), "platform": "tmall", "store": store,
         "metric": "uv", "sku": f"sku-{i}", "value": float(j)}
        for j in range(PER_REQUEST)
    ]}


def test_32_concurrent_posts_are_all_served_and_stored(api: Api) -> None:
    statuses: list[int] = []

    async def post_all() -> None:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
            async def one(i: int) -> None:
                response = await client.post("/api/v1/points", json=_batch(i))
                statuses.append(response.status_code)

            async with anyio.create_task_group() as tg:
                for i in range(IN_FLIGHT):
                    tg.start_soon(one, i)

    anyio.run(post_all)
    assert sorted(set(statuses)) == [200], statuses
    with api.service.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(PointRow))
    assert stored == IN_FLIGHT * PER_REQUEST


def test_an_exhausted_pool_is_503_with_retry_after(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 30 reached")

    monkeypatch.setattr(type(api.service.points), "upsert_in", exhausted)
    response = api.post("/api/v1/points", json=_batch(0))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
