"""JOS request signing (PLATFORMS.md §2): business params travel as ONE JSON string,
``360buy_param_json``, which is signed like any other param: MD5(secret + sorted k1v1… + secret),
uppercase hex. The JSON is serialized once and exactly those bytes are signed and sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from shopsentinel.sources.kit import format_china_time, sign_params

API_VERSION = "2.0"
PARAM_JSON = "360buy_param_json"


def param_json(business: Mapping[str, object]) -> str:
    """Compact JSON with sorted keys (stable bytes, so the signature is reproducible); nested objects
    (``{"req": {...}}``) stay nested."""
    return json.dumps(dict(business), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def sign_jd(params: Mapping[str, str], secret: str) -> str:
    return sign_params(params, secret, "md5")


def signed_request(
    method: str, business: Mapping[str, object], *, app_key: str, secret: str, access_token: str | None, timestamp: datetime
) -> dict[str, str]:
    """System params (timestamp GMT+8 ``yyyy-MM-dd HH:mm:ss``) + ``360buy_param_json`` + ``sign``."""
    params = {
        "method": method,
        "app_key": app_key,
        "timestamp": format_china_time(timestamp),
        "v": API_VERSION,
        PARAM_JSON: param_json(business),
    }
    if access_token:
        params["access_token"] = access_token
    params["sign"] = sign_jd(params, secret)
    return params
