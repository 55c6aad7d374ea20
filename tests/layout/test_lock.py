"""The lock is the environment (issue 16): uv.lock records what pyproject.toml declares, the running
environment holds exactly the locked releases, and requirements/lock.txt (pip's fallback constraints)
pins the same ones. A dependency edited in pyproject.toml without ``make lock`` fails here."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "shopsentinel"


def load_lock(root: Path = ROOT) -> dict:
    with (root / "uv.lock").open("rb") as f:
        return tomllib.load(f)


def load_project(root: Path = ROOT) -> dict:
    with (root / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]


def locked_versions(lock: dict) -> dict[str, str]:
    return {canonicalize_name(p["name"]): p["version"] for p in lock["package"] if p["name"] != PROJECT}


def declared_requirements(project: dict) -> set[tuple[str, str, tuple[str, ...], str]]:
    """(name, specifier, extras, marker) of every requirement, the extras' ones marked as uv marks them."""
    found = set()
    groups = [("", project["dependencies"])] + sorted(project.get("optional-dependencies", {}).items())
    for extra, specs in groups:
        for spec in specs:
            req = Requirement(spec)
            parts = ([str(req.marker).replace('"', "'")] if req.marker else []) + ([f"extra == '{extra}'"] if extra else [])
            marker = " and ".join(parts)  # as uv records it: the requirement's own marker, then the extra
            found.add((canonicalize_name(req.name), str(req.specifier), tuple(sorted(req.extras)), marker))
    return found


def recorded_requirements(lock: dict) -> set[tuple[str, str, tuple[str, ...], str]]:
    """The same tuples from the lock's record of the project's metadata (``[package.metadata] requires-dist``)."""
    root = next(p for p in lock["package"] if p["name"] == PROJECT)
    return {(canonicalize_name(r["name"]), r.get("specifier", ""), tuple(sorted(r.get("extras", []))), r.get("marker", ""))
            for r in root["metadata"]["requires-dist"]}


def stale(project: dict, lock: dict) -> list[str]:
    """Why the lock does not answer ``project``: requirements it does not record, records no longer
    required, and declared requirements no locked release satisfies."""
    declared, recorded = declared_requirements(project), recorded_requirements(lock)
    problems = [f"not locked: {r}" for r in sorted(declared - recorded)]
    problems += [f"no longer declared: {r}" for r in sorted(recorded - declared)]
    versions = locked_versions(lock)
    for name, specifier, _extras, _marker in sorted(declared):
        if name == PROJECT:
            continue
        if name not in versions:
            problems.append(f"{name} is missing from the lock")
        elif not Requirement(f"{name}{specifier}").specifier.contains(Version(versions[name]), prereleases=True):
            problems.append(f"{name}=={versions[name]} does not meet {specifier}")
    return problems


@pytest.fixture(scope="module")
def lock() -> dict:
    return load_lock()


def test_every_declared_dependency_is_locked_as_declared(lock: dict) -> None:
    assert stale(load_project(), lock) == []


def test_a_pyproject_edit_without_relocking_is_caught(lock: dict) -> None:
    project = load_project()
    edited = {**project, "dependencies": [*project["dependencies"], "prophet>=1.1"]}
    assert stale(edited, lock)[0] == "not locked: ('prophet', '>=1.1', (), '')"
    assert "prophet is missing from the lock" in stale(edited, lock)
    raised = {**project, "dependencies": [
        "numpy>=99" if Requirement(spec).name == "numpy" else spec for spec in project["dependencies"]]}
    assert any(p.startswith("numpy==") and p.endswith("does not meet >=99") for p in stale(raised, lock))
    assert "no longer declared: ('numpy', '>=1.26', (), '')" in stale(raised, lock)


def test_the_installed_releases_are_the_locked_ones(lock: dict) -> None:
    """Every locked package that is installed here has its locked version; the lock covers every
    platform, so a package for another one (colorama on Windows) may be absent, but never one that
    the dev install needs."""
    mismatched, installed = [], []
    for name, locked in sorted(locked_versions(lock).items()):
        try:
            found = version(name)
        except PackageNotFoundError:
            continue
        installed.append(name)
        if Version(found) != Version(locked):
            mismatched.append(f"{name}: installed {found}, locked {locked}")
    assert mismatched == [], "run `make` (uv sync --locked) to install the locked releases"
    for needed in ("fastapi", "scikit-learn", "psycopg", "celery", "pytest", "uv"):
        assert needed in installed


def test_pip_fallback_constraints_pin_the_locked_releases(lock: dict) -> None:
    pins = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (pinned,) = req.specifier
            assert pinned.operator == "==", line
            pins[canonicalize_name(req.name)] = pinned.version
    assert pins == locked_versions(lock), "run `make lock` to export requirements/lock.txt again"
