"""The package layout is checked by a tool, not by eye: import-linter's contracts in pyproject.toml
(layers in flow order, ``sim`` only for tests/demo/CLI, no cycles between sibling modules counting
lazy and TYPE_CHECKING imports, private modules) — plus the one rule it cannot express: no module
imports another package's private names (``from shopsentinel.detect.x import _helper``)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shopsentinel"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over a copy of the package in ``tree`` with the project's own contracts."""
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, capture_output=True, text=True, env={"PYTHONPATH": str(tree), "PATH": ""})


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("layout")
    shutil.copytree(PACKAGE, tree / "shopsentinel", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_contracts_hold_on_the_package(copy: Path) -> None:
    result = _lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "back_edge", "contract"), [
    # a lower layer reaching up, even lazily inside a function
    ("core/clock.py", "def _late() -> None:\n    import shopsentinel.runtime.service  # noqa\n", "Layers in flow order"),
    # a product package importing the simulators
    ("detect/panel.py", "from shopsentinel.sim import fleet as _fleet  # noqa\n", "Simulators are for tests"),
    # a cycle between two modules of one package hidden behind TYPE_CHECKING
    ("alerting/grouping.py",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import shopsentinel.alerting.pipeline  # noqa\n",
     "No import cycles"),
])
def test_a_back_edge_breaks_the_contract(copy: Path, module: str, back_edge: str, contract: str) -> None:
    target = copy / "shopsentinel" / module
    original = target.read_text(encoding="utf-8")
    try:
        target.write_text(original + "\n\n" + back_edge, encoding="utf-8")
        result = _lint(copy)
    finally:
        target.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


def _private_imports(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shopsentinel.")):
                continue
            target = node.module.split(".")
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and target[1] != parts[1]:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} imports {node.module}.{alias.name}")
    return found


def test_no_package_imports_another_packages_private_names() -> None:
    assert _private_imports(PACKAGE) == []


def test_the_private_name_check_sees_a_private_import(tmp_path: Path) -> None:
    pkg = tmp_path / "shopsentinel"
    (pkg / "web").mkdir(parents=True)
    (pkg / "web" / "page.py").write_text("from shopsentinel.detect.evaluator import _combine\n", encoding="utf-8")
    (pkg / "detect").mkdir()
    (pkg / "detect" / "ok.py").write_text("from shopsentinel.detect.evaluator import _combine\n", encoding="utf-8")
    assert _private_imports(pkg) == ["shopsentinel/web/page.py:1 imports shopsentinel.detect.evaluator._combine"]
