"""What the CLI says when it talks to the running service (``--url`` / SHOPSENTINEL_URL): the service
could not be reached, refused the token, or refused the request — each a Chinese-first
:class:`~shopsentinel.core.errors.InputError`, never a traceback."""

from __future__ import annotations

from typing import Any

from shopsentinel.core.errors import InputError


def unreachable(url: str, exc: Exception) -> InputError:
    return InputError(f"服务 {url} 无法连接 / cannot reach the service at {url}: {type(exc).__name__}")


def checked(response: Any, what: str = "请求 / the service refused the request") -> Any:
    """``response`` if the service accepted it, else the error that says why."""
    if response.status_code in (401, 403):
        raise InputError(f"服务拒绝了令牌（需要 editor 令牌，设置 SHOPSENTINEL_TOKEN 或 --token）/ the service "
                         f"refused the token (an editor token is needed): HTTP {response.status_code}", field="token")
    if response.status_code >= 400:
        raise InputError(f"服务拒绝了{what}: HTTP {response.status_code} {response.text[:300]}")
    return response


__all__ = ["checked", "unreachable"]
