"""Property-based API test (schemathesis): every operation of the OpenAPI spec, called with
generated input as an admin, never answers with a server error (5xx).

The pytest plugin of schemathesis does not run on this pytest, so each operation's Hypothesis
strategy is driven directly; a failure names the operation, the generated request and the reply.
A second pass takes one generated request per operation and swaps each query parameter, path
parameter and top-level body field for edge values Hypothesis rarely reaches on its own (a 401-digit
integer, years 1 and 9999 with an offset, ±1e308 in bodies and inf / nan as text, lone surrogates, very long text).
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


HUGE = "9" * 401
EDGE_PARAMETERS = (HUGE, "-" + HUGE, "9223372036854775808", "99999999999999999999", "-1", "0",
                   "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                   "9999-12-31T23:59:59Z", "1e308", "inf", "nan", "x" * 3000)
EDGE_STRINGS = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z", "\ud800",
                "x" * 3000)
# inf and nan have no strict JSON form (a client cannot send them as JSON), so the body gets the largest
# finite double and integers past every database type instead; "inf"/"nan" as text go into parameters.
EDGE_NUMBERS: tuple[Any, ...] = (int(HUGE), -int(HUGE), 1e308, -1e308, 2**63, -(2**63) - 1)


def _edge_variants(case: Any) -> Iterator[tuple[str, Any]]:
    """(what was changed, derived case) for every edge value in every parameter and body field."""
    query_names = [p.name for p in case.operation.iter_parameters() if p.location == "query"]
    for name in query_names:
        for value in EDGE_PARAMETERS:
            yield f"query {name}={value[:30]}", case.operation.Case(
                path_parameters=dict(case.path_parameters or {}), query={**(case.query or {}), name: value},
                body=case.body, media_type=case.media_type)
    for name in case.path_parameters or {}:
        for value in EDGE_PARAMETERS:
            yield f"path {name}={value[:30]}", case.operation.Case(
                path_parameters={**case.path_parameters, name: value}, query=dict(case.query or {}),
                body=case.body, media_type=case.media_type)
    if isinstance(case.body, dict) and (case.media_type or "").endswith("json"):
        for name, current in case.body.items():
            values: tuple[Any, ...] = EDGE_STRINGS if isinstance(current, str) else \
                EDGE_NUMBERS if isinstance(current, int | float) and not isinstance(current, bool) else ()
            for value in values:
                yield f"body {name}={str(value)[:30]}", case.operation.Case(
                    path_parameters=dict(case.path_parameters or {}), query=dict(case.query or {}),
                    body={**case.body, name: value}, media_type=case.media_type)


def test_edge_values_in_parameters_and_bodies_never_answer_with_a_server_error(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    failures: list[str] = []
    tried = 0
    for operation in operations:
        seen: list[Any] = []

        @given(case=operation.as_strategy())
        @settings(max_examples=1, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def first(case: Any) -> None:
            seen.append(case)  # noqa: B023 - called at once, inside this iteration

        first()
        for what, variant in _edge_variants(seen[0]):
            tried += 1
            response = variant.call(headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code >= 500:
                failures.append(f"{variant.method} {variant.formatted_path} {what} → {response.status_code} "
                                f"{response.text[:300]}")
    assert tried > 500  # the edge values were really sent
    assert failures == []
