"""Bearer-token guessing is throttled per client address on the service clock (issue 14, item 5): after
``token_max_failures`` unknown tokens from one address every request from it is 429 with Retry-After,
the valid token included, until the failures leave the window; other addresses are not affected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import httpx
from fastapi import FastAPI

from shopsentinel.core.clock import ManualClock
from tests.support.service import ADMIN_TOKEN

ATTACKER = ("203.0.113.7", 40001)
NEIGHBOUR = ("198.51.100.20", 40002)
THROTTLED = "此地址的无效令牌过多，请稍后重试 / too many unknown tokens from this address; retry later"


def call(app: FastAPI, token: str | None, client: tuple[str, int], url: str = "/api/v1/alerts") -> httpx.Response:
    """One GET from ``client`` (the ASGI scope's client address)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as http:
            return await http.get(url)

    return anyio.run(go)


def test_unknown_tokens_from_one_address_are_throttled_until_the_window_passes(
        api_factory: Any, database_url: str, clock: ManualClock) -> None:
    api = api_factory(database_url, clock, token_max_failures=3, token_failure_window_seconds=300)
    app = api.app
    for i in range(3):  # failures at +0 s, +5 s and +10 s
        if i:
            clock.advance(timedelta(seconds=5))
        response = call(app, f"guess-{i:04d}-xxxxxxxx", ATTACKER)
        assert response.status_code == 401, (i, response.text)
        assert "retry-after" not in response.headers
    refused = call(app, "guess-9999-xxxxxxxx", ATTACKER)
    assert refused.status_code == 429 and refused.json() == {"detail": THROTTLED}
    assert refused.headers["retry-after"] == "290"  # until the first failure leaves the 300 s window
    valid = call(app, ADMIN_TOKEN, ATTACKER)
    assert valid.status_code == 429 and valid.headers["retry-after"] == "290"  # no token is even looked up
    # another address is not affected: its valid token works, its first unknown token is a plain 401
    assert call(app, ADMIN_TOKEN, NEIGHBOUR).status_code == 200
    assert call(app, "guess-neighbour-xxxx", NEIGHBOUR).status_code == 401
    assert call(app, ADMIN_TOKEN, NEIGHBOUR).status_code == 200
    # a missing token is 401 and does not count as a guess; anonymous routes stay open
    assert call(app, None, NEIGHBOUR).status_code == 401
    assert call(app, None, ATTACKER, "/healthz").status_code == 200
    clock.advance(timedelta(seconds=289))
    still = call(app, ADMIN_TOKEN, ATTACKER)
    assert still.status_code == 429 and still.headers["retry-after"] == "1"
    clock.advance(timedelta(seconds=1))  # 300 s after the first failure: two failures left in the window
    assert call(app, ADMIN_TOKEN, ATTACKER).status_code == 200
    assert call(app, "guess-again-xxxxxxxx", ATTACKER).status_code == 401  # the third one in the window again
    again = call(app, ADMIN_TOKEN, ATTACKER)
    assert again.status_code == 429 and again.headers["retry-after"] == "5"  # the second failure leaves at +305 s


def test_revoked_tokens_count_as_unknown(api_factory: Any, database_url: str, clock: ManualClock) -> None:
    api = api_factory(database_url, clock, token_max_failures=2)
    created = api.post("/api/v1/tokens", json={"user": "li.viewer", "role": "viewer"}).json()
    assert call(api.app, created["token"], ATTACKER).status_code == 200
    assert api.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
    assert [call(api.app, created["token"], ATTACKER).status_code for _ in range(3)] == [401, 401, 429]
