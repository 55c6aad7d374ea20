"""Playbooks (SOPs): YAML workflows triggered by alerts — tickets, ERP purchase suggestions, CRM
tagging, CS tickets, the price-floor guard and ad-plan pauses — with owners, deadlines, approvals,
dry runs, retries and an audit trail. See ``docs/RESPONSE.md``."""

from shopsentinel.response.playbooks import platform_actions as _platform_actions  # noqa: F401 - registers them
from shopsentinel.response.playbooks.actions import ACTIONS, ActionContext, ActionFailed
from shopsentinel.response.playbooks.model import Playbook, PlaybookDocument, parse_document
from shopsentinel.response.playbooks.runner import PlaybookEngine, approve, start_run

__all__ = ["ACTIONS", "ActionContext", "ActionFailed", "Playbook", "PlaybookDocument", "PlaybookEngine", "approve",
           "parse_document", "start_run"]
