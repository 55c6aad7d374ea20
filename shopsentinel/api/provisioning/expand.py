"""References in provisioning files, as in Grafana: ``${VAR}`` (or ``$__env{VAR}``) is the environment
variable, ``$__file{/path}`` the text of a file (one trailing newline dropped), ``$$`` a literal ``$``.
A missing variable or unreadable file is an error (never an empty secret); values are never echoed.

>>> expand("Bearer ${TOKEN}", {"TOKEN": "abc"}), expand("cost: $$5", {})
('Bearer abc', 'cost: $5')
>>> is_reference("${TOKEN}"), is_reference("plain-secret")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$__env\{([A-Za-z_][A-Za-z0-9_]*)\}|\$__file\{([^}]*)\}")


class ExpansionError(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


def is_reference(value: object) -> bool:
    """Whether ``value`` takes (part of) its text from the environment or a file."""
    return isinstance(value, str) and any(m.group(0) != "$$" for m in _TOKEN.finditer(value))


def _read(path: str) -> str:
    target = Path(path.strip())
    if not target.is_absolute():
        raise ExpansionError(f"$__file{{{path}}} 须为绝对路径", f"$__file{{{path}}} needs an absolute path")
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExpansionError(f"文件 {target} 不存在", f"file {target} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpansionError(f"无法读取文件 {target}（{type(exc).__name__}）",
                             f"cannot read file {target} ({type(exc).__name__})") from None
    return text[:-1] if text.endswith("\n") else text


def expand(value: str, env: Mapping[str, str]) -> str:
    """``value`` with every reference replaced (see the module docstring)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        if name is not None:
            if name not in env:
                raise ExpansionError(f"环境变量 {name} 未设置", f"environment variable {name} is not set")
            return env[name]
        return _read(match.group(3))

    return _TOKEN.sub(one, value)


def expand_tree(data: Any, env: Mapping[str, str], path: tuple[str | int, ...] = ()) -> tuple[Any, list[tuple[tuple[str | int, ...], ExpansionError]]]:
    """``data`` with every string expanded, and the problems by path (the string is left as it was)."""
    problems: list[tuple[tuple[str | int, ...], ExpansionError]] = []

    def walk(node: Any, at: tuple[str | int, ...]) -> Any:
        if isinstance(node, str):
            try:
                return expand(node, env)
            except ExpansionError as exc:
                problems.append((at, exc))
                return node
        if isinstance(node, dict):
            return {k: walk(v, (*at, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*at, i)) for i, v in enumerate(node)]
        return node

    return walk(data, path), problems


__all__ = ["ExpansionError", "expand", "expand_tree", "is_reference"]
