"""Doudian HTTP client: signing, access tokens and the error envelope — nothing about streams.

Every call is ``POST {base}/{method with '.' → '/'}`` with the common parameters in the query
string (``method, app_key, access_token, param_json, timestamp, v, sign_method, sign``) and the
business JSON also sent as the body. Business errors come back as HTTP 200 with ``code != 10000``.
A business call (a read) whose connection drops is resent (:mod:`shopsentinel.sources.kit.resend`); token calls never.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.sources.douyin.signing import SignMethod, param_json, sign_request
from shopsentinel.sources.kit import Sleep, ThrottleWaiter, resend_dropped, wall_sleep

CHINA_TZ = ZoneInfo("Asia/Shanghai")
SUCCESS = 10000
TimestampStyle = Literal["unix", "gmt8"]

# Envelope codes we act on. 30001 is observed in the docs [V]; the others are [R] — see README.
TOKEN_EXPIRED_CODES = frozenset({30002})
AUTH_CODES = frozenset({30001, 30005, 40002})
THROTTLED_CODES = frozenset({90000})


_QUERY_SECRETS = re.compile(r"(?<=[?&])(access_token|sign)=[^&\s\"]+")


class RedactQuerySecrets(logging.Filter):
    """httpx logs request URLs at INFO; Doudian puts ``access_token`` and ``sign`` in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token=" in message or "sign=" in message:
            record.msg, record.args = _QUERY_SECRETS.sub(r"\1=***", message), ()
        return True


def redact_httpx_logs() -> None:
    """Install :class:`RedactQuerySecrets` on the ``httpx`` logger once (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactQuerySecrets) for f in logger.filters):
        logger.addFilter(RedactQuerySecrets())


class TokenExpired(AuthError):
    """The access token was rejected as expired; the client refreshes once and retries."""


@dataclass
class DouyinTokens:
    access_token: str
    refresh_token: str
    expires_at: datetime


def format_timestamp(moment: datetime, style: TimestampStyle) -> str:
    """``1800000000`` (Unix seconds, what SDKs send) or ``2027-01-15 16:00:00`` (GMT+8, the guide)."""
    if style == "unix":
        return str(int(moment.timestamp()))
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def raise_for_envelope(method: str, body: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` of a successful envelope, else raise the matching :class:`SourceError`."""
    code = body.get("code")
    if code == SUCCESS:
        data = body.get("data")
        # Some APIs (sku.list) answer with a bare list; wrap it so callers always get a dict.
        return data if isinstance(data, dict) else {"data": data or []}
    detail = f"douyin {method}: code {code} {body.get('msg', '')}"
    if body.get("sub_code"):
        detail += f" ({body['sub_code']}: {body.get('sub_msg', '')})"
    if code in TOKEN_EXPIRED_CODES:
        raise TokenExpired(detail)
    if code in AUTH_CODES:
        raise AuthError(detail)
    if code in THROTTLED_CODES:
        raise ThrottledError(detail)
    raise PlatformError(detail, code=str(code))


class DouyinClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        app_key: str,
        app_secret: SecretStr,
        shop_id: str,
        clock: Clock,
        waiter: ThrottleWaiter,
        refresh_token: SecretStr | None = None,
        sign_method: SignMethod = "md5",
        timestamp_style: TimestampStyle = "unix",
        refresh_margin: timedelta = timedelta(minutes=30),
        throttle_retry_seconds: float = 1.0,
        sleep: Sleep = wall_sleep,
    ) -> None:
        self._http = http
        self._sleep = sleep
        self._app_key = app_key
        self._secret = app_secret
        self._shop_id = shop_id
        self._clock = clock
        self._waiter = waiter
        self._sign_method = sign_method
        self._timestamp_style = timestamp_style
        self._refresh_margin = refresh_margin
        self._throttle_retry_seconds = throttle_retry_seconds
        self._initial_refresh = refresh_token
        self.tokens: DouyinTokens | None = None
        redact_httpx_logs()

    def __repr__(self) -> str:
        return f"DouyinClient(app_key={self._app_key!r}, shop_id={self._shop_id!r})"

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call a business API with a valid token, waiting out throttling; return ``data``."""
        async def attempt() -> dict[str, Any]:
            token = await self._valid_token()
            try:
                return await self._send(method, params, token)
            except TokenExpired:
                await self.refresh()
                return await self._send(method, params, await self._valid_token())

        return await self._waiter.run(attempt)

    async def create_token(self) -> DouyinTokens:
        """``token.create`` for a self-use app (``authorization_self``, no browser step)."""
        data = await self._send(
            "token.create", {"code": "", "grant_type": "authorization_self", "shop_id": self._shop_id}, None
        )
        return self._keep_tokens(data)

    async def refresh(self) -> DouyinTokens:
        refresh = self.tokens.refresh_token if self.tokens else None
        if refresh is None and self._initial_refresh is not None:
            refresh = self._initial_refresh.get_secret_value()
        if refresh is None:
            return await self.create_token()
        data = await self._send("token.refresh", {"grant_type": "refresh_token", "refresh_token": refresh}, None)
        return self._keep_tokens(data)

    async def _valid_token(self) -> str:
        if self.tokens is None:
            await (self.refresh() if self._initial_refresh else self.create_token())
        elif self.tokens.expires_at - self._refresh_margin <= self._clock.now():
            await self.refresh()
        if self.tokens is None:  # pragma: no cover - both branches above set tokens or raise
            raise SourceError("douyin: no access token")
        return self.tokens.access_token

    def _keep_tokens(self, data: dict[str, Any]) -> DouyinTokens:
        try:
            self.tokens = DouyinTokens(
                access_token=str(data["access_token"]),
                refresh_token=str(data["refresh_token"]),
                expires_at=self._clock.now() + timedelta(seconds=int(data["expires_in"])),
            )
        except (KeyError, ValueError) as exc:
            raise PlatformError(f"douyin token response lacks {exc}") from exc
        return self.tokens

    async def _send(self, method: str, params: dict[str, Any], access_token: str | None) -> dict[str, Any]:
        body_json = param_json(params)

        async def post() -> httpx.Response:  # signed afresh on every attempt: the timestamp moves
            timestamp = format_timestamp(self._clock.now(), self._timestamp_style)
            query = {
                "method": method,
                "app_key": self._app_key,
                "param_json": body_json,
                "timestamp": timestamp,
                "v": "2",
                "sign_method": self._sign_method,
                "sign": sign_request(
                    self._secret.get_secret_value(), app_key=self._app_key, method=method,
                    param_json=body_json, timestamp=timestamp, sign_method=self._sign_method,
                ),
            }
            if access_token is not None:
                query["access_token"] = access_token
            return await self._http.post(
                "/" + method.replace(".", "/"), params=query, content=body_json.encode(),
                headers={"Content-Type": "application/json"},
            )

        try:
            if access_token is None:  # token.create / token.refresh may spend a refresh token: never resent
                response = await post()
            else:  # business calls are reads: a dropped connection is resent
                response = await resend_dropped(post, what=f"douyin {method}", sleep=self._sleep)
        except httpx.HTTPError as exc:
            raise SourceError(f"douyin {method}: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 429:
            raise ThrottledError(f"douyin {method}: HTTP 429", self._throttle_retry_seconds)
        if response.status_code != 200:
            raise PlatformError(f"douyin {method}: HTTP {response.status_code}", code=f"HTTP{response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise PlatformError(f"douyin {method}: HTTP {response.status_code}, not JSON") from exc
        try:
            return raise_for_envelope(method, body)
        except ThrottledError as exc:
            raise ThrottledError(str(exc), self._throttle_retry_seconds) from exc
