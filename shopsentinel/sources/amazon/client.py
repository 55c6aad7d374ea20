"""SP-API HTTP client: LWA token header, error bodies, 429 token-bucket throttling.

Errors are real HTTP codes with ``{"errors":[{"code","message","details"}]}``: 401/403 →
:class:`AuthError` (an expired token is refreshed once first), 429 → :class:`ThrottledError`
waiting one token of the bucket (``1 / x-amzn-RateLimit-Limit`` seconds), others →
:class:`PlatformError` with the SP-API code. GETs whose connection drops are resent
(:mod:`shopsentinel.sources.kit.resend`), and so is createReport (see streams.py); other POSTs are not.
"""

from __future__ import annotations

from typing import Any

import httpx

from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.sources.amazon.signing import LwaAuth
from shopsentinel.sources.kit import Sleep, ThrottleWaiter, resend_dropped, wall_sleep

RATE_HEADER = "x-amzn-RateLimit-Limit"


class TokenRejected(AuthError):
    """SP-API refused the access token (expired or revoked); refresh once and retry."""


def retry_after(response: httpx.Response, default: float) -> float:
    """Seconds until the bucket holds one more request token: ``1 / rate``."""
    try:
        rate = float(response.headers.get(RATE_HEADER, ""))
    except ValueError:
        return default
    return 1.0 / rate if rate > 0 else default


def raise_for_errors(operation: str, response: httpx.Response, default_wait: float) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise PlatformError(f"amazon {operation}: HTTP {response.status_code}, not JSON") from exc
    if response.status_code < 400:
        return body if isinstance(body, dict) else {}
    errors = body.get("errors") or [{}]
    code = str(errors[0].get("code", f"HTTP{response.status_code}"))
    detail = f"amazon {operation}: HTTP {response.status_code} {code}: {errors[0].get('message', '')}"
    if errors[0].get("details"):
        detail += f" ({errors[0]['details']})"
    if response.status_code == 429:
        raise ThrottledError(detail, retry_after(response, default_wait))
    if response.status_code == 403 and "expired" in detail.lower():
        raise TokenRejected(detail)
    if response.status_code in (401, 403):
        raise AuthError(detail)
    raise PlatformError(detail, code=code)


class AmazonClient:
    def __init__(
        self, http: httpx.AsyncClient, auth: LwaAuth, waiter: ThrottleWaiter, *, default_wait: float = 1.0,
        sleep: Sleep = wall_sleep,
    ) -> None:
        self._http, self._auth, self._waiter, self._default_wait = http, auth, waiter, default_wait
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"AmazonClient(base_url={str(self._http.base_url)!r})"

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None,
        resend: bool | None = None,
    ) -> dict[str, Any]:
        """One SP-API call, with throttling waited out and one token refresh on rejection.

        ``resend`` (default: GET only) sends the call again when its connection drops."""
        again = method.upper() == "GET" if resend is None else resend

        async def attempt() -> dict[str, Any]:
            try:
                return await self._send(method, path, params, body, again)
            except TokenRejected:
                self._auth.invalidate()
                return await self._send(method, path, params, body, again)

        return await self._waiter.run(attempt)

    async def download(self, url: str) -> bytes:
        """A report document's pre-signed URL: no SP-API token, plain GET."""
        try:
            response = await resend_dropped(lambda: self._http.get(url), what="amazon report download", sleep=self._sleep)
        except httpx.HTTPError as exc:
            raise SourceError(f"amazon report download: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise PlatformError(f"amazon report download: HTTP {response.status_code}", code=str(response.status_code))
        return response.content

    async def _send(
        self, method: str, path: str, params: dict[str, Any] | None, body: dict[str, Any] | None, resend: bool
    ) -> dict[str, Any]:
        headers = {"x-amz-access-token": await self._auth.access_token(), "accept": "application/json"}

        async def send() -> httpx.Response:
            return await self._http.request(method, path, params=params, json=body, headers=headers)

        try:
            if resend:
                response = await resend_dropped(send, what=f"amazon {method} {path}", sleep=self._sleep)
            else:
                response = await send()
        except httpx.HTTPError as exc:
            raise SourceError(f"amazon {method} {path}: {type(exc).__name__}: {exc}") from exc
        return raise_for_errors(f"{method} {path}", response, self._default_wait)
