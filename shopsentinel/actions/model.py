"""The playbook document (YAML or JSON): integrations plus playbooks, each a list of steps.

.. code-block:: yaml

    integrations:
      jira: {base_url: https://acme.atlassian.net, email: ops@acme.cn, api_token: ..., project_key: OPS}
      webhooks: {teambition: {url: https://..., secret: ...}, crm: {...}, cs: {...}, im: {...}}
      erp: {base_url: https://erp.acme.cn, token: ...}
      ads: {base_url: https://ads.acme.cn, token: ...}
      platforms:
        tmall: {platform: taobao, base_url: https://gw.api.taobao.com/router/rest, app_key: ..., app_secret: ..., access_token: ...}
    playbooks:
      - id: price-floor-guard
        name: {zh: 低于底价保护, en: Price-floor guard}
        match: {rules: ["price.below_floor"]}
        steps:
          - {name: 锁定商品, action: lock_item}            # sellable quantity → 0 at the platform, remembered
          - {name: 通知负责人, action: notify, params: {webhook: im}}
          - {name: 恢复原价, action: restore_price, unless_acked_within_minutes: 30, owner: 运营负责人}
          - {name: 解除锁定, action: unlock_item, unless_acked_within_minutes: 30}  # remembered quantity back

The price-floor guard: lock → notify → if nobody acknowledges within 30 minutes, restore the price
and unlock. An acknowledgement in time skips both: the item stays locked at quantity 0 (recorded as
``playbook.lock_item.kept``) until the operator who took over fixes the price and restocks it.

A step may wait for an approval (``approval: true``: someone with the ``owner`` duty approves it),
wait for an acknowledgement (``unless_acked_within_minutes``: skipped if the alert is acknowledged in
time, run otherwise), and carries a deadline (``deadline_minutes`` after the run starts).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopsentinel.actions.config import (
    BearerApiConfig,
    Integrations,
    JiraConfig,
    PlatformApiConfig,
    WebhookConfig,
)
from shopsentinel.actions.registry import ACTIONS

SECRET_FIELDS = frozenset({"api_token", "secret", "token", "app_secret", "access_token"})
MASK = "********"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Match(_Strict):
    """Empty lists match anything; rules accept shell patterns (``stock.*``)."""

    rules: list[str] = Field(default_factory=list)
    severities: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    stores: list[str] = Field(default_factory=list)

    def matches(self, rule: str, severity: str, category: str, platform: str, store: str) -> bool:
        return ((not self.rules or any(fnmatchcase(rule, r) for r in self.rules))
                and (not self.severities or severity in self.severities)
                and (not self.categories or category in self.categories)
                and (not self.platforms or platform in self.platforms)
                and (not self.stores or store in self.stores))


class StepSpec(_Strict):
    name: str = Field(min_length=1, max_length=200)
    action: str
    owner: str = ""
    deadline_minutes: int | None = Field(default=None, ge=1)
    approval: bool = False
    unless_acked_within_minutes: int | None = Field(default=None, ge=0)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _approval_needs_owner(self) -> StepSpec:
        if self.approval and not self.owner:
            raise ValueError(f"step {self.name!r}: approval needs an owner duty (e.g. 库存管理员)")
        if self.action == "crm_tag" and self.params.get("orders", "all") not in ("all", "refunded"):
            raise ValueError(f"step {self.name!r}: params.orders must be 'all' or 'refunded', "
                             f"not {self.params['orders']!r}")
        return self


class Playbook(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    name: dict[str, str] = Field(default_factory=dict)
    match: Match = Field(default_factory=Match)
    enabled: bool = True
    dry_run: bool = False
    steps: list[StepSpec] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _known_actions(cls, steps: list[StepSpec]) -> list[StepSpec]:
        for step in steps:
            if step.action not in ACTIONS:
                raise ValueError(f"step {step.name!r}: unknown action {step.action!r}; known: {', '.join(sorted(ACTIONS))}")
        return steps


class PlaybookDocument(_Strict):
    integrations: Integrations = Field(default_factory=Integrations)
    playbooks: list[Playbook] = Field(default_factory=list)

    @field_validator("playbooks")
    @classmethod
    def _unique_ids(cls, playbooks: list[Playbook]) -> list[Playbook]:
        seen: set[str] = set()
        for p in playbooks:
            if p.id in seen:
                raise ValueError(f"playbook id {p.id!r} is used twice")
            seen.add(p.id)
        return playbooks

    def matching(self, rule: str, severity: str, category: str, platform: str, store: str) -> list[Playbook]:
        return [p for p in self.playbooks if p.enabled and p.match.matches(rule, severity, category, platform, store)]


def parse_document(text: str) -> PlaybookDocument:
    """Parse YAML (or JSON, a subset of YAML) into a validated document."""
    data = yaml.safe_load(text) or {}
    return PlaybookDocument.model_validate(data)


def walk_secrets(value: Any, visit: Any) -> Any:
    """A copy of a plain document with ``visit(str) -> str`` applied to every secret field."""
    if isinstance(value, dict):
        return {k: (visit(v) if k in SECRET_FIELDS and isinstance(v, str) and v else walk_secrets(v, visit))
                for k, v in value.items()}
    if isinstance(value, list):
        return [walk_secrets(v, visit) for v in value]
    return value


__all__ = [
    "MASK",
    "BearerApiConfig",
    "Integrations",
    "JiraConfig",
    "Match",
    "PlatformApiConfig",
    "Playbook",
    "PlaybookDocument",
    "StepSpec",
    "WebhookConfig",
    "parse_document",
    "walk_secrets",
]
