"""Login with Amazon (LWA): the only credential SP-API needs since 2023-10-02 (no SigV4).

``POST https://api.amazon.com/auth/o2/token`` (form) with ``grant_type=refresh_token``,
``refresh_token``, ``client_id``, ``client_secret`` → ``access_token`` valid ``expires_in`` (3600)
seconds, sent as header ``x-amz-access-token``. :class:`LwaAuth` caches the token and refreshes
it ``margin`` before it expires, on the injected clock.

>>> sorted(refresh_form("cid", SecretStr("cs"), SecretStr("rt")))
['client_id', 'client_secret', 'grant_type', 'refresh_token']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from pydantic import SecretStr

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import AuthError, PlatformError, SourceError

LWA_URL = "https://api.amazon.com/auth/o2/token"


def refresh_form(client_id: str, client_secret: SecretStr, refresh_token: SecretStr) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token.get_secret_value(),
        "client_id": client_id,
        "client_secret": client_secret.get_secret_value(),
    }


@dataclass(frozen=True)
class LwaToken:
    access_token: str
    expires_at: datetime


async def request_token(
    http: httpx.AsyncClient, url: str, form: dict[str, str], now: datetime
) -> LwaToken:
    """Exchange the refresh token; LWA errors (``invalid_client``, ``invalid_grant``) → AuthError."""
    try:
        response = await http.post(url, data=form)
    except httpx.HTTPError as exc:
        raise SourceError(f"amazon LWA: {type(exc).__name__}: {exc}") from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise PlatformError(f"amazon LWA: HTTP {response.status_code}, not JSON") from exc
    if response.status_code != 200:
        error = body.get("error", f"HTTP {response.status_code}")
        message = f"amazon LWA {error}: {body.get('error_description', '')}"
        if response.status_code in (400, 401, 403):
            raise AuthError(message)
        raise PlatformError(message, code=str(error))
    return LwaToken(str(body["access_token"]), now + timedelta(seconds=int(body.get("expires_in", 3600))))


class LwaAuth:
    """The current access token, refreshed ``margin`` before expiry or when SP-API rejects it."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        clock: Clock,
        url: str = LWA_URL,
        margin: timedelta = timedelta(minutes=5),
    ) -> None:
        self._http, self._url, self._clock, self._margin = http, url, clock, margin
        self._client_id, self._client_secret, self._refresh_token = client_id, client_secret, refresh_token
        self._token: LwaToken | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"LwaAuth(url={self._url!r})"

    async def access_token(self) -> str:
        if self._token is None or self._token.expires_at - self._margin <= self._clock.now():
            self._token = await request_token(
                self._http, self._url, refresh_form(self._client_id, self._client_secret, self._refresh_token),
                self._clock.now(),
            )
            self.refreshes += 1
        return self._token.access_token

    def invalidate(self) -> None:
        self._token = None
