"""SP-API HTTP client: LWA token header, error bodies, 429 token-bucket throttling.

Errors are real HTTP codes with ``{"errors":[{"code","message","details"}]}``: 401/403 →
:class:`AuthError` (an expired token is refreshed once first), 429 → :class:`ThrottledError`
waiting one token of the bucket (``1 / x-amzn-RateLimit-Limit`` seconds), others →
:class:`PlatformError` with the SP-API code.
"""

from __future__ import annotations

from typing import Any

import httpx

from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.sources._http import ThrottleWaiter
from shopsentinel.sources.amazon.signing import LwaAuth

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
        self, http: httpx.AsyncClient, auth: LwaAuth, waiter: ThrottleWaiter, *, default_wait: float = 1.0
    ) -> None:
        self._http, self._auth, self._waiter, self._default_wait = http, auth, waiter, default_wait

    def __repr__(self) -> str:
        return f"AmazonClient(base_url={str(self._http.base_url)!r})"

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One SP-API call, with throttling waited out and one token refresh on rejection."""
        async def attempt() -> dict[str, Any]:
            try:
                return await self._send(method, path, params, body)
            except TokenRejected:
                self._auth.invalidate()
                return await self._send(method, path, params, body)

        return await self._waiter.run(attempt)

    async def download(self, url: str) -> bytes:
        """A report document's pre-signed URL: no SP-API token, plain GET."""
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise SourceError(f"amazon report download: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise PlatformError(f"amazon report download: HTTP {response.status_code}", code=str(response.status_code))
        return response.content

    async def _send(
        self, method: str, path: str, params: dict[str, Any] | None, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        headers = {"x-amz-access-token": await self._auth.access_token(), "accept": "application/json"}
        try:
            response = await self._http.request(method, path, params=params, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SourceError(f"amazon {method} {path}: {type(exc).__name__}: {exc}") from exc
        return raise_for_errors(f"{method} {path}", response, self._default_wait)
