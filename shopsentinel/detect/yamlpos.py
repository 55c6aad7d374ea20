"""YAML with line numbers: load a document and keep its node tree, so an error found later (by
pydantic or by a JSON Schema) names the line of the field it is about, not just the file.

>>> data, root = load_located("rules:\\n  - id: a\\n    for: 2x\\n", "r.yaml")
>>> line_of(root, ("rules", 0, "for"))
3
>>> line_of(root, ("rules", 0, "when"))   # a missing field: the line of the mapping that lacks it
2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from shopsentinel.core.errors import RuleError


def load_located(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document's data (``yaml.safe_load``) and its node tree (``yaml.compose``)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(f"YAML 格式错误 / not valid YAML: {problem}", file=source,
                        line=mark.line + 1 if mark else None) from None
    return data, root


def node_at(root: yaml.Node | None, loc: Sequence[int | str]) -> yaml.Node | None:
    """The deepest node along ``loc`` (steps that name no node, such as pydantic's union tags, are skipped)."""
    node = root
    for step in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(step)), None)
            if found is not None:
                node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
    return node


def line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    node = node_at(root, loc)
    return node.start_mark.line + 1 if node is not None else None


def clean_loc(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    """A pydantic location without union tags and validator names (``when.ratio``, not ``when.change.ratio``)."""
    from shopsentinel.detect.rules import CONDITION_MODELS

    return tuple(p for p in loc if not (isinstance(p, str) and (
        p in ("Condition", "Compound") or p in CONDITION_MODELS or "[" in p or p.startswith("function-"))))


def dotted(loc: Sequence[int | str]) -> str:
    return ".".join(str(p) for p in loc) or "(root)"


def validation_error(exc: ValidationError, root: yaml.Node | None, source: str, prefix: tuple[int | str, ...] = ()) -> RuleError:
    """The first error of a pydantic validation as a :class:`RuleError` with the field's line."""
    first = exc.errors()[0]
    loc = prefix + clean_loc(tuple(first["loc"]))
    return RuleError(f"字段无效 / invalid field: {first['msg']}", file=source, line=line_of(root, loc), field=dotted(loc))
