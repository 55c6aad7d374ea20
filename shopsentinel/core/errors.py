"""The one exception hierarchy of ShopSentinel.

::

    ShopSentinelError
     ├── InputError              bad user input; carries file, line and field
     │    ├── ImportFileError    a metrics/stores/calendar file that cannot be read
     │    └── RuleError          a rule file or rule definition that does not validate
     ├── CatalogError            unknown or inconsistent metric definitions
     ├── SourceError             a platform/connector call failed
     │    ├── AuthError          bad or expired credentials (permanent until fixed)
     │    ├── ThrottledError     platform asked us to slow down (recoverable)
     │    └── PlatformError      platform returned an error envelope
     └── DeliveryError           a notification could not be delivered
          ├── RecoverableDeliveryError   retry later (429, 5xx, timeouts)
          └── PermanentDeliveryError     do not retry (bad credentials, 4xx)
"""

from __future__ import annotations


class ShopSentinelError(Exception):
    """Base class of every error ShopSentinel raises on purpose."""


class InputError(ShopSentinelError):
    """Bad input, located as precisely as we can: file, line (1-based) and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"column {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ImportFileError(InputError):
    """A metrics, stores or calendar file that cannot be imported."""


class RuleError(InputError):
    """A rule definition that does not validate."""


class CatalogError(ShopSentinelError):
    """Unknown or inconsistent metric definitions."""


class SourceError(ShopSentinelError):
    """A platform or connector call failed."""


class AuthError(SourceError):
    """Credentials are bad or expired."""


class ThrottledError(SourceError):
    """The platform asked us to slow down; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PlatformError(SourceError):
    """The platform answered with an error envelope (code and message kept)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(f"[{code}] {message}" if code else message)
        self.code = code


class DeliveryError(ShopSentinelError):
    """A notification could not be delivered."""


class RecoverableDeliveryError(DeliveryError):
    """Delivery failed in a way that may succeed later (429, 5xx, timeouts)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Delivery failed for good (bad credentials, malformed request)."""
