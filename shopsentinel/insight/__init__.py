"""The response loop (闭环): what to do once an alert fires.

``rca`` decomposes the moved metric along the metric tree and names the most likely cause
(``rca_service`` runs it on the service's state and caches the one-liner for notifications);
``kb`` records cause and fix at resolution and finds similar past alerts; ``playbooks`` runs SOPs
(tickets, ERP, CRM, CS, price-floor guard, ad pauses) with approvals, dry runs and an audit trail;
``efficacy`` measures precision, recall, MTTA/MTTR, fatigue and suggests rule changes; ``predict``
forecasts stock-outs and sales and answers what-if questions. ``loop.ResponseLoop`` is the tick the
service runs before routing notifications.
"""
