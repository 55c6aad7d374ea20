"""Kuaishou open-platform signing (PLATFORMS.md §5 [V]).

Sort every parameter except ``sign`` (``signMethod`` included), join ``k=v`` with ``&``, append
``&signSecret=<signSecret>`` — the *sign secret* shown in the app console, not the app secret — and
take MD5 (lowercase hex) or HMAC-SHA256 keyed with the sign secret (Base64). Values are signed
before URL encoding.

>>> params = {"access_token": "token", "appkey": "ks123", "method": "open.seller.order.list",
...           "param": '{"title":"短袖"}', "timestamp": "1583271919000", "version": "1"}
>>> sign_params({**params, "signMethod": "MD5"}, "sign-secret")  # PLATFORMS.md §15
'6005da269b372ff10945e565ef37a4c6'
>>> sign_params({**params, "signMethod": "HMAC_SHA256"}, "sign-secret")
'ZpPrG0oB1g/T93FyyVD+VCzRey41yqxZoCqcGg7upYM='
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Literal

SignMethod = Literal["MD5", "HMAC_SHA256"]


def string_to_sign(params: Mapping[str, str], sign_secret: str) -> str:
    joined = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign")
    return f"{joined}&signSecret={sign_secret}"


def sign_params(params: Mapping[str, str], sign_secret: str) -> str:
    """The ``sign`` of ``params``, by their own ``signMethod`` (MD5 unless HMAC_SHA256)."""
    text = string_to_sign(params, sign_secret).encode("utf-8")
    if params.get("signMethod") == "HMAC_SHA256":
        return base64.b64encode(hmac.new(sign_secret.encode("utf-8"), text, hashlib.sha256).digest()).decode()
    return hashlib.md5(text).hexdigest()


def param_json(params: Mapping[str, Any]) -> str:
    """Business parameters as the compact JSON string sent (and signed) in ``param``."""
    return json.dumps(dict(params), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
