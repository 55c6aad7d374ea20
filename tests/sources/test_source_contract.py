"""The contract every registered connector keeps. Parametrized over the registry itself, so a new
``CONNECTORS`` entry is covered without touching this file.

Each entry: its class satisfies the one :class:`~shopsentinel.sources.base.Source` protocol, its
Config marks every credential as ``SecretStr``, its order-state tables are complete (or the Config
carries them), it builds from its example Config without network and hides the secrets, and its
folder has a README.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.types import ORDER_STATES, PLATFORM_NAMES_ZH, PLATFORMS
from shopsentinel.sources.base import Source
from shopsentinel.sources.registry import CONNECTORS, PlatformEntry, build_source, secret_fields, state_tables

T = datetime(2026, 11, 1, tzinfo=UTC)
# A Config field with one of these in its name holds a credential and must be SecretStr.
SECRET_NAME = re.compile(r"secret|token|password", re.IGNORECASE)
ENTRIES = sorted(CONNECTORS.items())


def test_the_registry_lists_exactly_the_one_platform_list() -> None:
    assert sorted(CONNECTORS) == sorted(PLATFORMS)
    assert len(set(PLATFORMS)) == len(PLATFORMS)
    assert set(PLATFORM_NAMES_ZH) == set(PLATFORMS)


def _annotation_types(annotation: Any) -> set[Any]:
    args = get_args(annotation)
    return {t for arg in args for t in _annotation_types(arg)} if args else {annotation}


def _credential_problems(model: type[BaseModel], where: str = "") -> list[str]:
    """Fields named like credentials that are not SecretStr, through nested Config models too."""
    problems = []
    for name, info in model.model_fields.items():
        types = _annotation_types(info.annotation)
        if SECRET_NAME.search(name) and SecretStr not in types:
            problems.append(f"{where}{name}: {info.annotation}")
        for nested in types:
            if isinstance(nested, type) and issubclass(nested, BaseModel):
                problems += _credential_problems(nested, f"{where}{name}.")
    return problems


@pytest.mark.parametrize(("platform", "found"), ENTRIES, ids=[p for p, _ in ENTRIES])
def test_class_satisfies_the_source_protocol(platform: str, found: PlatformEntry) -> None:
    cls = found.connector
    assert cls.platform == platform == found.platform
    assert cls.config_model is found.config_model
    for method in ("read", "aclose"):
        assert inspect.iscoroutinefunction(getattr(cls, method)), f"{platform}: {method} must be async"
    for method in ("streams", "pages"):
        assert callable(getattr(cls, method, None)) and not inspect.iscoroutinefunction(getattr(cls, method))
    build = inspect.signature(cls)
    assert {"clock", "sleep"} <= set(build.parameters), f"{platform}: built as cls(config, clock=..., sleep=...)"
    if found.rotates_tokens:
        assert "on_tokens" in build.parameters, f"{platform}: rotates tokens but takes no on_tokens"


@pytest.mark.parametrize(("platform", "found"), ENTRIES, ids=[p for p, _ in ENTRIES])
def test_config_marks_every_credential_as_secret(platform: str, found: PlatformEntry) -> None:
    assert _credential_problems(found.config_model) == []
    assert secret_fields(found.config_model), f"{platform}: a Config without any secret field"


@pytest.mark.parametrize(("platform", "found"), ENTRIES, ids=[p for p, _ in ENTRIES])
def test_state_tables_are_complete(platform: str, found: PlatformEntry) -> None:
    if found.states_in_config:
        assert not found.state_tables
        assert any("state" in name for name in _all_field_names(found.config_model)), platform
        return
    tables = state_tables()[platform]
    order_tables = {name: t for name, t in tables.items() if "REFUND" not in name and "AFTER" not in name}
    assert order_tables, f"{platform}: no table maps its order status to a standard state"
    for name, table in tables.items():
        assert table, f"{platform}.{name} is empty"
        assert all(isinstance(v, str) and v for v in table.values() if v is not None), f"{platform}.{name}"
    for name, table in order_tables.items():
        outside = {s for s in table.values() if s is not None} - set(ORDER_STATES)
        assert not outside, f"{platform}.{name} maps to non-standard states {outside}"
    mapped = {s for t in order_tables.values() for s in t.values() if s is not None}
    assert "已完成" in mapped and mapped & {"待发货", "在途"}, f"{platform}: order tables miss the basic lifecycle"


def _all_field_names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for info in model.model_fields.values():
        for nested in _annotation_types(info.annotation):
            if isinstance(nested, type) and issubclass(nested, BaseModel):
                names |= _all_field_names(nested)
    return names


@pytest.mark.parametrize(("platform", "found"), ENTRIES, ids=[p for p, _ in ENTRIES])
def test_builds_from_its_example_config_without_network_and_hides_secrets(platform: str, found: PlatformEntry) -> None:
    canaries = {name: f"CANARY-{name}-7f3a" for name in secret_fields(found.config_model)}
    config = found.config_model.model_validate({**found.example, **canaries})
    source = build_source(platform, config, clock=ManualClock(T), on_tokens=lambda tokens: None)
    try:
        assert isinstance(source, Source)
        assert isinstance(source, found.connector)
        assert list(source.streams()), f"{platform}: no streams"
        assert "orders" in source.streams() or found.states_in_config
        shown = repr(source) + str(source) + repr(config) + str(config)
        assert "CANARY" not in shown, f"{platform}: a secret shows in repr/str"
    finally:
        asyncio.run(source.aclose())


@pytest.mark.parametrize(("platform", "found"), ENTRIES, ids=[p for p, _ in ENTRIES])
def test_connector_folder_has_a_readme(platform: str, found: PlatformEntry) -> None:
    module = sys.modules[found.connector.__module__]
    assert module.__file__ is not None
    readme = Path(module.__file__).parent / "README.md"
    assert readme.is_file(), f"{platform}: {readme} is missing"
    assert readme.read_text(encoding="utf-8").strip(), f"{platform}: README is empty"


def test_the_contract_can_fail() -> None:
    """The checks above are not vacuous: a Config with a plain-text token, a table mapping outside
    the standard states and an object missing ``pages`` are caught."""

    class Leaky(BaseModel):
        app_key: str
        access_token: str

    assert _credential_problems(Leaky) == ["access_token: <class 'str'>"]

    class Partial:
        platform = "x"
        config_model = Leaky

        def streams(self) -> list[str]:
            return []

        async def read(self, stream: str, cursor: dict[str, Any], until: datetime) -> list[Any]:
            return []

    assert not isinstance(Partial(), Source)
