"""Bounded requests (issue 14, item 4) through the ASGI app on SQLite and PostgreSQL: each bad point of a
batch is rejected on its own with its index and a reason while the good ones are stored; client times
outside [1970, 3000) and oversized row ids are 422/404, never 500; a body over the limit is 413 before
any token is checked (declared or streamed), and the export upload has its own, larger limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from shopsentinel.core.clock import ManualClock
from shopsentinel.store.state import PointRow, SilenceRow

Api = Any  # tests/support/service.py's synchronous client

GOOD = [
    {"ts": "2026-11-09T10:00:00Z", "platform": "tmall", "store": "tm-1", "metric": "uv", "value": 500},
    {"ts": "2026-11-09T11:00:00+08:00", "platform": "tmall", "store": "tm-1", "metric": "orders", "value": 12},
    {"ts": "2026-11-09T12:00:00Z", "platform": "jd", "store": "jd-1", "metric": "uv", "value": 0.5},
]


def point(**changes: Any) -> dict[str, Any]:
    return {"ts": "2026-11-09T10:00:00Z", "platform": "tmall", "store": "tm-bad", "metric": "uv", "value": 1, **changes}


def mixed_batch() -> tuple[bytes, dict[int, list[str]]]:
    """Raw JSON (so that ``1e400`` and ``"\\ud800"`` arrive exactly as a client would send them) and,
    per bad index, the fragments its reason must hold (Chinese first where the code gives one)."""
    items: list[Any] = [
        GOOD[0],
        point(value=10**400 + 1),  # 401 digits
        point(value=1e308),
        point(value="__INF__"),  # becomes the JSON number 1e400, which parses to inf
        GOOD[1],
        point(ts="0001-01-01T00:00:00+01:00"),
        point(ts="9999-12-31T23:59:59-01:00"),
        point(store="tm-\ud800"),  # json.dumps writes the lone surrogate as the escape \ud800
        point(metric="m" * 3000),
        GOOD[2],
    ]
    text = json.dumps({"points": items}).replace('"__INF__"', "1e400")
    assert "\\ud800" in text and "1e400" in text and len(str(10**400 + 1)) == 401
    expected = {
        1: ["数值 <401-digit integer> 过大 / value <401-digit integer> is too large"],
        2: ["数值 1e+308 超出 ±1e+15 / value 1e+308 is beyond ±1e+15"],
        3: ["数值 inf 不是有限数 / value inf is not a finite number"],
        5: ["时间 '0001-01-01T00:00:00+01:00' 超出可表示范围 / timestamp '0001-01-01T00:00:00+01:00' is out of range"],
        6: ["时间 '9999-12-31T23:59:59-01:00' 超出可表示范围 / timestamp '9999-12-31T23:59:59-01:00' is out of range"],
        7: ["store 含无效 Unicode（孤立代理项） / store holds invalid Unicode (a lone surrogate)"],
        8: ["metric 过长（3000 字符，上限 128） / metric is 3000 characters, at most 128"],
    }
    return text.encode("ascii"), expected


def stored_points(api: Api) -> set[tuple[str, str, str, datetime, float]]:
    with api.service.sessions() as session:
        rows = session.execute(select(PointRow.platform, PointRow.store, PointRow.metric, PointRow.ts, PointRow.value)).all()
    return {(p, s, m, datetime.fromtimestamp(ts, UTC), v) for p, s, m, ts, v in rows}


def test_each_bad_point_is_rejected_with_its_reason_and_the_good_ones_are_stored(api: Api) -> None:
    body, expected = mixed_batch()
    response = api.post("/api/v1/points", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 3
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert sorted(reasons) == sorted(expected)
    for index, fragments in expected.items():
        for fragment in fragments:
            assert fragment in reasons[index], (index, reasons[index])
    assert "\ud800" not in response.text and "\\ud800" not in response.text  # the bad string is not echoed
    assert stored_points(api) == {
        ("tmall", "tm-1", "uv", datetime(2026, 11, 9, 10, tzinfo=UTC), 500.0),
        ("tmall", "tm-1", "orders", datetime(2026, 11, 9, 3, tzinfo=UTC), 12.0),
        ("jd", "jd-1", "uv", datetime(2026, 11, 9, 12, tzinfo=UTC), 0.5),
    }
    stores = {(s["platform"], s["store"]) for s in api.get("/api/v1/stores").json()["items"]}
    assert stores == {("tmall", "tm-1"), ("jd", "jd-1")}  # no store registered for a rejected point


def test_points_outside_the_service_window_are_rejected_by_the_service_clock(api: Api, clock: ManualClock) -> None:
    batch = [point(ts="2024-11-01T00:00:00Z"), point(ts="2026-11-11T01:00:00Z"), GOOD[0]]  # clock: 2026-11-10 00:00Z
    result = api.post("/api/v1/points", json={"points": batch}).json()
    assert result["accepted"] == 1 and [r["index"] for r in result["rejected"]] == [0, 1]
    assert all(r["reason"].startswith("时间 ") and " / timestamp " in r["reason"] for r in result["rejected"])


def test_client_times_outside_the_range_and_oversized_ids_are_422_or_404_never_500(api: Api) -> None:
    for since in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z"):
        response = api.get("/api/v1/alerts", params={"since": since})
        assert response.status_code == 422, (since, response.text)
        assert "超出范围" in response.json()["detail"]
    assert api.get("/api/v1/alerts", params={"since": "2026-11-01T00:00:00+08:00"}).status_code == 200
    matchers = [{"name": "store", "value": "tm-1"}]
    for ends_at in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):
        response = api.post("/api/v1/silences", json={"matchers": matchers, "ends_at": ends_at})
        assert response.status_code == 422, response.text
    ok = api.post("/api/v1/silences", json={"matchers": matchers, "ends_at": "2026-11-11T00:00:00+08:00"})
    assert ok.status_code == 201, ok.text
    with api.service.sessions() as session:
        assert len(session.scalars(select(SilenceRow)).all()) == 1  # only the good one was stored
    huge = 10**30
    assert api.post(f"/api/v1/playbook-runs/{huge}/approve").status_code == 422
    assert api.post("/api/v1/playbook-runs/2147483647/approve").status_code == 404  # the largest id the column holds
    assert api.get(f"/api/v1/silences/{huge}").status_code == 422
    assert api.get(f"/api/v1/alerts/{huge}").status_code == 404


def sycm_export(hours: int) -> bytes:
    """A 生意参谋 hourly export of ``hours`` rows (2026-11-01, Beijing time)."""
    lines = ["生意参谋-流量-店铺整体,,,,,,,,,", "统计时间：2026-11-01 ~ 2026-11-01,,,,,,,,,",
             "统计日期,小时,访客数,浏览量,支付买家数,支付子订单数,支付金额,支付转化率,跳失率,客单价"]
    lines += [f"2026-11-01,{h:02d}:00-{h + 1:02d}:00,{100 + h},{300 + h},2,2,¥200.00,2.00%,40.00%,¥100.00" for h in range(hours)]
    return ("\n".join(lines) + "\n").encode()


def test_the_export_upload_has_its_own_larger_limit_and_rejects_an_oversize_file(
        api_factory: Any, database_url: str, clock: ManualClock) -> None:
    api = api_factory(database_url, clock, max_body_bytes=1024, max_upload_bytes=4096)
    export = sycm_export(24)
    assert 1024 < len(export) < 4096
    # bigger than the general limit: refused on /points, accepted on /imports (its limit is the upload's)
    assert api.post("/api/v1/points", content=export, headers={"Content-Type": "application/json"}).status_code == 413
    files = {"file": ("sycm.csv", export, "text/csv")}
    response = api.post("/api/v1/imports", files=files, data={"platform": "tmall", "store": "tm-up"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] > 24
    # a file over max_upload_bytes (its multipart body within the route's framing allowance): the route's 413
    too_big = sycm_export(90)
    assert 4096 < len(too_big) < 4096 + 1024 * 1024
    response = api.post("/api/v1/imports", files={"file": ("big.csv", too_big, "text/csv")},
                        data={"platform": "tmall", "store": "tm-big"})
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == "big.csv: 文件过大，上限 4096 字节 / at most 4096 bytes"
    # and a body beyond even the framing allowance: the middleware's 413, before the route
    huge = b"x" * (4096 + 1024 * 1024 + 1)
    response = api.post("/api/v1/imports", files={"file": ("huge.csv", huge, "text/csv")},
                        data={"platform": "tmall", "store": "tm-big"})
    assert response.status_code == 413 and response.json()["detail"].startswith("请求体过大")
    with api.service.sessions() as session:
        stores = set(session.scalars(select(PointRow.store).distinct()))
    assert stores == {"tm-up"}


def test_a_declared_body_over_the_limit_is_413_before_auth(api_factory: Any, database_url: str, clock: ManualClock) -> None:
    api = api_factory(database_url, clock, max_body_bytes=2048)
    anonymous = api.as_token("")
    body = json.dumps({"points": [GOOD[0]] * 40}).encode()
    assert len(body) > 2048
    response = anonymous.post("/api/v1/points", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text  # not 401: no token was looked at
    assert response.json() == {"detail": "请求体过大，上限 2048 字节 / request body too large, at most 2048 bytes"}
    assert response.headers["connection"] == "close"
    assert anonymous.post("/api/v1/points", json={"points": [GOOD[0]]}).status_code == 401  # small: auth as usual
    wrong = api.as_token("not-a-real-token-at-all")
    assert wrong.post("/api/v1/points", content=body, headers={"Content-Type": "application/json"}).status_code == 413
    assert stored_points(api) == set()


def test_a_streamed_body_over_the_limit_is_413_without_content_length(
        api_factory: Any, database_url: str, clock: ManualClock) -> None:
    api = api_factory(database_url, clock, max_body_bytes=2048)
    chunk = json.dumps(GOOD[0]).encode() + b","
    sent: list[int] = []

    async def chunks(count: int) -> AsyncIterator[bytes]:
        yield b'{"points": ['
        for _ in range(count):
            sent.append(len(chunk))
            yield chunk
        yield json.dumps(GOOD[1]).encode() + b"]}"

    for client in (api, api.as_token("")):  # with the admin token and with none: 413 either way
        sent.clear()
        response = client.post("/api/v1/points", content=chunks(200), headers={"Content-Type": "application/json"})
        assert response.status_code == 413, response.text
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.json()["detail"].startswith("请求体过大，上限 2048 字节")
        assert sum(sent) < 2048 + 2 * len(chunk)  # reading stopped at the limit: the rest was never pulled
    assert stored_points(api) == set()
    small = api.post("/api/v1/points", content=chunks(2), headers={"Content-Type": "application/json"})
    assert small.status_code == 200 and small.json()["accepted"] == 3, small.text


@pytest.mark.parametrize("raw", [b'{"points": [{"ts": "2026-11-09T10:00:00Z", "platform": "tmall", "store": "\\ud800", '
                                 b'"metric": "uv", "value": 1}]', b'{"platforms": "\\udfff"}'])
def test_lone_surrogates_elsewhere_are_client_errors(api: Api, raw: bytes) -> None:
    response = api.post("/api/v1/points", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
