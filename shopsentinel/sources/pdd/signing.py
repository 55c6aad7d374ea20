"""PDD request signing (PLATFORMS.md §4): every param except ``sign`` (business params included,
lists/objects as JSON strings), sorted, ``k1v1…``, MD5(client_secret + s + client_secret), uppercase.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from shopsentinel.sources.kit import sign_params, unix_seconds


def sign_pdd(params: Mapping[str, str], client_secret: str) -> str:
    return sign_params(params, client_secret, "md5")


def signed_request(
    api_type: str,
    business: Mapping[str, str],
    *,
    client_id: str,
    client_secret: str,
    access_token: str | None,
    timestamp: datetime,
) -> dict[str, str]:
    """System params (timestamp in unix **seconds**) + business params + ``sign``."""
    params = {"type": api_type, "client_id": client_id, "timestamp": str(unix_seconds(timestamp)), "data_type": "JSON", **business}
    if access_token:
        params["access_token"] = access_token
    params["sign"] = sign_pdd(params, client_secret)
    return params
