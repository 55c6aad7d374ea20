"""Login throttling through the real form with its CSRF token (issue 14, item 5): five wrong passwords
make the sixth attempt — even with the right password — a 429 with Retry-After and 尝试次数过多, per
account (from any address) and per address (for any account); once the service clock passes the
back-off the right password signs in."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import anyio
import httpx
from fastapi import FastAPI

from shopsentinel.core.clock import ManualClock
from tests.web.conftest import PASSWORDS, Client

TOO_MANY = "尝试次数过多，请稍后再试"


class From(Client):
    """The alert center's client, calling from a given address (the ASGI scope's client)."""

    def __init__(self, app: FastAPI, host: str) -> None:
        super().__init__(app)
        self.address = (host, 51000)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=self.address)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", cookies=self.cookies) as client:
                response = await client.request(method, url, **kwargs)
                self.cookies = client.cookies
                return response

        return anyio.run(go)


def signed_in(response: httpx.Response) -> bool:
    return response.status_code == 303 and "ss_session" in response.headers.get("set-cookie", "")


def assert_throttled(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    assert TOO_MANY in response.text
    assert "ss_session" not in response.headers.get("set-cookie", "")


def test_five_wrong_passwords_then_even_the_right_one_waits_until_the_back_off_passes(
        web_app: FastAPI, clock: ManualClock) -> None:
    client = From(web_app, "203.0.113.9")
    for i in range(5):
        response = client.login("editor", f"wrong-{i}")
        assert response.status_code == 401 and "用户名或密码错误" in response.text, (i, response.status_code)
    assert_throttled(client.login("editor"), 30)  # the sixth attempt, with the right password
    clock.advance(timedelta(seconds=29))
    assert_throttled(client.login("editor"), 1)
    clock.advance(timedelta(seconds=1))
    assert signed_in(client.login("editor"))
    assert client.get("/").status_code == 200  # the session works


def test_the_account_key_blocks_guesses_from_every_address(web_app: FastAPI, clock: ManualClock) -> None:
    for i in range(5):
        assert From(web_app, f"198.51.100.{i + 1}").login("viewer", "nope").status_code == 401
    fresh = From(web_app, "198.51.100.99")  # an address that never failed
    assert_throttled(fresh.login("viewer"), 30)
    assert signed_in(fresh.login("editor"))  # other accounts from there are fine
    clock.advance(timedelta(seconds=30))
    assert fresh.login("viewer", "still-wrong").status_code == 401  # the sixth failure doubles the back-off
    assert_throttled(fresh.login("viewer"), 60)
    clock.advance(timedelta(seconds=60))
    assert signed_in(fresh.login("viewer"))


def test_the_address_key_blocks_every_account_from_that_address(web_app: FastAPI, clock: ManualClock) -> None:
    sprayer = From(web_app, "192.0.2.50")
    for name in ("root", "test", "ops", "viewer", "boss"):
        assert sprayer.login(name, "123456").status_code == 401
    assert_throttled(sprayer.login("admin"), 30)  # the right password of a real account, from that address
    assert signed_in(From(web_app, "192.0.2.51").login("admin"))  # the neighbour address is not blocked
    clock.advance(timedelta(seconds=30))
    assert signed_in(sprayer.login("admin"))


def test_a_bad_csrf_token_is_refused_before_the_throttle_counts(web_app: FastAPI) -> None:
    client = From(web_app, "203.0.113.10")
    client.get("/login")
    for _ in range(6):
        response = client.post("/login", data={"username": "editor", "password": "x", "csrf": "forged", "next": "/"})
        assert response.status_code == 403
    assert signed_in(client.login("editor", PASSWORDS["editor"]))


def test_a_successful_login_clears_the_account_but_not_the_address(web_app: FastAPI) -> None:
    client = From(web_app, "203.0.113.11")
    for _ in range(4):
        assert client.login("editor", "wrong").status_code == 401
    assert signed_in(client.login("editor"))
    assert client.login("viewer", "wrong").status_code == 401  # the address's fifth failure
    response = client.login("viewer")
    assert_throttled(response, 30)
    assert re.search(r'name="csrf" value="[^"]+"', response.text)  # the page still carries the form
