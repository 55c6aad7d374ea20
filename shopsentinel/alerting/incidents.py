"""Incidents: alerts of one store that share a cause get one id, root cause first.

Alerts are related when they belong to one causal family (traffic → conversion → orders →
GMV; payment; ads; service and logistics; a SKU's stock and price) and start close together.
Within an incident the most upstream cause ranks first: a UV crash explains the orders and GMV
drop that follow it, a data outage explains everything of its store.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timedelta

from shopsentinel.core.events import AlertEvent

FAMILY = {
    "data": "data",
    "traffic": "funnel",
    "payment": "funnel",
    "ads": "funnel",
    "conversion": "funnel",
    "sales": "funnel",
    "logistics": "service",
    "service": "service",
    "stock": "goods",
    "price": "goods",
}
ROOT_RANK = {"data": 0, "traffic": 1, "payment": 2, "ads": 3, "logistics": 3, "conversion": 4, "stock": 4, "price": 4, "sales": 5, "service": 5}
JOIN_WINDOW = timedelta(hours=6)
OPEN_SPAN = timedelta(hours=12)


def assign_incidents(events: list[AlertEvent]) -> list[AlertEvent]:
    """Set ``incident`` and ``root_rank`` on every event; return them in output order."""
    groups: dict[tuple[str, str, str, str], list[AlertEvent]] = defaultdict(list)
    for e in events:
        family = FAMILY.get(e.category, "other")
        sku = e.sku if family == "goods" else ""
        groups[(e.platform, e.store, family, sku)].append(e)
    for (_, store, family, sku), members in groups.items():
        members.sort(key=lambda e: (e.start, ROOT_RANK.get(e.category, 9)))
        current: list[AlertEvent] = []
        horizon = None
        for e in members:
            if current and horizon is not None and e.start <= horizon:
                current.append(e)
            else:
                if current:
                    _name(current, store, family, sku)
                current = [e]
                horizon = None
            end = e.end if e.end is not None else e.start + OPEN_SPAN
            reach = max(end, e.start + JOIN_WINDOW)
            horizon = reach if horizon is None else max(horizon, reach)
        if current:
            _name(current, store, family, sku)
    # Incidents in the order they began; inside one, the root cause first, then by time.
    first_start: dict[str, datetime] = {}
    for e in events:
        first_start[e.incident] = min(first_start.get(e.incident, e.start), e.start)
    return sorted(events, key=lambda e: (first_start[e.incident], e.incident, e.root_rank, e.start, e.rule, e.sku))


def _name(members: list[AlertEvent], store: str, family: str, sku: str) -> None:
    root = min(members, key=lambda e: (ROOT_RANK.get(e.category, 9), e.start))
    first = min(e.start for e in members)
    digest = hashlib.sha1(f"{store}|{family}|{sku}|{first.isoformat()}".encode()).hexdigest()[:8]
    incident = f"inc-{first:%Y%m%d%H}-{digest}"
    for e in members:
        e.incident = incident
        e.root_rank = 0 if e is root else 1 + ROOT_RANK.get(e.category, 9)
