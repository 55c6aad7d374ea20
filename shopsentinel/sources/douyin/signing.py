"""Doudian request signing (PLATFORMS.md §3, vector in §15).

``s = secret + "app_key"+ak + "method"+m + "param_json"+pj + "timestamp"+ts + "v"+v + secret``;
md5 or HMAC-SHA256 (key = secret, over the same wrapped string), lowercase hex. ``access_token``
and ``sign_method`` are not signed.

>>> sign_request("secret123", app_key="appkey123", method="order.searchList",
...              param_json='{"page":0,"size":100}', timestamp="1800000000")
'a84d3597bbb7aaeb0540d1022623165c'
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Literal

SignMethod = Literal["md5", "hmac-sha256"]


def param_json(params: dict[str, Any]) -> str:
    """Business params as Doudian signs them: keys sorted recursively, compact, non-ASCII kept."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign_request(
    app_secret: str,
    *,
    app_key: str,
    method: str,
    param_json: str,
    timestamp: str,
    v: str = "2",
    sign_method: SignMethod = "md5",
) -> str:
    wrapped = (
        f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}{app_secret}"
    ).encode()
    if sign_method == "md5":
        return hashlib.md5(wrapped).hexdigest()
    if sign_method == "hmac-sha256":
        return hmac.new(app_secret.encode(), wrapped, hashlib.sha256).hexdigest()
    raise ValueError(f"unknown Doudian sign_method {sign_method!r}")
