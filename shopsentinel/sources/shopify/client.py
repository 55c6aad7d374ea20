"""Shopify Admin GraphQL client: token header, token refresh, cost-based throttling, errors.

Throttling is a leaky bucket of cost points per app and store. Every response reports
``extensions.cost{requestedQueryCost, actualQueryCost, throttleStatus{maximumAvailable,
currentlyAvailable, restoreRate}}``. A ``THROTTLED`` error (HTTP 200 or 429) waits
``(requestedQueryCost - currentlyAvailable) / restoreRate`` seconds; after a success, the next
call of the same operation first waits whatever the bucket lacks for its last cost. Queries whose
connection drops are resent (:mod:`shopsentinel.sources.kit.resend`); token refreshes are not.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.sources.kit import Sleep, ThrottleWaiter, resend_dropped, wall_sleep


class TokenRejected(AuthError):
    """HTTP 401: the token is wrong or expired; refreshed once when the client can refresh."""


def cost_wait(cost: dict[str, Any] | None, default: float = 1.0) -> float:
    """Seconds until the bucket holds ``requestedQueryCost`` points again (0 if it already does)."""
    if not cost:
        return default
    status = cost.get("throttleStatus") or {}
    restore = float(status.get("restoreRate") or 0)
    missing = float(cost.get("requestedQueryCost") or 0) - float(status.get("currentlyAvailable") or 0)
    return max(missing, 0.0) / restore if restore > 0 else default


def raise_for_graphql(operation: str, response: httpx.Response) -> dict[str, Any]:
    """``data`` of a successful response, else the matching :class:`SourceError`."""
    try:
        body = response.json()
    except ValueError as exc:
        raise PlatformError(f"shopify {operation}: HTTP {response.status_code}, not JSON") from exc
    errors = body.get("errors") if isinstance(body, dict) else None
    if response.status_code == 401:
        raise TokenRejected(f"shopify {operation}: HTTP 401 {errors}")
    if response.status_code == 403:
        raise AuthError(f"shopify {operation}: HTTP 403 {errors} (missing access scope?)")
    if isinstance(errors, list) and errors:
        first = errors[0]
        code = str((first.get("extensions") or {}).get("code") or "GRAPHQL_ERROR")
        message = f"shopify {operation}: {code}: {first.get('message', '')}"
        if code == "THROTTLED" or response.status_code == 429:
            raise ThrottledError(message, cost_wait((body.get("extensions") or {}).get("cost")))
        if code == "ACCESS_DENIED":
            raise AuthError(message)
        raise PlatformError(message, code=code)
    if response.status_code == 429:
        raise ThrottledError(f"shopify {operation}: HTTP 429", float(response.headers.get("Retry-After", 1)))
    if response.status_code != 200 or not isinstance(body.get("data"), dict):
        raise PlatformError(f"shopify {operation}: HTTP {response.status_code} {errors}", code=str(response.status_code))
    result: dict[str, Any] = body
    return result


class ShopifyClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_version: str,
        clock: Clock,
        waiter: ThrottleWaiter,
        access_token: SecretStr | None = None,
        client_id: str | None = None,
        client_secret: SecretStr | None = None,
        refresh_token: SecretStr | None = None,
        refresh_margin: timedelta = timedelta(minutes=5),
        sleep: Sleep = wall_sleep,
    ) -> None:
        self._http, self._api_version, self._clock, self._waiter = http, api_version, clock, waiter
        self._sleep = sleep
        self._token = access_token.get_secret_value() if access_token else None
        self._expires_at: datetime | None = None
        self._client_id, self._client_secret, self._refresh_token = client_id, client_secret, refresh_token
        self._margin = refresh_margin
        self._next_wait: dict[str, float] = {}
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"ShopifyClient(base_url={str(self._http.base_url)!r}, api_version={self._api_version!r})"

    @property
    def can_refresh(self) -> bool:
        return bool(self._client_id and self._client_secret)

    async def query(self, operation: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one GraphQL operation; return ``data``."""
        async def attempt() -> dict[str, Any]:
            await self._waiter.wait(self._next_wait.pop(operation, 0.0))
            try:
                return await self._post(operation, query, variables)
            except TokenRejected:
                if not self.can_refresh:
                    raise
                await self.refresh()
                return await self._post(operation, query, variables)

        body = await self._waiter.run(attempt)
        self._next_wait[operation] = cost_wait((body.get("extensions") or {}).get("cost"), 0.0)
        data: dict[str, Any] = body["data"]
        return data

    async def refresh(self) -> None:
        """Mint a token: ``refresh_token`` grant for expiring offline tokens, else ``client_credentials`` [R]."""
        if not self.can_refresh or self._client_secret is None:
            raise AuthError("shopify: access token rejected and no client credentials to refresh it")
        form = {"client_id": str(self._client_id), "client_secret": self._client_secret.get_secret_value()}
        if self._refresh_token is not None:
            form |= {"grant_type": "refresh_token", "refresh_token": self._refresh_token.get_secret_value()}
        else:
            form["grant_type"] = "client_credentials"
        try:
            response = await self._http.post("/admin/oauth/access_token", json=form)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SourceError(f"shopify token refresh: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise AuthError(f"shopify token refresh: HTTP {response.status_code} {body.get('error', '')}: "
                            f"{body.get('error_description', '')}")
        self._token = str(body["access_token"])
        if body.get("refresh_token"):
            self._refresh_token = SecretStr(str(body["refresh_token"]))
        expires = body.get("expires_in")
        self._expires_at = self._clock.now() + timedelta(seconds=int(expires)) if expires else None
        self.refreshes += 1

    async def _post(self, operation: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        expiring = self._expires_at is not None and self._expires_at - self._margin <= self._clock.now()
        if self._token is None or expiring:
            await self.refresh()
        headers = {"X-Shopify-Access-Token": str(self._token), "Content-Type": "application/json"}
        payload = {"query": query, "variables": variables, "operationName": operation}


        async def post() -> httpx.Response:
            return await self._http.post(f"/admin/api/{self._api_version}/graphql.json", json=payload, headers=headers)

        try:  # the connector only sends queries (reads): a dropped connection is resent; token refreshes are not
            response = await resend_dropped(post, what=f"shopify {operation}", sleep=self._sleep)
        except httpx.HTTPError as exc:
            raise SourceError(f"shopify {operation}: {type(exc).__name__}: {exc}") from exc
        return raise_for_graphql(operation, response)
