"""PDD HTTP client: signed POSTs to the router, ``error_response`` → exceptions, token refresh."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, SecretStr

from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.sources.kit import RouterClient, RouterConfig, TokenExpiredError, Tokens
from shopsentinel.sources.pdd.signing import signed_request

# error_code values. PLATFORMS.md documents the envelope ([R]) but not these numbers: they are
# assumptions to confirm against the PDD open docs (edit here; the fake imports them).
CODE_PARAMETER = 10000
CODE_CLIENT_ID_INVALID = 10016
CODE_SIGN_INVALID = 10017
CODE_TOKEN_INVALID = 10018
CODE_TOKEN_EXPIRED = 10019
CODE_TIMESTAMP_INVALID = 10020
CODE_THROTTLED = 70031
AUTH_CODES = {CODE_CLIENT_ID_INVALID, CODE_SIGN_INVALID, CODE_TOKEN_INVALID}


class PddConfig(RouterConfig):
    base_url: str = "https://gw-api.pinduoduo.com/api/router"
    page_size: int = Field(default=100, ge=1, le=100)
    throttle_backoff_seconds: float = Field(default=1.0, gt=0, description="PDD throttling names no wait time")


def error_from_envelope(api_type: str, error: dict[str, Any], backoff: float) -> SourceError:
    code = int(error.get("error_code", 0) or 0)
    text = f"pdd {api_type}: {error.get('error_msg', 'error')}"
    if error.get("sub_code") or error.get("sub_msg"):
        text += f" ({error.get('sub_code', '')}: {error.get('sub_msg', '')})"
    if code == CODE_THROTTLED:
        return ThrottledError(f"[{code}] {text}", retry_after=backoff)
    if code == CODE_TOKEN_EXPIRED:
        return TokenExpiredError(f"[{code}] {text}")
    if code in AUTH_CODES:
        return AuthError(f"[{code}] {text}")
    return PlatformError(text, code=str(code))


class PddClient(RouterClient):
    platform = "pdd"
    config: PddConfig

    def _signed_form(self, method: str, business: dict[str, Any], token: str | None) -> dict[str, str]:
        return signed_request(
            method, business, client_id=self.config.app_key, client_secret=self.secret, access_token=token,
            timestamp=self.clock.now(),
        )  # fmt: skip

    def _unwrap(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """The success root is ``<name>_response``; its name does not always follow the type
        (``pdd.order.number.list.increment.get`` → ``order_sn_increment_get_response``), so take the
        one ``*_response`` key."""
        if "error_response" in body:
            raise error_from_envelope(method, body["error_response"], self.config.throttle_backoff_seconds)
        roots = [value for key, value in body.items() if key.endswith("_response") and isinstance(value, dict)]
        if len(roots) != 1:
            raise PlatformError(f"pdd {method}: response has no single *_response root")
        result: dict[str, Any] = roots[0]
        return result

    async def _refresh_tokens(self, refresh_token: str) -> Tokens:
        """``pdd.pop.auth.token.refresh`` ([R]: router equivalent of the OAuth refresh)."""
        try:
            token = await self._post("pdd.pop.auth.token.refresh", {"refresh_token": refresh_token}, authorized=False)
        except PlatformError as exc:
            raise AuthError(f"pdd: token refresh failed: {exc}") from exc
        if not token.get("access_token"):
            raise AuthError("pdd: token refresh answered without access_token")
        return Tokens(
            access_token=SecretStr(str(token["access_token"])),
            refresh_token=SecretStr(str(token["refresh_token"])) if token.get("refresh_token") else None,
            expires_at=self.clock.now() + timedelta(seconds=int(token.get("expires_in", 0))),
        )
