"""YAML with line numbers: the document as plain Python values, plus the 1-based line of every
mapping key and sequence item, found from the composed nodes' marks.

>>> doc = load_yaml("apiVersion: 1\\nchannels:\\n  - name: a\\n    kind: dingtalk\\n", "c.yaml")
>>> doc.data["channels"][0]["kind"], doc.line(("channels", 0, "kind")), doc.line(("channels", 0, "settings", "x"))
('dingtalk', 4, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class YamlProblem(Exception):
    """The file is not YAML (or repeats a key): ``line`` is 1-based."""

    def __init__(self, line: int, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.line, self.zh, self.en = line, zh, en


@dataclass
class YamlDoc:
    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Sequence[str | int]) -> int:
        """The line of ``path``, else of its nearest ancestor that has one (1 for the document)."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)


def load_yaml(text: str, file: str) -> YamlDoc:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDoc(file, None)
        doc = YamlDoc(file, loader.construct_document(node))
        _walk(node, (), doc.lines)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = f"{exc.problem or ''} {exc.context or ''}".strip()
        raise YamlProblem(mark.line + 1 if mark else 1, f"不是有效的 YAML：{problem}", f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"不是有效的 YAML：{exc}", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key_node.value)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise YamlProblem(line, f"键 {key!r} 重复", f"key {key!r} appears twice")
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines)


__all__ = ["YamlDoc", "YamlProblem", "load_yaml"]
