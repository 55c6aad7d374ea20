"""Provisioning at start-up: validate the directory of ``settings.provisioning_dir`` (people checked
against the user directory), then apply it in one transaction. Any problem raises
:class:`~.loader.ProvisioningError` before anything is written, so the service refuses to start
with the database unchanged."""

from __future__ import annotations

import logging
from collections import Counter

from shopsentinel.api.provisioning.apply import apply_plan
from shopsentinel.api.provisioning.loader import load_directory
from shopsentinel.core.secrets import SecretBox
from shopsentinel.runtime.service import Service
from shopsentinel.store import oncall

logger = logging.getLogger("shopsentinel.provisioning")


def provision(service: Service) -> Counter[str] | None:
    """Apply ``service.settings.provisioning_dir`` (nothing when it is unset)."""
    directory = service.settings.provisioning_dir
    if directory is None:
        return None
    with service.sessions() as session:
        plan = load_directory(directory, service.channels, users=oncall.known_users(session))
        for warning in plan.warnings:
            logger.warning("警告 / warning: %s", warning)
        counts = apply_plan(session, plan, registry=service.channels, box=lambda: SecretBox(service.secret_key()),
                            now=service.clock.now())
        session.commit()
    logger.info("配置即代码 / provisioning: %s — %d file(s), created %d, updated %d, removed %d", directory,
                len(plan.files), counts["created"], counts["updated"], counts["removed"])
    return counts


__all__ = ["provision"]
