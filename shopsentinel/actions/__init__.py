"""Playbooks (SOPs): YAML workflows triggered by alerts — tickets, ERP purchase suggestions, CRM
tagging, CS tickets, the price-floor guard and ad-plan pauses — with owners, deadlines, approvals,
dry runs, retries and an audit trail. See ``docs/RESPONSE.md``."""

from shopsentinel.actions import platform as _platform_actions  # noqa: F401 - registers them
from shopsentinel.actions.builtin import ACTIONS, ActionContext, ActionFailed
from shopsentinel.actions.model import Playbook, PlaybookDocument, parse_document
from shopsentinel.actions.runner import PlaybookEngine, approve, start_run

__all__ = ["ACTIONS", "ActionContext", "ActionFailed", "Playbook", "PlaybookDocument", "PlaybookEngine", "approve",
           "parse_document", "start_run"]
