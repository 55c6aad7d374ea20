"""双11 ingest: many requests in flight at once must all be served — each request holds one
database connection (auth and upsert share it), so the pool never deadlocks; when the pool or the
database is not available the answer is 503 with Retry-After, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shopsentinel.core.clock import ManualClock
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


async def _post_round(api: Api, batches: list[int]) -> dict[int, httpx.Response]:
    """Post every batch at once; the answers by batch number."""
    answers: dict[int, httpx.Response] = {}
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60,
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        async def one(i: int) -> None:
            answers[i] = await client.post("/api/v1/points", json=_batch(i))

        async with anyio.create_task_group() as tg:
            for i in batches:
                tg.start_soon(one, i)
    return answers


def _stored(api: Api) -> int:
    with api.service.sessions() as session:
        return session.scalar(select(func.count()).select_from(PointRow)) or 0


def test_32_concurrent_posts_all_admitted_are_all_served_and_stored(api_factory: Any, database_url: str,
                                                                    clock: ManualClock) -> None:
    """Admission wide open: 32 requests really in flight at once share the pool without a deadlock."""
    api = api_factory(database_url, clock, max_ingest_in_flight=1000)  # admission out of the way
    answers = anyio.run(_post_round, api, list(range(IN_FLIGHT)))
    assert sorted({r.status_code for r in answers.values()}) == [200], {i: r.text for i, r in answers.items()}
    assert _stored(api) == IN_FLIGHT * PER_REQUEST


def test_past_the_admission_limit_requests_are_shed_with_retry_after_and_nothing_is_lost(api: Api) -> None:
    """Default admission (8 in flight): the rest are 503 + Retry-After at once; a client that posts
    them again (next round) gets everything stored — no 500, no point lost or doubled."""
    pending = list(range(IN_FLIGHT))
    statuses: list[int] = []
    rounds = 0
    while pending and rounds < IN_FLIGHT:
        rounds += 1
        answers = anyio.run(_post_round, api, pending)
        statuses += [r.status_code for r in answers.values()]
        shed = [i for i, r in answers.items() if r.status_code == 503]
        assert all(answers[i].headers.get("Retry-After") == "1" for i in shed)
        assert sum(r.status_code == 200 for r in answers.values()) >= 1  # every round makes progress
        pending = shed
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) == IN_FLIGHT
    assert _stored(api) == IN_FLIGHT * PER_REQUEST


def test_an_exhausted_pool_is_503_with_retry_after(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 30 reached")

    monkeypatch.setattr(type(api.service.points), "upsert_in", exhausted)
    response = api.post("/api/v1/points", json=_batch(0))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
