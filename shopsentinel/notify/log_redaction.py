"""Keep channel credentials out of logs written by libraries we call.

httpx logs every request at INFO as ``HTTP Request: POST <full URL> ...``; for DingTalk, WeCom,
Feishu and Slack the URL holds the credential (``access_token``, ``key``, the hook token). The rules
and the registry of live secret values live in :mod:`shopsentinel.core.redaction`, and
:func:`shopsentinel.core.logs.configure_logging` (called at the start of ``serve``, the CLI and the
backtest workers) puts them on the root handler, which covers every logger. :func:`install_log_redaction`
is for code that logs without that set-up (a library user, a test): it puts the same filter on the
HTTP libraries' loggers.

>>> redact_url_secrets("https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=x")
'https://oapi.dingtalk.com/robot/send?access_token=[redacted]&timestamp=1&sign=[redacted]'
"""

from __future__ import annotations

import logging

from shopsentinel.core.redaction import RedactingFilter, redact_patterns

_LOGGERS = ("httpx", "httpcore")

RedactSecretsFilter = RedactingFilter  # the name this module has always exported


def redact_url_secrets(text: str) -> str:
    """The pattern rules only (query parameters, headers, hook paths); see :func:`core.redaction.redact`."""
    return redact_patterns(text)


def install_log_redaction() -> None:
    """Attach the filter to the HTTP libraries' loggers (idempotent)."""
    for name in _LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


__all__ = ["RedactSecretsFilter", "install_log_redaction", "redact_url_secrets"]
