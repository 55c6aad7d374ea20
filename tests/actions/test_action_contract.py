"""The contract every registered playbook action keeps. Parametrized over ``ACTIONS`` itself, so a
new action is covered without touching this file.

Each action: ``run`` is a coroutine function, it has a Chinese description, and ``describe`` works
as a dry run on a sample context — with and without integrations configured — without any network
call, returning plain JSON-ready data that says what it ``would`` do.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import polars as pl
import pytest

from shopsentinel.actions.base import Action, ActionContext
from shopsentinel.actions.config import Integrations
from shopsentinel.actions.model import parse_document
from shopsentinel.actions.registry import ACTIONS

NOW = datetime(2026, 11, 11, 3, 0, tzinfo=UTC)
KEYS = sorted(ACTIONS)
HAN = re.compile(r"[\u4e00-\u9fff]")
ALERT = {"id": "a-1", "rule": "price.below_floor", "severity": "critical", "platform": "tmall", "store": "tm-1",
         "sku": "SKU-1", "metric": "price", "value": 9.9, "expected": 59.0, "starts_at": "2026-11-11T02:00:00Z",
         "message": "价格低于底价"}
CONFIGURED = Integrations.model_validate({
    "jira": {"base_url": "https://jira.example.com", "email": "ops@example.com", "api_token": "t"},
    "webhooks": {name: {"url": f"https://hooks.example.com/{name}", "secret": "s"}
                 for name in ("im", "teambition", "cs", "crm", "report")},
    "erp": {"base_url": "https://erp.example.com", "token": "t"},
    "ads": {"base_url": "https://ads.example.com", "token": "t"},
    "platforms": {"tmall": {"platform": "taobao", "base_url": "https://gw.example.com/router/rest", "app_key": "k",
                            "app_secret": "s", "access_token": "t"}},
})  # fmt: skip


def no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"describe called {request.method} {request.url}")


def frames(platform: str, store: str, start: datetime, end: datetime) -> pl.DataFrame:
    return pl.DataFrame({"ts": [start], "sku": ["SKU-1"], "metric": ["price"], "value": [59.0]})


def sample_context(key: str, integrations: Integrations, http: httpx.AsyncClient) -> ActionContext:
    return ActionContext(alert=dict(ALERT), run={"locked": {"sku": "SKU-1", "previous_quantity": 7}}, params={},
                         integrations=integrations, http=http, now=NOW, action_key=f"run-1/{key}", frames=frames,
                         playbook="price-floor-guard", rca_text="价格配置错误")


@pytest.mark.parametrize("key", KEYS)
def test_run_is_a_coroutine_function_and_there_is_a_chinese_description(key: str) -> None:
    action = ACTIONS[key]
    assert isinstance(action, Action)
    assert inspect.iscoroutinefunction(action.run), f"{key}: run must be `async def`"
    assert not inspect.iscoroutinefunction(action.describe), f"{key}: describe must be a plain function"
    assert HAN.search(action.zh), f"{key}: the description must be Chinese"


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("integrations", [Integrations(), CONFIGURED], ids=["unconfigured", "configured"])
def test_describe_works_as_a_dry_run_without_network(key: str, integrations: Integrations) -> None:
    async def go() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(no_network)) as http:
            return ACTIONS[key].describe(sample_context(key, integrations, http))

    described = asyncio.run(go())
    assert isinstance(described, dict) and described.get("would"), f"{key}: describe must say what it would do"
    json.dumps(described, default=str)  # stored on the step as JSON


@pytest.mark.parametrize("key", KEYS)
def test_a_playbook_may_name_it(key: str) -> None:
    document = parse_document(f"playbooks: [{{id: p, steps: [{{name: s, action: {key}}}]}}]")
    assert document.playbooks[0].steps[0].action == key


def test_the_contract_can_fail() -> None:
    """An unknown action name is refused, and a synchronous run is told apart from a coroutine one."""
    with pytest.raises(ValueError, match="unknown action 'launch_rocket'"):
        parse_document("playbooks: [{id: p, steps: [{name: s, action: launch_rocket}]}]")

    def sync_run(ctx: ActionContext) -> dict[str, Any]:
        return {}

    assert not inspect.iscoroutinefunction(sync_run)
    assert not HAN.search("lock the item")
