"""Honest dependencies (issue 16): every third-party module the code imports belongs to a distribution
pyproject.toml declares, every declared runtime distribution is imported somewhere, and what an extra
brings (``ml``, ``postgres``, ``workers``) is reached only through ``core.extras.require_extra`` — so the
default install runs the demo and ``serve`` and a missing extra is named, never a bare ImportError.

Imports are read from the AST: ``import x``/``from x import y`` anywhere (lazy ones too) and
``require_extra("x", …)`` calls. Modules map to distributions through
``importlib.metadata.packages_distributions()`` of the running (locked, ``dev``) environment."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from shopsentinel.core.extras import MissingExtraError, require_extra

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "shopsentinel"
RUNTIME_EXTRAS = ("ml", "postgres", "workers")

# Declared but never imported by our code, each for a reason; nothing else may be.
IMPORTED_BY_OTHERS = {
    "python-multipart": "FastAPI imports it (python_multipart) to parse the alert center's forms",
    "httptools": "uvicorn picks it up: HTTP parsing in C keeps the event loop (and /healthz) quick under a burst",
    "uvloop": "uvicorn picks it up: a faster event loop for the same reason (docs/BENCHMARKS.md, 双11 burst)",
}


def pyproject(root: Path = ROOT) -> dict:
    with (root / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]


def declared(project: dict, groups: Iterable[str]) -> set[str]:
    """Canonical names of the distributions the main list (group ``""``) and the named extras declare,
    without the project's own name (``dev`` pulls the other extras through ``shopsentinel[…]``)."""
    names: set[str] = set()
    for group in groups:
        for spec in project["dependencies"] if group == "" else project["optional-dependencies"][group]:
            name = canonicalize_name(Requirement(spec).name)
            if name != PROJECT:
                names.add(name)
    return names


def imported(folder: Path, calls: bool = True) -> dict[str, str]:
    """Third-party top-level module → the first file that imports it, for every ``.py`` under ``folder``;
    ``calls=False`` counts import statements only. Our own packages and the folder's own top-level
    modules (``bench/record.py``) and the repository's top-level packages (``tests``, ``deploy``) are not
    third-party."""
    local = {p.stem for p in (*folder.iterdir(), *ROOT.iterdir()) if p.suffix == ".py" or (p / "__init__.py").exists()}
    local |= {PROJECT, "tests", "bench"}
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (calls and isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require_extra"
                  and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                names = [node.args[0].value]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local and top != "__future__":
                    found.setdefault(top, str(path.relative_to(folder.parent)))
    return found


def undeclared(modules: dict[str, str], names: set[str], owners: dict[str, list[str]]) -> list[str]:
    """Each module whose distribution is not among ``names``, as ``"module (file) → distribution"``."""
    problems = []
    for module, where in sorted(modules.items()):
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        if not dists & names:
            problems.append(f"{module} ({where}) → {sorted(dists) or 'not installed'}")
    return problems


def unused(names: set[str], modules: Iterable[str], owners: dict[str, list[str]], allowed: Iterable[str] = ()) -> list[str]:
    """Each declared distribution none of whose modules is imported, except the ``allowed`` ones."""
    used = {canonicalize_name(d) for m in modules for d in owners.get(m, [])}
    return sorted(names - used - set(allowed))


@pytest.fixture(scope="module")
def owners() -> dict[str, list[str]]:
    return packages_distributions()


def test_every_third_party_import_of_the_package_is_declared(owners: dict[str, list[str]]) -> None:
    names = declared(pyproject(), ("", *RUNTIME_EXTRAS))
    assert undeclared(imported(ROOT / PROJECT), names, owners) == []


def test_every_declared_runtime_dependency_is_imported(owners: dict[str, list[str]]) -> None:
    names = declared(pyproject(), ("", *RUNTIME_EXTRAS))
    assert unused(names, imported(ROOT / PROJECT), owners, IMPORTED_BY_OTHERS) == []
    assert set(IMPORTED_BY_OTHERS) <= names  # the reasons speak of declared distributions


def test_the_tests_import_only_what_the_dev_install_declares(owners: dict[str, list[str]]) -> None:
    names = declared(pyproject(), ("", *RUNTIME_EXTRAS, "dev"))
    assert undeclared(imported(ROOT / "tests", calls=False), names, owners) == []


def import_time_imports(folder: Path) -> dict[str, list[str]]:
    """Top-level module → the files under ``folder`` that import it when they are imported: statements at
    module or class level, not inside a function and not under ``if TYPE_CHECKING:``."""
    found: dict[str, list[str]] = {}

    def visit(nodes: Iterable[ast.stmt], where: str) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.setdefault(alias.name.split(".")[0], []).append(where)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.setdefault(node.module.split(".")[0], []).append(where)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse, where)
            elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit([c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)], where)

    for path in sorted(folder.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)).body, str(path.relative_to(folder.parent)))
    return found


