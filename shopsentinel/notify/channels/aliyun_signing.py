"""Aliyun RPC signature V2 (HMAC-SHA1), used by Dysmsapi SendSms and Dyvmsapi SingleCallByTts.

PLATFORMS.md §11.1: sort every parameter except ``Signature``; percent-encode names and values
RFC 3986 style; ``StringToSign = METHOD + "&" + pe("/") + "&" + pe(canonical query)``;
``Signature = Base64(HMAC-SHA1(key=AccessKeySecret + "&", StringToSign))``.

>>> percent_encode("a b*c~")
'a%20b%2Ac~'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote


def percent_encode(text: str) -> str:
    """RFC 3986: only ``A-Z a-z 0-9 - _ . ~`` stay as they are (space → ``%20``, ``*`` → ``%2A``)."""
    return quote(text, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def sign_rpc_v2(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    key = f"{access_key_secret}&".encode()
    digest = hmac.new(key, string_to_sign(method, params).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def rpc_timestamp(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ`` in UTC, the only form the V2 gateway accepts."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def common_params(
    *, action: str, version: str, access_key_id: str, region_id: str, nonce: str, moment: datetime
) -> dict[str, str]:
    return {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce,
        "Timestamp": rpc_timestamp(moment),
        "RegionId": region_id,
    }
