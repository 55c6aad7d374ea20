"""HMAC-SHA256 request signing of the generic source (and of its fake, which verifies it).

The canonical string is five lines joined by ``\\n``::

    METHOD          GET / POST, upper case
    PATH            the URL path, e.g. /api/v1/orders
    QUERY           the query parameters sorted by name then value, URL-encoded (RFC 3986), joined by &
    TIMESTAMP       Unix seconds, also sent in the timestamp header
    BODY_SHA256     lowercase hex SHA-256 of the raw body ('' for GET)

and the signature is the lowercase hex HMAC-SHA256 of it with the secret.

>>> canonical_string("get", "/v1/orders", [("b", "2"), ("a", "x y")], "1800000000", b"")[:30]
'GET\\n/v1/orders\\na=x%20y&b=2\\n180'
>>> sign("s", "GET\\n/\\n\\n1\\n" + hashlib.sha256(b"").hexdigest())[:16]
'f08952fa8f883eb4'
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params))


def canonical_string(method: str, path: str, params: Iterable[tuple[str, str]], timestamp: str, body: bytes) -> str:
    return "\n".join([method.upper(), path or "/", canonical_query(params), timestamp, hashlib.sha256(body).hexdigest()])


def sign(secret: str, canonical: str) -> str:
    return hmac.new(secret.encode("utf-8"), canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(secret: str, canonical: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, canonical), signature)
