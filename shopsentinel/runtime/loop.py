"""The response loop's tick, run by the service before it routes notifications: note the RCA of
newly firing alerts (so messages carry a 原因分析 line), raise predictive stock-out alerts once per
closed hour, and advance the playbooks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shopsentinel.actions.runner import PlaybookEngine
from shopsentinel.core.secrets import SecretBox, load_keys
from shopsentinel.insight.predictive import PredictiveAlerts, ServiceParts
from shopsentinel.insight.rca_service import NOTES, alerts_without_note, note_rca
from shopsentinel.notify.templates import ROOT_CAUSE_NOTES
from shopsentinel.store.coordination import xact_lock

logger = logging.getLogger(__name__)
RCA_LOOKBACK = timedelta(days=2)
RCA_PER_TICK = 20  # bounded work per tick; the rest are noted on the next ticks


def install_root_cause_notes() -> None:
    """Let the notification templates read the RCA notes (their 原因分析 line); called once by
    :func:`~shopsentinel.runtime.service.build_service`, never as a side effect of an import."""
    if NOTES.get not in ROOT_CAUSE_NOTES:
        ROOT_CAUSE_NOTES.append(NOTES.get)


@dataclass
class ResponseLoop:
    playbooks: PlaybookEngine = field(default_factory=PlaybookEngine)
    predictive: PredictiveAlerts = field(default_factory=PredictiveAlerts)
    box: Callable[[], SecretBox] = field(default=lambda: SecretBox(load_keys()))

    def tick(self, service: ServiceParts, now: datetime | None = None) -> None:
        """Never raises: the notification pipeline runs after it whatever happens here."""
        now = now or service.clock.now()
        self.playbooks.rules = service.rules.current  # the stock tiers the ERP action reads are the service's own
        try:
            with service.sessions() as session:
                xact_lock(session, ["rca-notes"])  # replicas and workers: one writer of the notes at a time
                for alert in alerts_without_note(session, now - RCA_LOOKBACK, RCA_PER_TICK):
                    note_rca(session, service.points, alert, now)
                session.commit()
        except Exception:
            logger.exception("root-cause notes failed")
        try:
            self.predictive.tick(service, now)
        except Exception:
            logger.exception("predictive alerts failed")
        try:
            self.playbooks.tick(service.sessions, self.box, service.points.frame, now)
        except Exception:
            logger.exception("playbook tick failed")


__all__ = ["ResponseLoop", "install_root_cause_notes"]
