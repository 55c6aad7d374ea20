"""Shopify webhook verification: ``X-Shopify-Hmac-Sha256`` = Base64(HMAC-SHA256(app secret, raw body)).

API calls themselves are not signed (the Admin API token goes in ``X-Shopify-Access-Token``).
Verify the *raw* request bytes before parsing JSON: re-serialising changes the digest.

>>> digest = webhook_hmac("hush", b'{"id":1}')
>>> verify_webhook("hush", b'{"id":1}', digest), verify_webhook("hush", b'{"id":2}', digest)
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydantic import SecretStr

HMAC_HEADER = "X-Shopify-Hmac-Sha256"


def _secret(secret: str | SecretStr) -> bytes:
    return (secret.get_secret_value() if isinstance(secret, SecretStr) else secret).encode()


def webhook_hmac(secret: str | SecretStr, body: bytes) -> str:
    return base64.b64encode(hmac.new(_secret(secret), body, hashlib.sha256).digest()).decode()


def verify_webhook(secret: str | SecretStr, body: bytes, header_value: str | None) -> bool:
    """True only if ``header_value`` is the HMAC of exactly ``body`` (constant-time compare)."""
    if not header_value:
        return False
    return hmac.compare_digest(webhook_hmac(secret, body).encode(), header_value.strip().encode())
