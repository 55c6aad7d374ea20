"""Keep channel credentials out of logs written by libraries we call.

httpx logs every request at INFO as ``HTTP Request: POST <full URL> ...``; for DingTalk, WeCom,
Feishu and Slack the URL holds the credential (``access_token``, ``key``, the hook token). Call
:func:`install_log_redaction` once at start-up (the service and the CLI do; tests do explicitly).

>>> redact_url_secrets("https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=x")
'https://oapi.dingtalk.com/robot/send?access_token=[redacted]&timestamp=1&sign=[redacted]'
"""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"(?i)\b(access_token|key|sign|token|secret|Signature|AccessKeyId)=[^&\s\"']+")
_SECRET_PATH = re.compile(r"(/open-apis/bot/v2/hook/|hooks\.slack\.com/services/)[^\s\"'?]+")
_LOGGERS = ("httpx", "httpcore")


def redact_url_secrets(text: str) -> str:
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=[redacted]", text)
    return _SECRET_PATH.sub(lambda m: f"{m.group(1)}[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message with credentials in URLs replaced by ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_log_redaction() -> None:
    """Attach the filter to the HTTP libraries' loggers (idempotent)."""
    for name in _LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in target.filters):
            target.addFilter(RedactSecretsFilter())
