"""Secrets that passed 测试连接, held for the form that comes back (sealed: ciphertext only, 30 minutes),
so 保存 right after the test does not make the operator type them again."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shopsentinel.core.secrets import SecretBox, SecretKeyError

# After a successful 测试连接 the page comes back without the secrets (they are never rendered); the
# tested ones ride along sealed with the service key (ciphertext only, valid for half an hour), so
# 保存 right after the test does not make the operator type the AppSecret again.
HELD_FIELD, HELD_TTL_SECONDS = "held_secrets", 1800


def hold_secrets(keys: Callable[[], list[bytes]], fields: list[dict[str, Any]], form: dict[str, str]) -> str:
    values = {f["name"]: form.get(f"cfg_{f['name']}", "") for f in fields if f["secret"]}
    try:
        return SecretBox(keys()).seal(json.dumps(values))
    except SecretKeyError:
        return ""


def held_secrets(keys: Callable[[], list[bytes]], form: dict[str, str]) -> dict[str, str]:
    """The secrets a successful test held for the form (empty when absent, expired or tampered)."""
    token = form.get(HELD_FIELD, "").removeprefix("enc:")
    if not token:
        return {}
    try:
        opened = MultiFernet([Fernet(k) for k in keys()]).decrypt(token.encode(), ttl=HELD_TTL_SECONDS)
        values = json.loads(opened)
    except (InvalidToken, SecretKeyError, ValueError):
        return {}
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


__all__ = ["HELD_FIELD", "HELD_TTL_SECONDS", "held_secrets", "hold_secrets"]
