"""Property-based API test (schemathesis): every operation of the OpenAPI spec, called with
generated input as an admin, never answers with a server error (5xx).

The pytest plugin of schemathesis does not run on this pytest, so each operation's Hypothesis
strategy is driven directly; a failure names the operation, the generated request and the reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr

from shopsentinel.app import create_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings

TOKEN = "schemathesis-admin-token"
START = datetime.fromisoformat("2026-11-10T00:00:00+00:00")


@pytest.fixture
def api_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())
    config = Settings(database_url=f"sqlite:///{tmp_path / 'state.db'}", bootstrap_token=SecretStr(TOKEN),  # type: ignore[call-arg]
                      _env_file=None)
    app = create_app(config, clock=ManualClock(START), background=False)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        app.state.service.close()


def test_no_operation_answers_with_a_server_error(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40  # the whole API, not an empty spec
    failures: list[str] = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query or ''} {str(case.body)[:200]} → "
                                f"{response.status_code} {response.text[:300]}")

        call()
    assert failures == []
