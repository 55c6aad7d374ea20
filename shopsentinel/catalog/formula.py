"""A small, safe arithmetic language for derived and composite metric formulas.

Formulas combine metric names with ``+ - * /``, numbers, parentheses and a few functions
(``min``, ``max``, ``abs``, ``forecast_daily``). They are parsed with :mod:`ast` and never
``eval``-ed, so a rule or catalog file cannot run code.

>>> Formula("pay_conversion_rate * (1 - refund_rate)").names()
['pay_conversion_rate', 'refund_rate']
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shopsentinel.core.errors import CatalogError

_FUNCTIONS = {"min", "max", "abs", "forecast_daily"}


class Formula:
    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self._tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise CatalogError(f"formula {text!r} is not valid: {exc.msg}") from None
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                    raise CatalogError(f"formula {text!r}: only {sorted(_FUNCTIONS)} may be called")
            elif not isinstance(
                node,
                ast.Expression | ast.BinOp | ast.UnaryOp | ast.Name | ast.Constant | ast.Load
                | ast.Add | ast.Sub | ast.Mult | ast.Div | ast.USub | ast.UAdd,
            ):
                raise CatalogError(f"formula {text!r}: {type(node).__name__} is not allowed")

    def names(self) -> list[str]:
        seen: list[str] = []
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Name) and node.id not in _FUNCTIONS and node.id not in seen:
                seen.append(node.id)
        return seen

    def evaluate(self, values: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None = None) -> Any:
        """Evaluate over numbers or numpy arrays; division by zero gives NaN, never an error."""
        funcs: dict[str, Callable[..., Any]] = {"min": np.fmin, "max": np.fmax, "abs": np.abs}
        funcs.update(functions or {})
        return self._eval(self._tree.body, values, funcs)

    def _eval(self, node: ast.AST, values: Mapping[str, Any], funcs: Mapping[str, Callable[..., Any]]) -> Any:
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float):
                raise CatalogError(f"formula {self.text!r}: only numbers may appear as constants")
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise CatalogError(f"formula {self.text!r}: no data for {node.id!r}")
            return values[node.id]
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand, values, funcs)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left = self._eval(node.left, values, funcs)
            right = self._eval(node.right, values, funcs)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            with np.errstate(divide="ignore", invalid="ignore"):
                den = np.asarray(right, dtype=float)
                out = np.divide(left, np.where(den == 0, np.nan, den))
            return out
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [self._eval(a, values, funcs) for a in node.args]
            if node.func.id == "forecast_daily":
                fn = funcs.get("forecast_daily")
                if fn is None:
                    raise CatalogError("forecast_daily() is only available inside the engine")
                return fn(node.args[0].id if isinstance(node.args[0], ast.Name) else args[0])
            return funcs[node.func.id](*args)
        raise CatalogError(f"formula {self.text!r}: cannot evaluate {type(node).__name__}")
