"""The container deployment stays in step with what the tests run: ``compose.yaml`` runs exactly the
roles of ``deploy/topology.py`` (same commands, same replica counts, the shared settings for every
role), and the image runs as a non-root user with a health check. There is no Docker daemon here, so
the files are checked, and the same topology is run as plain processes (tests/runtime)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from deploy.topology import ROLES, SHARED_ENV

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_compose_runs_the_roles_of_the_process_topology() -> None:
    services = compose()["services"]
    for role in ROLES:
        assert role.name in services, f"compose.yaml has no service {role.name!r}"
        service = services[role.name]
        assert tuple(service["command"]) == role.command, role.name
        assert service.get("deploy", {}).get("replicas", 1) == role.replicas, role.name
        for name in SHARED_ENV:
            assert service["environment"].get(name), f"{role.name}: {name} is not set"
    roles = {r.name for r in ROLES}
    product = {name for name, s in services.items() if s.get("image", "").startswith("shopsentinel")}
    assert product == roles  # nothing runs in containers that the tests do not run as processes
    assert {"postgres", "redis"} <= set(services)


def test_every_role_shares_one_secret_key_and_the_api_listens_beyond_loopback() -> None:
    services = compose()["services"]
    keys = {services[r.name]["environment"]["SHOPSENTINEL_SECRET_KEY"] for r in ROLES}
    assert len(keys) == 1 and keys.pop().startswith("${SHOPSENTINEL_SECRET_KEY:?")  # given, never generated per replica
    api = services["api"]
    assert api["environment"]["SHOPSENTINEL_HOST"] == "0.0.0.0"
    assert api["environment"]["SHOPSENTINEL_BROKER_URL"].startswith("redis://redis:")
    assert "postgresql+psycopg://" in api["environment"]["SHOPSENTINEL_DATABASE_URL"]


def test_the_image_runs_unprivileged_with_a_health_check_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*healthz", text, re.M)
    assert "uv sync --locked" in text and "COPY pyproject.toml uv.lock" in text
    pinned = re.search(r"uv==([\d.]+)", text)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert pinned is not None and f"UV_VERSION := {pinned.group(1)}" in makefile  # the same uv as make test
    assert re.search(r'^ENTRYPOINT \["shopsentinel"\]', text, re.M)
