"""Helpers shared by the router-style connectors (Taobao/Tmall TOP, JD JOS, Pinduoduo).

The three platforms sign the same way (sorted ``k1v1k2v2…`` wrapped or keyed with the secret),
speak GMT+8 wall-clock strings and yuan decimals, and answer HTTP 200 with an error envelope.
This module holds the parts they share so each connector folder only states what differs:

* signing primitives and value stringification,
* time (GMT+8 strings, unix seconds) and money (yuan strings → float) conversions,
* :class:`RouterConfig`, the pydantic base of every connector ``Config`` (secrets are ``SecretStr``),
* :class:`RouterClient`, the HTTP skeleton (system params, envelope check, token refresh).

The incremental-read engine lives in :mod:`.incremental`, the connector base in :mod:`.connector`.

>>> sign_params({"b": "2", "a": "1"}, "s")  # MD5("s" + "a1b2" + "s")
'5EE29085AF57D942F21F1C5BA3C2A90A'
"""

from __future__ import annotations

import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import AuthError, PlatformError
from shopsentinel.sources.kit.http import tls_context

SignMethod = Literal["md5", "hmac", "hmac-sha256"]

# China has used one fixed offset without DST since 1991, so a fixed tz is exact.
CHINA_TZ = timezone(timedelta(hours=8), "GMT+8")
CHINA_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_CENT = Decimal("0.01")
# What a request on a keep-alive connection the server closed meanwhile fails with.
STALE_CONNECTION = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)



# ---------------------------------------------------------------- signing


def concat_sorted(params: Mapping[str, str]) -> str:
    """``k1v1k2v2…`` over every parameter except ``sign``, sorted by name, empty values dropped."""
    return "".join(f"{name}{value}" for name, value in sorted(params.items()) if name != "sign" and value != "")


