"""Kuaishou (快手小店) HTTP client: signing, access-token refresh and the error envelope — nothing about streams.

Every call is ``GET {base}/{method with '.' → '/'}`` with ``appkey, method, version=1, access_token,
param`` (business JSON), ``timestamp`` (Unix **milliseconds**), ``signMethod`` and ``sign`` in the
query (PLATFORMS.md §5). Answers are HTTP 200 with ``result == 1`` on success; other ``result`` codes
are errors (the numbers we act on are [R], see README.md). A business call (a read) whose connection
drops is signed afresh and resent (:mod:`shopsentinel.sources.kit.resend`); token refreshes never are.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.sources.kit import Sleep, ThrottleWaiter, TokenListener, Tokens, resend_dropped, wall_sleep
from shopsentinel.sources.kuaishou.signing import SignMethod, param_json, sign_params

SUCCESS = 1
TOKEN_EXPIRED_RESULTS = frozenset({24})  # access_token 过期/无效 [R]
AUTH_RESULTS = frozenset({17, 20, 25})  # sign, appkey, permission [R]
THROTTLED_RESULTS = frozenset({30})  # 调用频率超限 [R]
_QUERY_SECRETS = re.compile(r"(?<=[?&])(access_token|sign|app_secret|refresh_token)=[^&\s\"]+")


class RedactKuaishouQuery(logging.Filter):
    """httpx logs request URLs at INFO; Kuaishou puts tokens, the app secret (refresh) and ``sign`` there."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _QUERY_SECRETS.search(message):
            record.msg, record.args = _QUERY_SECRETS.sub(r"\1=***", message), ()
        return True


def redact_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactKuaishouQuery) for f in logger.filters):
        logger.addFilter(RedactKuaishouQuery())


class TokenExpired(AuthError):
    """The access token was refused as expired or invalid; the client refreshes once and retries."""


def raise_for_envelope(method: str, body: Any) -> dict[str, Any]:
    """``data`` of a successful answer, else the matching :class:`SourceError`."""
    if not isinstance(body, dict):
        raise PlatformError(f"kuaishou {method}: unexpected response shape")
    result = body.get("result")
    if result == SUCCESS:
        data = body.get("data")
        return data if isinstance(data, dict) else {"data": data}
    detail = f"kuaishou {method}: result {result} {body.get('error_msg', '')}".rstrip()
    if result in TOKEN_EXPIRED_RESULTS:
        raise TokenExpired(detail)
    if result in AUTH_RESULTS:
        raise AuthError(detail)
    if result in THROTTLED_RESULTS:
        raise ThrottledError(detail, 1.0)
    raise PlatformError(detail, code=str(result))


class KuaishouClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        app_key: str,
        app_secret: SecretStr,
        sign_secret: SecretStr,
        refresh_token: SecretStr,
        clock: Clock,
        waiter: ThrottleWaiter,
        access_token: SecretStr | None = None,
        sign_method: SignMethod = "MD5",
        refresh_margin: timedelta = timedelta(minutes=30),
        sleep: Sleep = wall_sleep,
        on_tokens: TokenListener | None = None,
    ) -> None:
        self._http, self._clock, self._waiter, self._sleep = http, clock, waiter, sleep
        self._app_key, self._app_secret, self._sign_secret = app_key, app_secret, sign_secret
        self._sign_method, self._margin, self._on_tokens = sign_method, refresh_margin, on_tokens
        self.tokens = Tokens(access_token or SecretStr(""), refresh_token)
        self.refreshes = 0
        redact_httpx_logs()

    def __repr__(self) -> str:
        return f"KuaishouClient(app_key={self._app_key!r})"

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call a business API with a valid token, waiting out throttling; return ``data``."""
        async def attempt() -> dict[str, Any]:
            await self._ensure_token()
            try:
                return await self._send(method, params)
            except TokenExpired:
                await self.refresh()
                return await self._send(method, params)

        return await self._waiter.run(attempt)

    async def refresh(self) -> Tokens:
        """``GET /oauth2/refresh_token`` [R]: spends the refresh token, hands the new pair to ``on_tokens``."""
        if self.tokens.refresh_token is None:
            raise AuthError("kuaishou: no refresh token configured")
        query = {"app_id": self._app_key, "app_secret": self._app_secret.get_secret_value(),
                 "grant_type": "refresh_token", "refresh_token": self.tokens.refresh_token.get_secret_value()}
        try:  # never resent: the first attempt may already have spent the refresh token
            response = await self._http.get("/oauth2/refresh_token", params=query)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SourceError(f"kuaishou token refresh: {type(exc).__name__}") from exc
        if not isinstance(body, dict) or body.get("result") != SUCCESS:
            error = body.get("error_msg") or body.get("error") if isinstance(body, dict) else ""
            raise AuthError(f"kuaishou token refresh refused: {error}")
        try:
            self.tokens = Tokens(SecretStr(str(body["access_token"])), SecretStr(str(body["refresh_token"])),
                                 self._clock.now() + timedelta(seconds=int(body["expires_in"])))
        except (KeyError, ValueError) as exc:
            raise PlatformError(f"kuaishou token response lacks {exc}") from exc
        self.refreshes += 1
        if self._on_tokens is not None:
            self._on_tokens(self.tokens)
        return self.tokens

    async def _ensure_token(self) -> None:
        expires: datetime | None = self.tokens.expires_at
        if not self.tokens.access_token.get_secret_value() or (expires is not None and expires - self._margin <= self._clock.now()):
            await self.refresh()

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        business = param_json(params)

        async def get() -> httpx.Response:  # signed afresh on every attempt: the timestamp moves
            query = {"appkey": self._app_key, "method": method, "version": "1",
                     "access_token": self.tokens.access_token.get_secret_value(), "param": business,
                     "timestamp": str(int(self._clock.now().timestamp() * 1000)), "signMethod": self._sign_method}
            query["sign"] = sign_params(query, self._sign_secret.get_secret_value())
            return await self._http.get("/" + method.replace(".", "/"), params=query)

        try:
            response = await resend_dropped(get, what=f"kuaishou {method}", sleep=self._sleep)
        except httpx.HTTPError as exc:
            raise SourceError(f"kuaishou {method}: {type(exc).__name__}") from exc
        if response.status_code == 429:
            raise ThrottledError(f"kuaishou {method}: HTTP 429", 1.0)
        if response.status_code != 200:
            raise PlatformError(f"kuaishou {method}: HTTP {response.status_code}", code=f"HTTP{response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise PlatformError(f"kuaishou {method}: response is not JSON") from exc
        return raise_for_envelope(method, body)
