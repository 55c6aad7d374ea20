"""The playbook action protocol: what an action is given (:class:`ActionContext`), how it fails
(:class:`ActionFailed`) and what the registry lists for it (:class:`Action`).

An action is a plain ``async run(ctx) -> dict`` (the result stored on the step) plus a
``describe(ctx) -> dict`` used for dry runs, which records what would be done and calls nothing,
and a Chinese one-line description for the playbook editor. Failures raise :class:`ActionFailed`
saying whether trying again later can help (timeouts, 429, 5xx) or not (bad credentials, a refused
payload); the runner retries only the first kind. Every action is listed once, by key, in
:data:`shopsentinel.actions.registry.ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import polars as pl

from shopsentinel.actions.config import Integrations
from shopsentinel.detect.rules import RulePack

FrameLoader = Callable[[str, str, datetime, datetime], pl.DataFrame]
Run = Callable[["ActionContext"], Awaitable[dict[str, Any]]]
Describe = Callable[["ActionContext"], dict[str, Any]]


class ActionFailed(Exception):  # noqa: N818 - reads as "the action failed"
    def __init__(self, message: str, *, recoverable: bool) -> None:
        super().__init__(message)
        self.recoverable = recoverable


@dataclass
class ActionContext:
    """What an action may use: the alert, the run's shared state, its parameters and the outside world."""

    alert: dict[str, Any]
    run: dict[str, Any]
    params: dict[str, Any]
    integrations: Integrations
    http: httpx.AsyncClient
    now: datetime
    action_key: str
    frames: FrameLoader
    playbook: str = ""
    rca_text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    run_id: int = 0
    saved: dict[str, Any] = field(default_factory=dict)
    """What this step already recorded (earlier attempts of the same action key included)."""
    checkpoint: Callable[[dict[str, Any]], None] = field(default=lambda _partial: None)
    """Merge ``partial`` into the step's result and commit it now, before calling the outside world."""
    platform_locks: list[dict[str, Any]] = field(default_factory=list)
    """Unreleased platform locks other runs hold on this alert's SKU (``{"run": id, **lock}``)."""
    rules: Callable[[], RulePack] | None = None
    """The service's active rule pack (stock tiers for ``erp_purchase``); None = the built-in pack."""


@dataclass(frozen=True)
class Action:
    """One registry entry: ``run`` does it, ``describe`` says (for a dry run) what it would do."""

    run: Run
    describe: Describe
    zh: str  # one line for the playbook editor, e.g. "锁定商品：平台可售数量置 0"


__all__ = ["Action", "ActionContext", "ActionFailed", "Describe", "FrameLoader", "Run"]
