"""Playbooks (SOPs): YAML workflows triggered by alerts — tickets, ERP purchase suggestions, CRM
tagging, CS tickets, the price-floor guard and ad-plan pauses — with owners, deadlines, approvals,
dry runs, retries and an audit trail. See ``docs/RESPONSE.md``.

The action protocol is :mod:`.base` (:class:`Action`, :class:`ActionContext`, :class:`ActionFailed`);
every action is listed once in :data:`.registry.ACTIONS`."""

from shopsentinel.actions.base import Action, ActionContext, ActionFailed
from shopsentinel.actions.model import Playbook, PlaybookDocument, parse_document
from shopsentinel.actions.registry import ACTIONS
from shopsentinel.actions.runner import PlaybookEngine, approve, start_run

__all__ = ["ACTIONS", "Action", "ActionContext", "ActionFailed", "Playbook", "PlaybookDocument", "PlaybookEngine",
           "approve", "parse_document", "start_run"]