def sign_params(params: Mapping[str, str], secret: str, method: SignMethod = "md5") -> str:
    """The TOP family signature: uppercase hex of MD5(secret+s+secret), HMAC-MD5 or HMAC-SHA256."""
    joined = concat_sorted(params).encode("utf-8")
    key = secret.encode("utf-8")
    if method == "md5":
        return hashlib.md5(key + joined + key).hexdigest().upper()
    if method == "hmac":
        return hmac.new(key, joined, hashlib.md5).hexdigest().upper()
    if method == "hmac-sha256":
        return hmac.new(key, joined, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign method {method!r}")


def stringify(value: object) -> str:
    """How business parameters travel: bools lowercase, lists/dicts as compact JSON, rest str()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, datetime):
        return format_china_time(value)
    return str(value)


# ---------------------------------------------------------------- time and money


def format_china_time(moment: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in GMT+8 (the wall clock TOP and JD expect), from an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware value")
    return moment.astimezone(CHINA_TZ).strftime(CHINA_TIME_FORMAT)


def parse_china_time(text: str) -> datetime:
    """A GMT+8 ``yyyy-MM-dd HH:mm:ss`` string → aware UTC datetime."""
    return datetime.strptime(text, CHINA_TIME_FORMAT).replace(tzinfo=CHINA_TZ).astimezone(UTC)


def parse_optional_china_time(text: object) -> datetime | None:
    return parse_china_time(str(text)) if text not in (None, "") else None


def unix_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def from_unix_seconds(seconds: int | float | str) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def parse_money(value: object) -> float:
    """Yuan amounts (``"12.30"``, ``12.3``, ``"12"``) → float rounded to the cent; empty → 0.0."""
    if value in (None, ""):
        return 0.0
    return float(Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP))


def format_money(amount: float) -> str:
    """A float amount → the 2-decimal string the platforms use (``12.3`` → ``"12.30"``)."""
    return str(Decimal(str(amount)).quantize(_CENT, rounding=ROUND_HALF_UP))


def field_of(record: Mapping[str, Any], name: str, platform: str) -> Any:
    """A required field of a native record; a clear error names it (usually a missing projection)."""
    if name not in record or record[name] is None:
        raise PlatformError(f"{platform}: record lacks field {name!r} (is it in the requested field list?)")
    return record[name]


# ---------------------------------------------------------------- config and tokens


class RouterConfig(BaseModel):
    """Settings every router connector needs; platform configs subclass it.

    Secrets are ``SecretStr``: they print as ``**********`` in repr, logs and error messages.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: str = Field(description="ShopSentinel store id this connection feeds")
    app_key: str = Field(description="App key / client id of the ISV application")
    app_secret: SecretStr = Field(description="App secret (signing key)")
    access_token: SecretStr = Field(description="The shop's authorized access token (TOP: session)")
    refresh_token: SecretStr | None = Field(default=None, description="Refresh token, if the platform has one")
    base_url: str = Field(description="Router endpoint")
    start: datetime = Field(description="Where the first sync begins (timezone-aware)")
    page_size: int = Field(default=100, ge=1)
    window_hours: float = Field(default=24.0, gt=0, le=24, description="Time-window span per query (≤ 1 day)")
    overlap_minutes: float = Field(default=10.0, ge=0, description="Re-read this much before the cursor")
    max_throttle_retries: int = Field(default=5, ge=0)
    timeout_seconds: float = Field(default=30.0, gt=0)


@dataclass
class Tokens:
    """The credentials a refresh may replace; the connector hands new ones to ``on_tokens``."""

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: datetime | None = field(default=None)


TokenListener = Callable[[Tokens], None]


class TokenExpiredError(AuthError):
    """The access token expired; the client refreshes once if it holds a refresh token."""


class RouterClient(ABC):
    """HTTP + signing only: build the system params, POST the form, unwrap the envelope.

    Subclasses implement :meth:`_signed_form` (the platform's system params and sign),
    :meth:`_unwrap` (error envelope → exception, success root → dict) and :meth:`_refresh_tokens`.
    """

    platform: ClassVar[str]
    # JOS sends its business params as one JSON document, so objects and lists stay nested in it
    # (``{"req": {"skuStocks": [...]}}``); TOP and PDD send flat form fields, where they travel as JSON text.
    nested_business: ClassVar[bool] = False

    def __init__(
        self,
        config: RouterConfig,
        *,
        clock: Clock,
        http: httpx.AsyncClient | None = None,
        on_tokens: TokenListener | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.tokens = Tokens(config.access_token, config.refresh_token)
        self._http = http or httpx.AsyncClient(timeout=config.timeout_seconds, verify=tls_context())
        self._owns_http = http is None
        self._on_tokens = on_tokens

    @property
    def secret(self) -> str:
        return self.config.app_secret.get_secret_value()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def call(self, method: str, params: Mapping[str, object]) -> dict[str, Any]:
        """Call ``method``; on an expired token refresh once (if possible) and retry."""
        try:
            return await self._post(method, params, authorized=True)
        except TokenExpiredError:
            if self.tokens.refresh_token is None:
                raise
            await self.refresh()
            return await self._post(method, params, authorized=True)

    async def refresh(self) -> Tokens:
        """Exchange the refresh token for new tokens and tell the listener (to persist them)."""
        if self.tokens.refresh_token is None:
            raise AuthError(f"{self.platform}: no refresh token configured")
        self.tokens = await self._refresh_tokens(self.tokens.refresh_token.get_secret_value())
        if self._on_tokens is not None:
            self._on_tokens(self.tokens)
        return self.tokens

    async def _post(self, method: str, params: Mapping[str, object], *, authorized: bool) -> dict[str, Any]:
        business: dict[str, Any] = {
            name: value if self.nested_business and isinstance(value, list | dict) else stringify(value)
            for name, value in params.items() if value is not None}
        token = self.tokens.access_token.get_secret_value() if authorized else None
        form = self._signed_form(method, business, token)
        try:
            response = await self._http.post(self.config.base_url, data=form)
        except STALE_CONNECTION as exc:
            if not authorized:  # a token refresh may have been spent: never sent twice
                raise PlatformError(f"{self.platform} {method}: transport error {type(exc).__name__}") from exc
            # A pooled keep-alive connection the server had already closed: the query is read-only,
            # so send it once more (freshly signed) on a new connection.
            response = await self._retry_post(method, business, token)
        except httpx.HTTPError as exc:
            raise PlatformError(f"{self.platform} {method}: transport error {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PlatformError(f"{self.platform} {method}: HTTP {response.status_code}", code=str(response.status_code))
        try:
            body = response.json()
        except ValueError as exc:
            raise PlatformError(f"{self.platform} {method}: response is not JSON") from exc
        if not isinstance(body, dict):
            raise PlatformError(f"{self.platform} {method}: unexpected response shape")
        return self._unwrap(method, body)

    @abstractmethod
    def _signed_form(self, method: str, business: dict[str, Any], token: str | None) -> dict[str, str]:
        """System params + business params + ``sign``, ready to POST."""

    @abstractmethod
    def _unwrap(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """Raise the matching SourceError for an error envelope, else return the success root."""

    async def _retry_post(self, method: str, business: dict[str, str], token: str | None) -> httpx.Response:
        try:
            return await self._http.post(self.config.base_url, data=self._signed_form(method, business, token))
        except httpx.HTTPError as exc:
            raise PlatformError(f"{self.platform} {method}: transport error {type(exc).__name__}") from exc

    @abstractmethod
    async def _refresh_tokens(self, refresh_token: str) -> Tokens:
        """Call the platform's refresh flow."""
