"""Knowledge base (知识库): what caused an alert and what fixed it, recorded when it is resolved,
and shown again when a similar alert fires.

Similarity is explainable points, not a model: same rule (3), same metric (2), same SKU (1.5),
same store (1.5), same platform (0.5), same category (0.5), same pattern (1, e.g. a drop versus a
spike), and a recorded fix (1) — so an operator sees *why* a past case is listed.
Search matches Chinese by character bigrams and other text by lower-cased words; no tokenizer.

>>> sorted(terms("库存不足 stock-out"))
['out', 'stock', '不足', '存不', '库存']
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shopsentinel.store.response_state import KnowledgeEntryRow
from shopsentinel.store.state import AlertRow

WEIGHTS = {"rule": 3.0, "metric": 2.0, "sku": 1.5, "store": 1.5, "platform": 0.5, "category": 0.5, "pattern": 1.0,
           "fix": 1.0}
CANDIDATES = 500
SEARCH_SCAN = 5_000
_WORD = re.compile(r"[a-z0-9_.]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def alert_pattern(alert: AlertRow) -> str:
    """The shape of the deviation: stockout, drop, spike or level (no expected value)."""
    if alert.metric in ("stock", "stock_cover_days") and (alert.value is not None and alert.value <= 0.05):
        return "stockout"
    if alert.value is None or alert.expected is None:
        return "level"
    if alert.value < alert.expected:
        return "drop"
    return "spike" if alert.value > alert.expected else "level"


def record_resolution(session: Session, alert: AlertRow, *, cause: str, fix: str, tags: list[str], author: str,
                      now: datetime) -> KnowledgeEntryRow:
    entry = KnowledgeEntryRow(alert_id=alert.id, rule=alert.rule, metric=alert.metric, category=alert.category,
                              platform=alert.platform, store=alert.store, sku=alert.sku, pattern=alert_pattern(alert),
                              cause=cause, fix=fix, tags=sorted({t.strip() for t in tags if t.strip()}), author=author,
                              created_at=now)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class SimilarAlert:
    alert_id: str
    rule: str
    metric: str
    platform: str
    store: str
    sku: str
    starts_at: datetime
    ends_at: datetime | None
    score: float
    reasons: list[str]
    cause: str = ""
    fix: str = ""
    tags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "starts_at": f"{self.starts_at:%Y-%m-%dT%H:%M:%SZ}",
                "ends_at": f"{self.ends_at:%Y-%m-%dT%H:%M:%SZ}" if self.ends_at else None}


def _score(new: AlertRow, old: AlertRow, entry: KnowledgeEntryRow | None) -> tuple[float, list[str]]:
    reasons = []
    checks = {"rule": new.rule == old.rule, "metric": new.metric == old.metric,
              "sku": bool(new.sku) and new.sku == old.sku, "store": new.store == old.store,
              "platform": new.platform == old.platform, "category": bool(new.category) and new.category == old.category,
              "pattern": alert_pattern(new) == alert_pattern(old), "fix": entry is not None and bool(entry.fix)}
    score = 0.0
    for name, same in checks.items():
        if same:
            score += WEIGHTS[name]
            reasons.append(name)
    return score, reasons


def similar_alerts(session: Session, alert_id: str, limit: int = 5) -> list[SimilarAlert]:
    """Past alerts most like ``alert_id`` (same rule, metric, store, pattern …), best first, each
    with the cause and fix recorded when it was resolved. Empty for an unknown alert."""
    alert = session.get(AlertRow, alert_id)
    if alert is None:
        return []
    query = (select(AlertRow).where(AlertRow.id != alert.id, AlertRow.starts_at <= alert.starts_at,
                                    or_(AlertRow.rule == alert.rule, AlertRow.metric == alert.metric))
             .order_by(AlertRow.starts_at.desc()).limit(CANDIDATES))
    candidates = list(session.scalars(query).all())
    entries: dict[str, KnowledgeEntryRow] = {}
    if candidates:
        for entry in session.scalars(select(KnowledgeEntryRow).where(
                KnowledgeEntryRow.alert_id.in_([c.id for c in candidates])).order_by(KnowledgeEntryRow.id)).all():
            entries[entry.alert_id] = entry  # the latest record of an alert wins
    ranked = []
    for old in candidates:
        found = entries.get(old.id)
        score, reasons = _score(alert, old, found)
        ranked.append(SimilarAlert(old.id, old.rule, old.metric, old.platform, old.store, old.sku, old.starts_at,
                                   old.ends_at, score, reasons, found.cause if found else "", found.fix if found else "",
                                   list(found.tags) if found else []))
    ranked.sort(key=lambda s: (-s.score, -s.starts_at.timestamp()))
    return ranked[:limit]


def terms(text: str) -> set[str]:
    """Search terms: lower-cased words, and Chinese character bigrams (single characters alone)."""
    lowered = text.lower()
    out = set(_WORD.findall(_CJK.sub(" ", lowered)))
    for run in _CJK.findall(lowered):
        out.update(run[i:i + 2] for i in range(len(run) - 1)) if len(run) > 1 else out.add(run)
    return out


@dataclass(frozen=True)
class SearchHit:
    entry_id: int
    alert_id: str
    score: float
    rule: str
    metric: str
    platform: str
    store: str
    sku: str
    cause: str
    fix: str
    tags: list[str]
    created_at: datetime


def _entry_text(e: KnowledgeEntryRow) -> str:
    return " ".join([e.cause, e.fix, " ".join(str(t) for t in e.tags), e.rule, e.metric, e.store, e.sku])


def search(session: Session, q: str, limit: int = 20) -> list[SearchHit]:
    """Entries matching ``q`` (Chinese or English), ranked by IDF-weighted share of query terms."""
    wanted = terms(q)
    if not wanted:
        return []
    entries = list(session.scalars(select(KnowledgeEntryRow).order_by(KnowledgeEntryRow.id.desc()).limit(SEARCH_SCAN)).all())
    indexed = [(e, terms(_entry_text(e))) for e in entries]
    frequency = Counter(t for _, ts in indexed for t in ts & wanted)
    n = len(indexed)
    idf = {t: math.log(1 + n / (1 + frequency[t])) for t in wanted}
    total = sum(idf.values())
    hits = []
    for entry, found in indexed:
        matched = found & wanted
        if not matched:
            continue
        score = sum(idf[t] for t in matched) / total
        hits.append(SearchHit(entry.id, entry.alert_id, round(score, 4), entry.rule, entry.metric, entry.platform,
                              entry.store, entry.sku, entry.cause, entry.fix, list(entry.tags), entry.created_at))
    hits.sort(key=lambda h: (-h.score, -h.entry_id))
    return hits[:limit]


__all__ = ["SearchHit", "SimilarAlert", "alert_pattern", "record_resolution", "search", "similar_alerts", "terms"]
