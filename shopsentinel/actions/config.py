"""The integrations section of a playbook document: where the actions send things.

Kept apart from :mod:`~shopsentinel.actions.model` (which validates playbooks against the action
registry) so the actions can use these settings without an import cycle.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JiraConfig(_Strict):
    base_url: str
    email: str
    api_token: SecretStr
    project_key: str = "OPS"
    issue_type: str = "Task"


class WebhookConfig(_Strict):
    url: str
    secret: SecretStr


class BearerApiConfig(_Strict):
    base_url: str
    token: SecretStr


class PlatformApiConfig(_Strict):
    platform: Literal["taobao", "jd"]
    base_url: str
    app_key: str
    app_secret: SecretStr
    access_token: SecretStr
    stores: list[str] = Field(default_factory=list, description="stores this account manages; empty = every store")


class Integrations(_Strict):
    jira: JiraConfig | None = None
    webhooks: dict[str, WebhookConfig] = Field(default_factory=dict)
    erp: BearerApiConfig | None = None
    ads: BearerApiConfig | None = None
    platforms: dict[str, PlatformApiConfig] = Field(default_factory=dict, description="keyed by alert platform (tmall, jd …)")


__all__ = ["BearerApiConfig", "Integrations", "JiraConfig", "PlatformApiConfig", "WebhookConfig"]
