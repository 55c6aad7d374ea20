"""Load shedding on the write paths: at most N ingest requests in flight, the next one is 503 +
Retry-After at once (its body unread), other routes are never shed, and a slot frees when a request
ends — also when it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopsentinel.api.admission import Admission


def gated_app() -> tuple[Starlette, asyncio.Event, list[int]]:
    """An app whose points route waits for ``gate`` (so requests stay in flight) and records the
    size of every body it read."""
    gate = asyncio.Event()
    bodies: list[int] = []

    async def points(request: Request) -> JSONResponse:
        bodies.append(len(await request.body()))
        await gate.wait()
        return JSONResponse({"ok": True})

    async def boom(_request: Request) -> JSONResponse:
        raise RuntimeError("handler failed")

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/api/v1/points", points, methods=["POST"]),
                            Route("/api/v1/push/boom", boom, methods=["POST"]),
                            Route("/healthz", health)])
    return app, gate, bodies


async def _until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0)  # yield to the in-flight requests; bounded, not a wait for time
    raise AssertionError(f"never happened: {what}")


def test_the_request_past_the_limit_is_shed_at_once_and_a_slot_frees_when_one_ends() -> None:
    async def scenario() -> None:
        app, gate, bodies = gated_app()
        admission = Admission(app, max_in_flight=2, retry_after=3)
        transport = httpx.ASGITransport(app=admission)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            held = [asyncio.create_task(client.post("/api/v1/points", content=b"x" * 10)) for _ in range(2)]
            await _until(lambda: admission.in_flight == 2 and len(bodies) == 2, "two requests in flight")

            shed = await client.post("/api/v1/points", content=b"y" * 1000)
            assert shed.status_code == 503
            assert shed.headers["retry-after"] == "3"
            assert "服务繁忙" in shed.json()["detail"]
            assert bodies == [10, 10]  # the shed request's body was never read
            assert admission.refused == 1

            # Other routes and methods are never shed.
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/api/v1/points")).status_code == 405

            gate.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
            assert admission.in_flight == 0
            again = await client.post("/api/v1/points", content=b"z")
            assert again.status_code == 200

    asyncio.run(scenario())


def test_a_failing_request_gives_its_slot_back() -> None:
    async def scenario() -> None:
        app, _gate, _bodies = gated_app()
        admission = Admission(app, max_in_flight=1)
        transport = httpx.ASGITransport(app=admission, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(3):
                assert (await client.post("/api/v1/push/boom")).status_code == 500
            assert admission.in_flight == 0 and admission.refused == 0

    asyncio.run(scenario())


def test_small_requests_keep_a_lane_of_their_own_under_a_burst_of_big_batches() -> None:
    """Live updates of one store-hour are small; backfill batches are big. With 4 slots, one is kept
    for small bodies: the fourth big batch is shed while a small update still gets in."""
    async def scenario() -> None:
        app, gate, bodies = gated_app()
        admission = Admission(app, max_in_flight=4, small_bytes=1024)
        assert admission.reserved_small == 1
        transport = httpx.ASGITransport(app=admission)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            big = [asyncio.create_task(client.post("/api/v1/points", content=b"b" * 5000)) for _ in range(3)]
            await _until(lambda: admission.in_flight == 3, "three big batches in flight")
            assert (await client.post("/api/v1/points", content=b"b" * 5000)).status_code == 503
            small = asyncio.create_task(client.post("/api/v1/points", content=b"s" * 200))
            await _until(lambda: admission.in_flight == 4, "the small update admitted beside them")
            assert (await client.post("/api/v1/points", content=b"s" * 200)).status_code == 503  # now truly full
            gate.set()
            assert [r.status_code for r in await asyncio.gather(*big, small)] == [200, 200, 200, 200]
            assert sorted(bodies) == [200, 5000, 5000, 5000]

    asyncio.run(scenario())


def test_while_news_is_judged_bulk_writes_go_one_at_a_time_and_small_live_updates_keep_their_lane() -> None:
    async def scenario() -> None:
        app, gate, bodies = gated_app()
        judging = {"now": False}
        admission = Admission(app, max_in_flight=4, small_bytes=100, judging=lambda: judging["now"])
        transport = httpx.ASGITransport(app=admission)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            judging["now"] = True
            first = asyncio.create_task(client.post("/api/v1/points", content=b"b" * 1000))
            await _until(lambda: admission.in_flight == 1, "one bulk write in flight")
            second = await client.post("/api/v1/points", content=b"b" * 1000)
            assert second.status_code == 503  # a second bulk write waits until the crash is judged
            small = asyncio.create_task(client.post("/api/v1/points", content=b"s" * 50))
            await _until(lambda: admission.in_flight == 2, "a small live update admitted beside it")
            judging["now"] = False  # judged: bulk writes get their usual slots back
            more = asyncio.create_task(client.post("/api/v1/points", content=b"b" * 1000))
            await _until(lambda: admission.in_flight == 3, "a second bulk write admitted again")
            gate.set()
            assert [r.status_code for r in await asyncio.gather(first, small, more)] == [200] * 3
            assert admission.refused == 1 and sorted(bodies) == [50, 1000, 1000]

    asyncio.run(scenario())
