"""Encryption of connector secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256, with a timestamp).

The key comes from ``SHOPSENTINEL_SECRET_KEY`` (a urlsafe-base64 Fernet key) or from a key file
(``SHOPSENTINEL_SECRET_KEY_FILE``, default ``~/.config/shopsentinel/secret.key``, created with mode
0600 on first use). Only the fields a connector's Config marks as ``SecretStr`` are encrypted;
the rest of the Config stays readable. Nothing here logs or prints a secret: decrypted values go
straight back into ``SecretStr`` fields, whose repr is ``**********``.

Key rotation (``MultiFernet``): the key file may hold several keys, one a line, newest first, and
``SHOPSENTINEL_SECRET_KEYS_OLD`` may list older keys (comma- or whitespace-separated) after the
newest one. A :class:`SecretBox` opens with any of them and seals with the newest;
``shopsentinel keys rotate`` re-seals everything stored with the newest, after which the old keys
can be removed.

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

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from shopsentinel.core.errors import ShopSentinelError
from shopsentinel.core.redaction import register_secret

KEY_ENV = "SHOPSENTINEL_SECRET_KEY"
KEY_FILE_ENV = "SHOPSENTINEL_SECRET_KEY_FILE"
OLD_KEYS_ENV = "SHOPSENTINEL_SECRET_KEYS_OLD"
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
    """The newest Fernet key (what new secrets are sealed with); see :func:`load_keys`."""
    return load_keys(environ, key_file=key_file, create=create)[0]


def load_keys(environ: Mapping[str, str] | None = None, *, key_file: Path | None = None,
              create: bool = True) -> list[bytes]:
    """Every configured Fernet key, newest first: the environment variable wins (its one key), else the
    key file (one key a line, newest first; created with one new key, mode 0600, if allowed — logged at
    WARNING with its path, because every secret sealed before is lost with the old key); then the older
    keys of ``SHOPSENTINEL_SECRET_KEYS_OLD``. Every key is checked; duplicates are dropped."""
    env = os.environ if environ is None else environ
    keys = _primary_keys(env, key_file, create)
    keys += _split_keys(env.get(OLD_KEYS_ENV, ""), OLD_KEYS_ENV)
    return list(dict.fromkeys(keys))


def _split_keys(text: str, where: str) -> list[bytes]:
    keys = [part.encode() for part in text.replace(",", " ").split()]
    for key in keys:
        _check_key(key, where)
    return keys


def _primary_keys(env: Mapping[str, str], key_file: Path | None, create: bool) -> list[bytes]:
    if env.get(KEY_ENV):
        key = env[KEY_ENV].strip().encode()
        _check_key(key, KEY_ENV)
        return [key]
    path = _key_path(env, key_file)
    if path.exists():
        return _file_keys(path)
    if not create:
        raise SecretKeyError(f"没有密钥：请设置 {KEY_ENV} 或创建密钥文件 {path} / "
                             f"no secret key: set {KEY_ENV} or create the key file {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _file_keys(path)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(key)
    log.warning("创建了新的密钥文件 %s（0600）/ created a new secret key file %s (mode 0600)", path, path)
    return [key]


def _file_keys(path: Path) -> list[bytes]:
    keys = _split_keys(path.read_text("ascii", errors="replace"), str(path))
    if not keys:
        raise SecretKeyError(f"{path} 不是有效的 Fernet 密钥（32 字节 url-safe base64）/ "
                             f"{path} does not hold a valid Fernet key (32 url-safe base64 bytes)")
    return keys


def _check_key(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise SecretKeyError(f"{where} 不是有效的 Fernet 密钥（32 字节 url-safe base64）/ "
                             f"{where} does not hold a valid Fernet key (32 url-safe base64 bytes)") from None
    register_secret(key.decode("ascii", errors="replace"))  # a valid key: never in a log line (core/redaction.py)


def startup_key(sealed: Sequence[str], environ: Mapping[str, str] | None = None, *, key_file: Path | None = None) -> bytes:
    """The newest key, after :func:`startup_keys` validated every configured key against what is stored."""
    return startup_keys(sealed, environ, key_file=key_file)[0]


def startup_keys(sealed: Sequence[str], environ: Mapping[str, str] | None = None, *,
                 key_file: Path | None = None) -> list[bytes]:
    """The keys (newest first), validated once when the service starts against the secrets already stored (``sealed``:
    every ``enc:`` value of the database). Raises :class:`SecretKeyError` with a message naming the
    key file or variable when

    * the key (variable or file) is not a valid Fernet key,
    * there is no key file but secrets are stored (a new key could never open them), or
    * a stored secret cannot be opened with any of the keys (wrong key or tampered data).

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
    keys = load_keys(env, key_file=key_file, create=True)
    check_sealed(keys, sealed, where)
    return keys


def check_sealed(key: bytes | Sequence[bytes], sealed: Sequence[str], where: str) -> None:
    """Raise :class:`SecretKeyError` unless ``key`` (or one of the keys) opens every sealed value."""
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
    """Seal and open the secret fields of a Config dict. Given several keys (newest first) it opens
    with any of them and seals with the newest (:class:`~cryptography.fernet.MultiFernet`)."""

    def __init__(self, key: bytes | Sequence[bytes]) -> None:
        keys = [key] if isinstance(key, bytes | str) else list(key)
        if not keys:
            raise SecretKeyError("no secret key given")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def __repr__(self) -> str:  # never the key
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: str) -> str:
        register_secret(plaintext)  # what is sealed is a secret: masked in every log line (core/redaction.py)
        return PREFIX + self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            raise SecretKeyError("stored secret is not encrypted (missing 'enc:' prefix)")
        try:
            plain = self._fernet.decrypt(sealed[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyError("cannot decrypt a stored secret: wrong key or tampered data") from None
        register_secret(plain)  # opened for use: masked in every log line from now on
        return plain

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the newest key (:meth:`MultiFernet.rotate`); raises
        :class:`SecretKeyError` when no key opens it."""
        if not sealed.startswith(PREFIX):
            raise SecretKeyError("stored secret is not encrypted (missing 'enc:' prefix)")
        try:
            return PREFIX + self._fernet.rotate(sealed[len(PREFIX):].encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyError("cannot decrypt a stored secret: wrong key or tampered data") from None

    def reseal_values(self, value: Any) -> tuple[Any, int]:
        """A copy of a JSON-like value (dicts, lists) with every ``enc:`` string re-sealed with the
        newest key, and how many were."""
        if isinstance(value, str):
            return (self.reseal(value), 1) if value.startswith(PREFIX) else (value, 0)
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            count = 0
            for k, v in value.items():
                out[k], n = self.reseal_values(v)
                count += n
            return out, count
        if isinstance(value, list | tuple):
            items = [self.reseal_values(v) for v in value]
            return [v for v, _ in items], sum(n for _, n in items)
        return value, 0

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
