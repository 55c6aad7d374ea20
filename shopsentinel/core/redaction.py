"""Keep secrets out of every log line: pattern rules plus a registry of the live secret values.

Two layers, applied to each record's formatted message, its exception text and its stack:

1. **Patterns** for where credentials sit in text we do not control (httpx's ``HTTP Request: POST
   <url>`` lines, error messages quoting a URL or a response body): query parameters whose name says
   secret (``access_token``, ``refresh_token``, ``sign``, ``key``, ``app_secret``, ``Signature``,
   ``AccessKeyId``, ``token``, ``session``, …), secret headers (``Authorization``,
   ``x-amz-access-token``, ``X-Shopify-Access-Token``, ``Cookie``/``Set-Cookie``, …) in ``name: value``
   or tuple form, JSON/dict keys (``"client_secret": "…"``), ``Bearer``/``Basic`` credentials,
   credentials in a URL's user-info (``postgresql://user:pw@host``) and tokens in URL paths (the
   Feishu/Lark hook, Slack's incoming webhook).
2. **Known values**: every secret the process holds in plain text is registered (the secret box
   registers what it seals and opens — channel settings, store credentials, rotated tokens, playbook
   integrations — and the service registers its settings' ``SecretStr`` fields and the secret key);
   any occurrence, raw or percent-encoded, is replaced. This catches a secret wherever it turns up.

Patterns run first, so a URL keeps its shape (``…/send?access_token=[redacted]&timestamp=…``).

>>> redact("GET https://api.example.com/x?app_key=k&access_token=t0k3n&page=2")
'GET https://api.example.com/x?app_key=[redacted]&access_token=[redacted]&page=2'
>>> values = SecretValues()
>>> values.add("s3cr3t-value")
>>> redact("failed with s3cr3t-value", values)
'failed with [redacted]'
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, SecretStr

MASK = "[redacted]"
# A registered value shorter than this is ignored: masking "abc" everywhere would garble logs, and a
# secret that short is no secret.
MIN_SECRET_LENGTH = 6

# Names of query parameters (and form fields) that carry a credential: any name ending in one of
# these words, plus a few exact names.
_SECRET_NAME = r"[\w.-]*(?:token|secret|sign|signature|password|passwd|session|key|keyid|credential)|code|auth"
_QUERY = re.compile(rf"(?i)([?&;](?:{_SECRET_NAME})=)[^&\s\"'#<>]*")
_HEADER_NAMES = (r"authorization|proxy-authorization|x-amz-access-token|x-amz-security-token|x-shopify-access-token|"
                 r"x-api-key|x-acs-security-token|x-csrf-token|cookie|set-cookie|access-token")
# ``Authorization: Bearer x`` / ``x-amz-access-token=x`` (to the end of the line)
_HEADER_LINE = re.compile(rf"(?im)\b((?:{_HEADER_NAMES})\s*[:=]\s*)(?!\[redacted\])[^\r\n]+")
# ``(b'set-cookie', b'x')`` (httpcore's header tuples) and ``'authorization': 'x'`` (dict reprs)
_HEADER_PAIR = re.compile(rf"(?i)([\"'](?:{_HEADER_NAMES})[\"'](?:,|\s*:)\s*b?[\"'])[^\"']*")
_JSON_KEY = re.compile(r"(?i)([\"'][\w-]*(?:token|secret|password|passwd|signature|sign|api_?key|access_?key|"
                       r"secret_?key|session)[\"']\s*:\s*b?[\"'])[^\"']*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+(?!\[redacted\])[A-Za-z0-9._~+/=|:-]{8,}")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(@)")
_PATH_TOKENS = re.compile(r"(/open-apis/bot/v2/hook/|hooks\.slack\.com/services/)[^\s\"'?#<>]+")


def redact_patterns(text: str) -> str:
    """``text`` with every credential found by the pattern rules replaced by ``[redacted]``."""
    text = _QUERY.sub(lambda m: m.group(1) + MASK, text)
    text = _PATH_TOKENS.sub(lambda m: m.group(1) + MASK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(2), text)
    text = _HEADER_PAIR.sub(lambda m: m.group(1) + MASK, text)
    text = _JSON_KEY.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _HEADER_LINE.sub(lambda m: m.group(1) + MASK, text)


class SecretValues:
    """The registry of live secret values (thread-safe; matching is one precompiled regex)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:  # never the values
        return f"SecretValues(<{len(self._values)} values>)"

    def add(self, value: str | SecretStr | None) -> None:
        """Register a secret (and its percent-encoded forms); short or empty values are ignored."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        forms = {value, quote(value, safe=""), quote_plus(value, safe="")}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            # longest first, so a value containing another is masked whole
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text


SECRETS = SecretValues()  # the process's registry


def register_secret(value: str | SecretStr | None) -> None:
    """Register one secret value with the process's registry (see :class:`SecretValues`)."""
    SECRETS.add(value)


def register_model_secrets(model: BaseModel) -> None:
    """Register every ``SecretStr`` anywhere in a pydantic model (nested models, lists, dicts)."""
    for value in _secret_leaves(model):
        SECRETS.add(value)


def _secret_leaves(value: Any) -> Iterable[SecretStr]:
    if isinstance(value, SecretStr):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_leaves(getattr(value, name, None))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_leaves(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secret_leaves(item)


def redact(text: str, values: SecretValues | None = None) -> str:
    """Patterns first (URLs keep their shape), then every registered value."""
    return (values or SECRETS).redact(redact_patterns(text))


class RedactingFilter(logging.Filter):
    """Replaces a record's message (its args merged in), exception text and stack with the redacted
    text. Attach it to a handler to cover every logger whose records reach that handler."""

    _formatter = logging.Formatter()

    def __init__(self, values: SecretValues | None = None) -> None:
        super().__init__()
        self.values = values or SECRETS

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # args that do not fit the format: keep both, as text
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message, self.values), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.values)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.values)
        return True


__all__ = ["MASK", "MIN_SECRET_LENGTH", "SECRETS", "RedactingFilter", "SecretValues", "redact", "redact_patterns",
           "register_model_secrets", "register_secret"]
