"""Optional dependencies (pyproject ``[project.optional-dependencies]``): the default install runs the
demo and ``serve`` on SQLite + DuckDB; a feature that needs more imports it through ``require_extra``,
which names the extra to install when the package is missing.

>>> require_extra("json", "ml", "an example").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from shopsentinel.core.errors import ShopSentinelError

DISTRIBUTION = "shopsentinel"


class MissingExtraError(ShopSentinelError, ImportError):
    """A feature's optional dependency is not installed; the message names the extra that brings it."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        self.module = module
        self.extra = extra
        self.feature = feature
        spec = f"{DISTRIBUTION}[{extra}]"
        zh, _, en = feature.partition(" / ")
        super().__init__(
            f"{zh}需要安装可选依赖 {spec}（缺少模块 {module}）：pip install '{spec}' / "
            f"{en or zh} needs the optional extra {spec} (module {module} is missing): pip install '{spec}'",
            name=module,
        )


def require_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``; if it (or a package it lives in) is not installed, raise ``MissingExtraError``
    naming ``shopsentinel[extra]``. ``feature`` says what needs it as ``"中文 / English"`` (``"Isolation Forest
    检测器 / the Isolation Forest detector"``). A module that is installed but fails to import for another
    reason raises its own error: only absence is reported as a missing extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            raise MissingExtraError(module, extra, feature) from exc
        raise


def require_celery() -> ModuleType:
    """Celery for the scale-out workers (``shopsentinel[workers]``)."""
    return require_extra("celery", "workers", "分布式工作进程 / the scale-out workers")


def require_redis() -> ModuleType:
    """The Redis client for the scale-out workers' broker and shared state (``shopsentinel[workers]``)."""
    return require_extra("redis", "workers", "Redis 客户端 / the Redis client")


__all__ = ["MissingExtraError", "require_celery", "require_extra", "require_redis"]
