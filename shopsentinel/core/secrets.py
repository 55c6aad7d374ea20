"""Encryption of connector secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256, with a timestamp).

The key comes from ``SHOPSENTINEL_SECRET_KEY`` (a urlsafe-base64 Fernet key) or from a key file
(``SHOPSENTINEL_SECRET_KEY_FILE``, default ``~/.config/shopsentinel/secret.key``, created with mode
0600 on first use). Only the fields a connector's Config marks as ``SecretStr`` are encrypted;
the rest of the Config stays readable. Nothing here logs or prints a secret: decrypted values go
straight back into ``SecretStr`` fields, whose repr is ``**********``.

>>> box = SecretBox(Fernet.generate_key())
>>> sealed = box.seal_fields({"app_key": "k", "app_secret": "s3cr3t"}, ["app_secret"])
>>> sealed["app_key"], sealed["app_secret"].startswith("enc:")
('k', True)
>>> box.open_fields(sealed, ["app_secret"])["app_secret"]
's3cr3t'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from shopsentinel.core.errors import ShopSentinelError

KEY_ENV = "SHOPSENTINEL_SECRET_KEY"
KEY_FILE_ENV = "SHOPSENTINEL_SECRET_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/shopsentinel/secret.key")
PREFIX = "enc:"


class SecretKeyError(ShopSentinelError):
    """No usable key, or a stored secret that the key cannot open (wrong key or tampered)."""


def load_key(environ: Mapping[str, str] | None = None, *, key_file: Path | None = None, create: bool = True) -> bytes:
    """The Fernet key: the environment variable wins, else the key file (created if allowed)."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        key = env[KEY_ENV].strip().encode()
        _check_key(key, KEY_ENV)
        return key
    path = (key_file or Path(env.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)).expanduser()
    if path.exists():
        key = path.read_bytes().strip()
        _check_key(key, str(path))
        return key
    if not create:
        raise SecretKeyError(f"no secret key: set {KEY_ENV} or create the key file {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _check_key(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise SecretKeyError(f"{where} does not hold a valid Fernet key (32 url-safe base64 bytes)") from None


class SecretBox:
    """Seal and open the secret fields of a Config dict."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:  # never the key
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            raise SecretKeyError("stored secret is not encrypted (missing 'enc:' prefix)")
        try:
            return self._fernet.decrypt(sealed[len(PREFIX):].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError("cannot decrypt a stored secret: wrong key or tampered data") from None

    def seal_fields(self, values: Mapping[str, Any], secret_names: Sequence[str]) -> dict[str, Any]:
        """A copy of ``values`` with each present, non-empty secret field encrypted."""
        out = dict(values)
        for name in secret_names:
            value = out.get(name)
            if value is None or value == "":
                continue
            plain = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            out[name] = self.seal(plain)
        return out

    def open_fields(self, values: Mapping[str, Any], secret_names: Sequence[str]) -> dict[str, Any]:
        out = dict(values)
        for name in secret_names:
            if isinstance(out.get(name), str) and out[name]:
                out[name] = self.open(out[name])
        return out