def test_no_module_imports_what_an_extra_brings_at_import_time(owners: dict[str, list[str]]) -> None:
    """The default install imports every module of ours: an extra's package (scikit-learn, psycopg,
    celery, redis) is reached inside the function that needs it, first through ``require_extra`` (which
    names the extra), never at import time. ``sim`` is test and demo tooling."""
    project = pyproject()
    optional = declared(project, RUNTIME_EXTRAS) - declared(project, ("",))
    assert {"scikit-learn", "psycopg", "celery", "redis"} <= optional
    leaks = [f"{m} ({where})" for m, files in import_time_imports(ROOT / PROJECT).items()
             if {canonicalize_name(d) for d in owners.get(m, [])} & optional
             for where in files if not where.startswith(f"{PROJECT}/sim/")]
    assert leaks == []


def test_import_time_means_module_and_class_level_not_functions_nor_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text(
        "import sklearn\nclass A:\n    from psycopg import sql\ntry:\n    import redis\nexcept ImportError:\n    pass\n"
        "def later():\n    import celery\nif TYPE_CHECKING:\n    import kombu\n", encoding="utf-8")
    assert set(import_time_imports(package)) == {"sklearn", "psycopg", "redis"}


def test_the_checks_catch_an_undeclared_import_and_an_unused_declaration(
        tmp_path: Path, owners: dict[str, list[str]]) -> None:
    """The checks above on a package that imports scipy without declaring it and declares statsmodels
    without importing it (this project before issue 16)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "stats.py").write_text("from scipy import stats\nimport numpy as np\nimport json\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\ndependencies = ["numpy>=1.26", "statsmodels>=0.14"]\n', encoding="utf-8")
    project = pyproject(tmp_path)
    names = declared(project, ("",))
    modules = imported(package)
    assert set(modules) == {"scipy", "numpy"}
    assert undeclared(modules, names, owners) == ["scipy (pkg/stats.py) → ['scipy']"]
    fake_owners = {**owners, "statsmodels": ["statsmodels"]}  # whether or not it is installed here
    assert unused(names, modules, fake_owners) == ["statsmodels"]


def test_require_extra_names_the_extra_to_install() -> None:
    with pytest.raises(MissingExtraError) as caught:
        require_extra("shopsentinel_no_such_module.sub", "postgres", "PostgreSQL 数据库 / the PostgreSQL database")
    error = caught.value
    message = str(error)
    assert message.startswith("PostgreSQL 数据库需要安装可选依赖 shopsentinel[postgres]")
    assert "/ the PostgreSQL database needs the optional extra shopsentinel[postgres]" in message
    assert message.count("pip install 'shopsentinel[postgres]'") == 2
    assert isinstance(error, ImportError) and error.name == "shopsentinel_no_such_module.sub"
    assert isinstance(error.__cause__, ModuleNotFoundError)


def test_require_extra_returns_an_installed_module_and_lets_other_import_errors_through(tmp_path: Path,
                                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert require_extra("json.decoder", "ml", "示例 / an example").JSONDecoder.__name__ == "JSONDecoder"
    # installed, but broken inside: its own missing import is reported as it is, not as a missing extra
    (tmp_path / "half_installed_extra.py").write_text("import shopsentinel_no_such_dependency\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as caught:
        require_extra("half_installed_extra", "ml", "示例 / an example")
    assert not isinstance(caught.value, MissingExtraError)
    assert caught.value.name == "shopsentinel_no_such_dependency"


def test_a_postgresql_url_without_the_postgres_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """psycopg hidden as if ``shopsentinel[postgres]`` were not installed: opening the state database
    says which extra to install, and ``serve`` prints that one line and exits 2 instead of a traceback."""
    from shopsentinel.store.db import make_engine

    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg → ModuleNotFoundError
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    with pytest.raises(MissingExtraError) as caught:
        make_engine(url)
    assert caught.value.extra == "postgres" and "shopsentinel[postgres]" in str(caught.value)
    assert make_engine("sqlite:///:memory:").dialect.name == "sqlite"  # the default install's database
    hidden = "import sys; sys.modules['psycopg'] = None; sys.argv = ['shopsentinel', 'serve', '--port', '1']; " \
             "from shopsentinel.cli import app; app()"
    result = subprocess.run([sys.executable, "-c", hidden], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "SHOPSENTINEL_DATABASE_URL": url, "COLUMNS": "400"})
    assert result.returncode == 2, result.stdout + result.stderr
    output = " ".join(result.stderr.split())
    assert "错误 / error: PostgreSQL 数据库需要安装可选依赖 shopsentinel[postgres]" in output
    assert "pip install 'shopsentinel[postgres]'" in output and "Traceback" not in output
