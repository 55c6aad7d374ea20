"""The stored routing configuration as provisioning files (``shopsentinel config export``): what
was made in the web becomes code. Secret channel fields are written as ``${ENV_VAR}`` placeholders
(the variable names are listed so they can be set), never as values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.alerting import routing_repository as routing_repo
from shopsentinel.api.provisioning.loader import API_VERSION
from shopsentinel.notify import repository as channel_repo
from shopsentinel.notify.registry import ChannelRegistry
from shopsentinel.store import oncall, provisioned
from shopsentinel.store.state import ChannelRow, EscalationPolicyRow, SubscriptionRow


@dataclass
class Export:
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # file name → document
    variables: list[str] = field(default_factory=list)  # environment variables the placeholders name


def secret_variable(channel: str, setting: str) -> str:
    """``ops-dingtalk`` / ``secret`` → ``SHOPSENTINEL_CHANNEL_OPS_DINGTALK_SECRET``."""
    return re.sub(r"[^A-Z0-9]+", "_", f"SHOPSENTINEL_CHANNEL_{channel}_{setting}".upper()).strip("_")


def export_config(session: Session, registry: ChannelRegistry) -> Export:
    out = Export()
    channels = []
    for row in session.scalars(select(ChannelRow).order_by(ChannelRow.id)).all():
        settings = channel_repo.public_settings(registry, row)
        for name in channel_repo.secret_field_names(registry, row.kind):
            if name in row.settings:
                variable = secret_variable(row.name, name)
                settings[name] = "${" + variable + "}"
                out.variables.append(variable)
        item: dict[str, Any] = {"name": row.name, "kind": row.kind, "medium": row.medium, "receiver": row.receiver}
        if row.per_minute is not None:
            item["per_minute"] = row.per_minute
        channels.append({**item, "settings": settings})
    if channels:
        out.files["channels.yaml"] = {"apiVersion": API_VERSION, "channels": channels}

    names = {m.ref: m.name for m in provisioned.markers(session, "subscription")}
    subs = [{"name": names.get(str(r.id), f"subscription-{r.id}"), **r.body}
            for r in session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.id)).all()]
    if subs:
        out.files["subscriptions.yaml"] = {"apiVersion": API_VERSION, "subscriptions": subs}

    policies = [r.body for r in session.scalars(select(EscalationPolicyRow).order_by(EscalationPolicyRow.name)).all()]
    if policies:
        out.files["escalation.yaml"] = {"apiVersion": API_VERSION, "escalationPolicies": policies}

    schedules = [{"role": s.role, "members": s.members, "rotation_start": s.rotation_start.isoformat(),
                  "rotation_days": s.rotation_days, "timezone": s.timezone,
                  "shifts": [x.as_json() for x in s.shifts]} for s in oncall.list_schedules(session)]
    if schedules:
        out.files["oncall.yaml"] = {"apiVersion": API_VERSION, "oncallSchedules": schedules}

    routing = routing_repo.stored_routing_config(session).model_dump(mode="json", by_alias=True)
    out.files["routing.yaml"] = {"apiVersion": API_VERSION, "routing": routing}
    return out


__all__ = ["Export", "export_config", "secret_variable"]
