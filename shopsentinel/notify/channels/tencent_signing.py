"""Tencent Cloud API signature v3 (TC3-HMAC-SHA256), PLATFORMS.md §11.3.

Canonical headers are lower-case ``name:value`` lines, values trimmed and lower-cased (Tencent's
guide shows ``x-tc-action:describeinstances``). Reproduces Tencent's own published example
(CVM ``DescribeInstances``, timestamp 1551113065, signature ``72e494ea…``); see the tests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def credential_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def canonical_request(headers: Mapping[str, str], signed_headers: list[str], body: bytes) -> str:
    """``POST /`` with an empty query; ``headers`` keys are matched case-insensitively."""
    lowered = {k.lower(): v for k, v in headers.items()}
    lines = "".join(f"{name}:{lowered[name].strip().lower()}\n" for name in signed_headers)
    return f"POST\n/\n\n{lines}\n{';'.join(signed_headers)}\n{hashlib.sha256(body).hexdigest()}"


def sign_tc3(
    secret_key: str, *, service: str, timestamp: int, headers: Mapping[str, str], signed_headers: list[str], body: bytes
) -> str:
    """Hex signature of a POST JSON request."""
    date = credential_date(timestamp)
    scope = f"{date}/{service}/tc3_request"
    request_hash = hashlib.sha256(canonical_request(headers, signed_headers, body).encode("utf-8")).hexdigest()
    to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{request_hash}"
    signing_key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(signing_key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Authorization:
    secret_id: str
    date: str
    service: str
    signed_headers: list[str]
    signature: str

    def header(self) -> str:
        scope = f"{self.date}/{self.service}/tc3_request"
        return (
            f"{ALGORITHM} Credential={self.secret_id}/{scope}, "
            f"SignedHeaders={';'.join(self.signed_headers)}, Signature={self.signature}"
        )

    @classmethod
    def parse(cls, header: str) -> Authorization:
        """Read an ``Authorization`` header back (the fake server's side); ValueError if malformed."""
        algorithm, _, rest = header.partition(" ")
        if algorithm != ALGORITHM:
            raise ValueError("not a TC3-HMAC-SHA256 authorization")
        fields = dict(part.strip().split("=", 1) for part in rest.split(","))
        secret_id, date, service, terminator = fields["Credential"].split("/")
        if terminator != "tc3_request":
            raise ValueError("credential scope must end with tc3_request")
        return cls(secret_id, date, service, fields["SignedHeaders"].split(";"), fields["Signature"])
