"""HTTP for the generic source: authentication/signing, client-side pacing, retries — nothing
about records.

* auth: none, ``Authorization: Bearer``, an API key header or query parameter, or an HMAC-SHA256
  signature of the canonical request (:mod:`.signing`) with key id and timestamp headers;
* pacing: at most ``requests_per_second`` on the injected clock (waits go through the injected
  sleep, so tests never really wait);
* 429 waits ``Retry-After`` (seconds or an HTTP date); 5xx and dropped connections back off
  ``backoff_seconds · 2^n``; all within ``max_retries`` resends. What is left surfaces as a
  :class:`ThrottledError`, :class:`ConnectionDroppedError` or :class:`PlatformError` with the
  HTTP code; 401/403 are :class:`AuthError` (retrying cannot help).

Every request here is a read, so resending it is safe. The secret never appears in errors or logs.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import AuthError, PlatformError, ThrottledError
from shopsentinel.sources.generic import signing
from shopsentinel.sources.generic.config import GenericConfig
from shopsentinel.sources.kit import DROPPED, ConnectionDroppedError, Sleep, ThrottleWaiter


def retry_after_seconds(response: httpx.Response, now: datetime, default: float) -> float:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); ``default`` when absent or odd."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return default
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return default
    return max((when.astimezone(UTC) - now).total_seconds(), 0.0)


class GenericClient:
    def __init__(self, http: httpx.AsyncClient, config: GenericConfig, *, clock: Clock, sleep: Sleep,
                 waiter: ThrottleWaiter) -> None:
        self._http, self._config, self._clock, self._sleep, self._waiter = http, config, clock, sleep, waiter
        self._next_slot: datetime | None = None
        self.requests = 0  # sent, including resends (benchmarks and tests read it)
        if config.auth.type == "api_key" and config.auth.location == "query":
            redact_query_param(config.auth.name)

    def __repr__(self) -> str:
        return f"GenericClient(base_url={self._config.base_url!r}, auth={self._config.auth.type!r})"

    async def fetch(self, what: str, method: str, url: str, params: list[tuple[str, str]] | None,
                    body: dict[str, Any] | None) -> tuple[httpx.Response, Any]:
        """One read with pacing and retries; returns the response and its parsed JSON body."""
        config = self._config
        attempts = config.max_retries + 1
        for attempt in range(1, attempts + 1):
            await self._pace()
            query = httpx.QueryParams(tuple(params)) if params is not None else None
            request = self._signed(self._http.build_request(method, url, params=query, json=body,
                                                            headers=config.headers))
            self.requests += 1
            try:
                response = await self._http.send(request)
            except DROPPED as exc:
                if attempt == attempts:
                    raise ConnectionDroppedError(
                        f"generic {what}: connection dropped {attempts}× ({type(exc).__name__})", attempts
                    ) from exc
                await self._sleep(config.backoff_seconds * 2 ** (attempt - 1))
                continue
            except httpx.HTTPError as exc:
                raise PlatformError(f"generic {what}: transport error {type(exc).__name__}") from exc
            status = response.status_code
            if status == 429:
                wait = retry_after_seconds(response, self._clock.now(), config.backoff_seconds)
                if attempt == attempts or wait > config.max_retry_after_seconds:
                    raise ThrottledError(f"generic {what}: HTTP 429 (throttled {attempt}×)", wait)
                await self._waiter.wait(wait)
                continue
            if status >= 500:
                if attempt == attempts:
                    raise PlatformError(f"generic {what}: HTTP {status} after {attempts} attempts", code=f"HTTP{status}")
                backoff = config.backoff_seconds * 2 ** (attempt - 1)
                await self._sleep(retry_after_seconds(response, self._clock.now(), backoff))
                continue
            if status in (401, 403):
                raise AuthError(f"generic {what}: HTTP {status} — the API refused our credentials "
                                f"(auth type {config.auth.type!r}): {_excerpt(response)}")
            if status >= 400:
                raise PlatformError(f"generic {what}: HTTP {status}: {_excerpt(response)}", code=f"HTTP{status}")
            try:
                return response, response.json()
            except ValueError as exc:
                raise PlatformError(f"generic {what}: HTTP {status}, body is not JSON") from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _pace(self) -> None:
        rate = self._config.requests_per_second
        if rate is None:
            return
        now = self._clock.now()
        if self._next_slot is not None and now < self._next_slot:
            await self._waiter.wait((self._next_slot - now).total_seconds())
            now = self._next_slot
        self._next_slot = now + timedelta(seconds=1.0 / rate)

    def _signed(self, request: httpx.Request) -> httpx.Request:
        config = self._config
        auth = config.auth
        secret = config.app_secret.get_secret_value() if config.app_secret is not None else ""
        if auth.type == "bearer":
            request.headers["Authorization"] = f"Bearer {secret}"
        elif auth.type == "api_key":
            if auth.location == "header":
                request.headers[auth.name] = secret
            else:
                request.url = request.url.copy_add_param(auth.name, secret)
        elif auth.type == "hmac":
            timestamp = str(int(self._clock.now().timestamp()))
            canonical = signing.canonical_string(request.method, request.url.path, request.url.params.multi_items(),
                                                 timestamp, request.content)
            request.headers[auth.key_id_header] = auth.key_id
            request.headers[auth.timestamp_header] = timestamp
            request.headers[auth.header] = signing.sign(secret, canonical)
        return request


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")


class RedactQueryParam(logging.Filter):
    """httpx logs request URLs at INFO; an API key sent as a query parameter must not appear there."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.param = name
        self._pattern = re.compile(rf"(?<=[?&]){re.escape(name)}=[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if f"{self.param}=" in message:
            record.msg, record.args = self._pattern.sub(f"{self.param}=***", message), ()
        return True


def redact_query_param(name: str) -> None:
    """Install :class:`RedactQueryParam` for ``name`` on the ``httpx`` logger once."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactQueryParam) and f.param == name for f in logger.filters):
        logger.addFilter(RedactQueryParam(name))
