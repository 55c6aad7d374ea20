"""The signed push endpoint for RPA tools: signature, time window, replay, store binding, row formats.

Requests go through ``httpx.ASGITransport`` (in-process, like TestClient; starlette's TestClient
warns about its httpx backend here, and warnings are errors)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.sources.push import SIGNATURE_HEADER, TIMESTAMP_HEADER, PushSource, push_router, sign_push

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
SECRET = "rpa-secret-77"
CANONICAL = {"rows": [{"ts": "2026-11-01T20:00:00+08:00", "metric": "uv", "value": 3980},
                      {"ts": "2026-11-01T12:00:00Z", "metric": "stock", "value": 12, "sku": "SKU-1"}]}


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.received: list[tuple[str, pl.DataFrame]] = []
        sources = {"rpa-tm": PushSource(SecretStr(SECRET), "tmall", "tm-1")}
        self.app = FastAPI()
        self.app.include_router(push_router(sources, lambda sid, frame: self.received.append((sid, frame)), clock=self.clock))

    def raw_post(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://push.test") as client:
                return await client.post(path, content=content, headers=headers)

        return asyncio.run(call())

    def post(self, payload: Any, *, secret: str = SECRET, sent: datetime | None = None, source: str = "rpa-tm",
             body: bytes | None = None, signature: str | None = None) -> Any:
        raw = body if body is not None else json.dumps(payload, ensure_ascii=False).encode()
        stamp = int((sent or self.clock.now()).timestamp())
        headers = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: signature or sign_push(secret, stamp, raw),
                   "content-type": "application/json"}
        return self.raw_post(f"/push/{source}", raw, headers)


@pytest.fixture
def world() -> World:
    return World()


def test_signed_canonical_rows_are_accepted_as_points_of_the_bound_store(world: World) -> None:
    response = world.post(CANONICAL)
    assert response.status_code == 200 and response.json() == {"accepted": 2, "store": "tm-1"}
    (source_id, frame), = world.received
    assert source_id == "rpa-tm" and set(frame["store"]) == {"tm-1"} and set(frame["platform"]) == {"tmall"}
    assert frame.filter(pl.col("metric") == "uv")["ts"][0] == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert frame.filter(pl.col("metric") == "stock")["sku"][0] == "SKU-1"


def test_console_native_rows_use_the_export_tables(world: World) -> None:
    payload = {"console": "sycm", "rows": [{"统计日期": "2026-11-01", "小时": "20", "访客数": "3,980", "支付金额": "¥12,876.40"}]}
    response = world.post(payload)
    assert response.status_code == 200, response.text
    frame = world.received[0][1]
    assert dict(zip(frame["metric"], frame["value"], strict=True)) == {"gmv": 12876.4, "uv": 3980.0}


@pytest.mark.parametrize("case", ["wrong secret", "tampered body", "missing signature", "garbage signature"])
def test_bad_signatures_are_rejected(world: World, case: str) -> None:
    raw = json.dumps(CANONICAL).encode()
    if case == "wrong secret":
        response = world.post(CANONICAL, secret="guess")
    elif case == "tampered body":
        stamp = int(NOW.timestamp())
        response = world.post(None, body=raw.replace(b"3980", b"9999"), signature=sign_push(SECRET, stamp, raw))
    elif case == "missing signature":
        response = world.raw_post("/push/rpa-tm", raw, {TIMESTAMP_HEADER: str(int(NOW.timestamp()))})
    else:
        response = world.post(CANONICAL, signature="sha256=00")
    assert response.status_code == 401 and world.received == []


def test_expired_or_future_timestamps_are_rejected(world: World) -> None:
    assert world.post(CANONICAL, sent=NOW - timedelta(minutes=6)).status_code == 401
    assert world.post(CANONICAL, sent=NOW + timedelta(minutes=6)).status_code == 401
    assert world.post(CANONICAL, sent=NOW - timedelta(minutes=4)).status_code == 200


def test_a_replayed_request_is_rejected_even_inside_the_window(world: World) -> None:
    raw = json.dumps(CANONICAL).encode()
    stamp = int(NOW.timestamp())
    signature = sign_push(SECRET, stamp, raw)
    assert world.post(None, body=raw, signature=signature).status_code == 200
    world.clock.advance(timedelta(seconds=30))
    assert world.post(None, body=raw, signature=signature, sent=NOW).status_code == 409
    assert len(world.received) == 1


def test_unknown_source_and_bad_rows(world: World) -> None:
    assert world.post(CANONICAL, source="someone-else").status_code == 404
    bad = {"rows": [{"ts": "2026-11-01 12:00", "metric": "uv", "value": 1}]}  # no offset
    assert world.post(bad).status_code == 422
    assert world.post({"rows": [{"ts": "2026-11-01T12:00:00Z", "metric": "uv", "value": "many"}]}).status_code == 422
    assert world.post({"console": "sycm", "rows": [{"统计日期": "2026-11-01", "访客数": "x"}]}).status_code == 422
    assert world.received == []
    assert SECRET not in repr(PushSource(SecretStr(SECRET), "tmall", "tm-1"))


def test_signed_export_file_upload_is_parsed_and_a_bad_one_names_its_line(world: World) -> None:
    fixtures = Path(__file__).parents[1] / "fixtures" / "exports"
    raw = (fixtures / "sycm_daily.xlsx").read_bytes()
    stamp = int(NOW.timestamp())
    headers = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign_push(SECRET, stamp, raw)}
    response = world.raw_post("/push/rpa-tm/file?filename=sycm_daily.xlsx", raw, headers)
    assert response.status_code == 200 and response.json()["console"] == "sycm", response.text
    assert world.received[0][1].filter(pl.col("metric") == "uv").height == 2
    bad = (fixtures / "sycm_malformed.csv").read_bytes()
    headers = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign_push(SECRET, stamp, bad)}
    rejected = world.raw_post("/push/rpa-tm/file?filename=sycm_malformed.csv", bad, headers)
    assert rejected.status_code == 422 and "sycm_malformed.csv, line 5, column '支付金额'" in rejected.json()["detail"]
    unsigned = world.raw_post("/push/rpa-tm/file?filename=x.csv", bad, {TIMESTAMP_HEADER: str(stamp)})
    assert unsigned.status_code == 401 and len(world.received) == 1
