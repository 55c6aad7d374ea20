"""Fake third-party systems the playbooks talk to: Jira Cloud, signed webhooks (Teambition, CRM,
customer service), an ERP and an ads platform. Each is a Starlette app that checks credentials or
signatures and the payload's shape like the real service would, and keeps what it received on
``app.state`` for tests to assert. :class:`HostRouter` serves several of them behind one ASGI
transport, picked by the request's host name."""

from shopsentinel.sim.integrations.ads import create_ads_app
from shopsentinel.sim.integrations.erp import create_erp_app
from shopsentinel.sim.integrations.hosts import HostRouter
from shopsentinel.sim.integrations.jira import create_jira_app
from shopsentinel.sim.integrations.webhook import create_webhook_app

__all__ = ["HostRouter", "create_ads_app", "create_erp_app", "create_jira_app", "create_webhook_app"]
