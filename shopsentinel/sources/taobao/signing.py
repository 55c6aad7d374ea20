"""TOP request signing (PLATFORMS.md §1): sorted ``k1v1…`` over every param except ``sign``.

``md5`` = MD5(secret + s + secret); ``hmac`` = HMAC-MD5(secret, s); ``hmac-sha256`` =
HMAC-SHA256(secret, s); uppercase hex. ``sign_method`` itself is part of the signed set.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from shopsentinel.sources.kit import SignMethod, format_china_time, sign_params

API_VERSION = "2.0"


def sign_top(params: Mapping[str, str], secret: str, sign_method: SignMethod) -> str:
    return sign_params(params, secret, sign_method)


def signed_request(
    method: str,
    business: Mapping[str, str],
    *,
    app_key: str,
    secret: str,
    session: str | None,
    timestamp: datetime,
    sign_method: SignMethod,
) -> dict[str, str]:
    """System params (timestamp as GMT+8 ``yyyy-MM-dd HH:mm:ss``) + business params + ``sign``."""
    params = {
        "method": method,
        "app_key": app_key,
        "timestamp": format_china_time(timestamp),
        "v": API_VERSION,
        "sign_method": sign_method,
        "format": "json",
        "simplify": "true",
        **business,
    }
    if session:
        params["session"] = session
    params["sign"] = sign_top(params, secret, sign_method)
    return params
