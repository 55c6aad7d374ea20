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

import logging
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

log = logging.getLogger(__name__)


class SecretKeyError(ShopSentinelError):
    """No usable key, or a stored secret that the key cannot open (wrong key or tampered)."""


def key_location(environ: Mapping[str, str] | None = None, *, key_file: Path | None = None) -> str:
    """Where the key comes from, for messages: the environment variable's name or the key file's path."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return KEY_ENV
    return str(_key_path(env, key_file))


def _key_path(env: Mapping[str, str], key_file: Path | None) -> Path:
    return (key_file or Path(env.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)).expanduser()


def load_key(environ: Mapping[str, str] | None = None, *, key_file: Path | None = None, create: bool = True) -> bytes:
    """The Fernet key: the environment variable wins, else the key file (created, mode 0600, if
    allowed — logged at WARNING with its path, because every secret sealed before is lost with the
    old key)."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        key = env[KEY_ENV].strip().encode()
        _check_key(key, KEY_ENV)
        return key
    path = _key_path(env, key_file)
    if path.exists():
        key = path.read_bytes().strip()
        _check_key(key, str(path))
        return key
    if not create:
        raise SecretKeyError(f"没有密钥：请设置 {KEY_ENV} 或创建密钥文件 {path} / "
                             f"no secret key: set {KEY_ENV} or create the key file {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        key = path.read_bytes().strip()
        _check_key(key, str(path))
        return key
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(key)
    log.warning("创建了新的密钥文件 %s（0600）/ created a new secret key file %s (mode 0600)", path, path)
    return key


def _check_key(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise SecretKeyError(f"{where} 不是有效的 Fernet 密钥（32 字节 url-safe base64）/ "
                             f"{where} does not hold a valid Fernet key (32 url-safe base64 bytes)") from None


def startup_key(sealed: Sequence[str], environ: Mapping[str, str] | None = None, *, key_file: Path | None = None) -> bytes:
    """The key, validated once when the service starts against the secrets already stored (``sealed``:
    every ``enc:`` value of the database). Raises :class:`SecretKeyError` with a message naming the
    key file or variable when

    * the key (variable or file) is not a valid Fernet key,
    * there is no key file but secrets are stored (a new key could never open them), or
    * a stored secret cannot be opened with the key (wrong key or tampered data).

    Only a brand-new install (nothing sealed yet) may create the key file (logged at WARNING).
    """
    env = os.environ if environ is None else environ
    where = key_location(env, key_file=key_file)
    if not env.get(KEY_ENV) and not _key_path(env, key_file).exists() and sealed:
        raise SecretKeyError(
            f"密钥文件 {where} 不存在，但数据库中已有 {len(sealed)} 个加密的机密（渠道设置、店铺凭据、剧本集成）；"
            f"新密钥无法解开它们，服务拒绝启动。请恢复原来的密钥文件或设置 {KEY_ENV}"
            f"（或设 SHOPSENTINEL_ALLOW_DEGRADED_KEY=true 降级启动）/ "
            f"the key file {where} is missing but the database holds {len(sealed)} sealed secrets; "
            f"restore the key file or set {KEY_ENV} (SHOPSENTINEL_ALLOW_DEGRADED_KEY=true starts degraded)")
    key = load_key(env, key_file=key_file, create=True)
    check_sealed(key, sealed, where)
    return key


def check_sealed(key: bytes, sealed: Sequence[str], where: str) -> None:
    """Raise :class:`SecretKeyError` unless ``key`` opens every sealed value."""
    box = SecretBox(key)
    failed = 0
    for value in sealed:
        try:
            box.open(value)
        except SecretKeyError:
            failed += 1
    if failed:
        raise SecretKeyError(
            f"密钥 {where} 无法解密数据库中 {failed}/{len(sealed)} 个加密的机密（密钥错误或数据被篡改），服务拒绝启动。"
            f"请换回加密时使用的密钥文件或 {KEY_ENV}（或设 SHOPSENTINEL_ALLOW_DEGRADED_KEY=true 降级启动）/ "
            f"the key from {where} cannot decrypt {failed} of {len(sealed)} stored secrets (wrong key or tampered "
            f"data); restore the key they were sealed with (SHOPSENTINEL_ALLOW_DEGRADED_KEY=true starts degraded)")


def sealed_values(value: Any) -> list[str]:
    """Every ``enc:`` string anywhere in a JSON-like value (dicts, lists)."""
    if isinstance(value, str):
        return [value] if value.startswith(PREFIX) else []
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in sealed_values(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in sealed_values(v)]
    return []


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
