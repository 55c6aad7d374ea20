"""Is the alerting any good? Precision per rule from feedback, recall against incidents users record
as missed, MTTA/MTTR, alerts per recipient per day (fatigue), a weak-spot heatmap, recurring
patterns in the alert history, and backtested suggestions to tighten or loosen a rule.

Definitions (over alerts that *started* in the period):

* precision = valid / (valid + false_alarm + expected) among alerts with feedback (the latest
  verdict per alert counts);
* recall = incidents caught / (caught + missed), where caught incidents are incident ids with at
  least one alert not marked a false alarm, and missed ones are recorded through the API;
* MTTA = acknowledged_at − starts_at; MTTR = ends_at − starts_at of resolved alerts (minutes);
* fatigue = messages sent per recipient (channel receiver) per day, from notification attempts.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.catalog import Catalog
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.panel import Panel
from shopsentinel.detect.rules import Compound, Condition, Rule
from shopsentinel.store.response_state import MissedIncidentRow
from shopsentinel.store.state import (
    AlertRow,
    CalendarRow,
    ChannelRow,
    FeedbackRow,
    NotificationAttemptRow,
    OutboxRow,
    StoreRow,
)

MIN_FEEDBACK = 3
TIGHTEN_AT = 0.5  # false-alarm share of the feedback
LOOSEN_AT = 0.9  # valid share, with misses recorded on the rule's metric
PanelLoader = Callable[[str, str, datetime, datetime], Panel | None]


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "mean": None, "median": None}
    return {"count": len(values), "mean": round(statistics.fmean(values), 1), "median": round(statistics.median(values), 1)}


def _alerts(session: Session, since: datetime, until: datetime) -> list[AlertRow]:
    return list(session.scalars(select(AlertRow).where(AlertRow.starts_at >= since, AlertRow.starts_at < until,
                                                       AlertRow.kind == "business")).all())


def _verdicts(session: Session, ids: list[str]) -> dict[str, str]:
    """Latest verdict per alert."""
    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        rows = session.scalars(select(FeedbackRow).where(FeedbackRow.alert_id.in_(ids[i:i + 500]))
                               .order_by(FeedbackRow.created_at, FeedbackRow.id)).all()
        for row in rows:
            out[row.alert_id] = row.verdict
    return out


def precision_by_rule(alerts: list[AlertRow], verdicts: dict[str, str]) -> dict[str, dict[str, Any]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for alert in alerts:
        table[alert.rule]["alerts"] += 1
        verdict = verdicts.get(alert.id)
        if verdict:
            table[alert.rule][verdict] += 1
    out = {}
    for rule, counts in sorted(table.items()):
        judged = counts["valid"] + counts["false_alarm"] + counts["expected"]
        out[rule] = {"alerts": counts["alerts"], "valid": counts["valid"], "false_alarm": counts["false_alarm"],
                     "expected": counts["expected"], "judged": judged,
                     "precision": round(counts["valid"] / judged, 3) if judged else None}
    return out


def _missed(session: Session, since: datetime, until: datetime) -> list[MissedIncidentRow]:
    return list(session.scalars(select(MissedIncidentRow).where(MissedIncidentRow.starts_at >= since,
                                                                MissedIncidentRow.starts_at < until)).all())


def recall(alerts: list[AlertRow], verdicts: dict[str, str], missed: list[MissedIncidentRow]) -> dict[str, Any]:
    caught = {a.incident or a.id for a in alerts if verdicts.get(a.id) != "false_alarm"}
    total = len(caught) + len(missed)
    return {"caught": len(caught), "missed": len(missed), "recall": round(len(caught) / total, 3) if total else None}


def response_times(alerts: list[AlertRow]) -> dict[str, Any]:
    acked = [_minutes(a.acked_at - a.starts_at) for a in alerts if a.acked_at is not None and a.acked_at >= a.starts_at]
    resolved = [_minutes(a.ends_at - a.starts_at) for a in alerts if a.ends_at is not None]
    return {"mtta_minutes": _stats(acked), "mttr_minutes": _stats(resolved)}


def fatigue(session: Session, since: datetime, until: datetime, limit_per_day: int) -> dict[str, Any]:
    """Messages sent per recipient per day; recipients over ``limit_per_day`` on any day are flagged."""
    receivers = {name: receiver for name, receiver in session.execute(select(ChannelRow.name, ChannelRow.receiver)).all()}
    rows = session.execute(select(NotificationAttemptRow.channel, NotificationAttemptRow.ts).where(
        NotificationAttemptRow.ts >= since, NotificationAttemptRow.ts < until,
        NotificationAttemptRow.outcome.in_(("sent", "digested")))).all()
    per_day: Counter[tuple[str, str]] = Counter()
    for channel, ts in rows:
        per_day[(receivers.get(channel, channel), f"{ts:%Y-%m-%d}")] += 1
    if not rows:  # deployments without routed channels: count the in-app outbox per alert day
        for (created,) in session.execute(select(OutboxRow.created_at).where(
                OutboxRow.created_at >= since, OutboxRow.created_at < until, OutboxRow.muted.is_(False))).all():
            per_day[("in-app", f"{created:%Y-%m-%d}")] += 1
    recipients: dict[str, dict[str, Any]] = {}
    for (who, day), n in sorted(per_day.items()):
        entry = recipients.setdefault(who, {"days": {}, "max_per_day": 0})
        entry["days"][day] = n
        entry["max_per_day"] = max(entry["max_per_day"], n)
    warnings = [{"recipient": who, "max_per_day": e["max_per_day"], "limit": limit_per_day,
                 "message_zh": f"{who} 单日收到 {e['max_per_day']} 条告警，超过 {limit_per_day} 条的疲劳阈值",
                 "message_en": f"{who} received {e['max_per_day']} alerts in one day, over the limit of {limit_per_day}"}
                for who, e in recipients.items() if e["max_per_day"] > limit_per_day]
    return {"limit_per_day": limit_per_day, "recipients": recipients, "warnings": warnings}


def heatmap(alerts: list[AlertRow], verdicts: dict[str, str], missed: list[MissedIncidentRow]) -> list[dict[str, Any]]:
    """Store × metric category: alerts, false alarms, misses and the worst severities."""
    cells: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for a in alerts:
        cell = cells[(a.platform, a.store, a.category or "other")]
        cell["alerts"] += 1
        cell[f"severity_{a.severity}"] += 1
        if verdicts.get(a.id) == "false_alarm":
            cell["false_alarms"] += 1
    for m in missed:
        cells[(m.platform, m.store, m.category or "other")]["misses"] += 1
    out = [{"platform": p, "store": s, "category": c, "alerts": n["alerts"], "false_alarms": n["false_alarms"],
            "misses": n["misses"], "weak_score": n["false_alarms"] + 2 * n["misses"],
            "severities": {k.removeprefix("severity_"): v for k, v in n.items() if k.startswith("severity_")}}
           for (p, s, c), n in cells.items()]
    return sorted(out, key=lambda c: (-c["weak_score"], -c["alerts"], c["store"], c["category"]))


def patterns(session: Session, alerts: list[AlertRow], since: datetime, until: datetime,
             before_days: int = 7) -> dict[str, Any]:
    """Recurring patterns: alert density in the days before promotions versus elsewhere, and by
    months since a store's first point (launch)."""
    promotions = session.scalars(select(CalendarRow).where(CalendarRow.kind == "promotion")).all()
    span_hours = max((until - since).total_seconds() / 3600, 1.0)
    windows = [(max(p.starts_at - timedelta(days=before_days), since), min(p.starts_at, until), p) for p in promotions]
    windows = [(a, b, p) for a, b, p in windows if a < b]
    window_hours = sum((b - a).total_seconds() / 3600 for a, b, _ in windows)
    inside = [a for a in alerts if any(lo <= a.starts_at < hi and p.platform in ("", a.platform)
                                       and p.store in ("", a.store) for lo, hi, p in windows)]
    rate_in = len(inside) / window_hours if window_hours else None
    rate_out = (len(alerts) - len(inside)) / max(span_hours - window_hours, 1.0)
    pre_promo = {"before_days": before_days, "alerts_before_promotions": len(inside), "hours_before_promotions": round(window_hours),
                 "lift": round(rate_in / rate_out, 2) if rate_in is not None and rate_out else None,
                 "by_category": dict(Counter(a.category for a in inside).most_common(5))}
    first = {(s.platform, s.store): s.first_point_at for s in session.scalars(select(StoreRow)).all()}
    by_month: Counter[int] = Counter()
    for a in alerts:
        launched = first.get((a.platform, a.store))
        if launched is not None:
            by_month[max(0, int((a.starts_at - launched).days // 30))] += 1
    after_launch = {"alerts_by_month_since_first_point": dict(sorted(by_month.items())),
                    "peak_month": by_month.most_common(1)[0][0] if by_month else None}
    return {"before_promotions": pre_promo, "after_launch": after_launch}


# --- suggestions with backtests -----------------------------------------------------------------

def _scale_condition(c: Condition, tighten: bool) -> Condition:
    f = 1.25 if tighten else 0.8
    update: dict[str, Any] = {}
    # Conditions are one model per detector type: read the fields this type has.
    sigmas, significance, change, ratio, above, below = (
        getattr(c, name, None) for name in ("sigmas", "significance", "change", "ratio", "above", "below"))
    if sigmas is not None:
        update["sigmas"] = round(sigmas * f, 3)
    if significance is not None:
        update["significance"] = round(significance * f, 3)
    if change is not None:
        update["change"] = round(min(change * f, 0.95), 3)
    if ratio is not None:
        update["ratio"] = round(ratio * f if ratio >= 1 else ratio / f, 3)
    if above is not None:
        update["above"] = above * f if above >= 0 else above / f
    if below is not None:
        update["below"] = below / f if below >= 0 else below * f
    return c.model_copy(update=update)


def _scale(node: Condition | Compound, tighten: bool) -> Condition | Compound:
    if isinstance(node, Condition):
        return _scale_condition(node, tighten)
    return node.model_copy(update={k: [_scale(x, tighten) for x in v] for k, v in (("all", node.all), ("any", node.any)) if v})


def adjust_rule(rule: Rule, tighten: bool) -> tuple[Rule, str, str]:
    """A stricter (or looser) copy: thresholds scaled by 25% and ``for`` one hour longer (shorter)."""
    hours = rule.for_ + 1 if tighten else max(rule.for_ - 1, 1.0)
    changed = rule.model_copy(update={"when": _scale(rule.when, tighten), "for_": hours})
    zh = f"{'收紧' if tighten else '放宽'}阈值 25%，持续时间 {rule.for_:g}h → {hours:g}h"
    en = f"{'tighten' if tighten else 'loosen'} thresholds by 25%, for {rule.for_:g}h → {hours:g}h"
    return changed, zh, en


def backtest_rule(rule: Rule, changed: Rule, stores: list[tuple[str, str]], load: PanelLoader, catalog: Catalog,
                  since: datetime, until: datetime) -> dict[str, int]:
    before = after = 0
    for platform, store in stores:
        panel = load(platform, store, since, until)
        if panel is None:
            continue
        before += len(evaluate_panel(panel, [rule], catalog))
        after += len(evaluate_panel(panel, [changed], catalog))
    return {"fired_before": before, "fired_after": after, "stores": len(stores)}


@dataclass(frozen=True)
class Suggestion:
    rule: str
    direction: str  # tighten | loosen
    reason_zh: str
    reason_en: str
    change_zh: str
    change_en: str
    feedback: dict[str, Any]
    backtest: dict[str, int]
    proposed: dict[str, Any]


def suggestions(session: Session, rules: list[Rule], load: PanelLoader, catalog: Catalog, since: datetime,
                until: datetime, max_stores: int = 10) -> list[Suggestion]:
    alerts = _alerts(session, since, until)
    verdicts = _verdicts(session, [a.id for a in alerts])
    precision = precision_by_rule(alerts, verdicts)
    missed_metrics = Counter(m.metric for m in _missed(session, since, until))
    by_id = {r.id: r for r in rules}
    out = []
    for rule_id, stats in precision.items():
        rule = by_id.get(rule_id)
        if rule is None or stats["judged"] < MIN_FEEDBACK:
            continue
        false_share = stats["false_alarm"] / stats["judged"]
        valid_share = stats["valid"] / stats["judged"]
        if false_share >= TIGHTEN_AT:
            tighten = True
            zh = f"近期反馈中 {false_share:.0%} 为误报"
            en = f"{false_share:.0%} of recent feedback says false alarm"
        elif valid_share >= LOOSEN_AT and missed_metrics.get(rule.metric, 0) > 0:
            tighten = False
            zh = f"反馈 {valid_share:.0%} 有效，且 {rule.metric} 上有 {missed_metrics[rule.metric]} 起漏报"
            en = f"{valid_share:.0%} valid, and {missed_metrics[rule.metric]} missed incidents on {rule.metric}"
        else:
            continue
        changed, change_zh, change_en = adjust_rule(rule, tighten)
        stores = sorted({(a.platform, a.store) for a in alerts if a.rule == rule_id})[:max_stores]
        result = backtest_rule(rule, changed, stores, load, catalog, since, until)
        out.append(Suggestion(rule_id, "tighten" if tighten else "loosen", zh, en, change_zh, change_en, stats, result,
                              changed.model_dump(mode="json", by_alias=True, exclude_none=True)))
    return out


def report(session: Session, since: datetime, until: datetime, *, fatigue_limit: int = 30) -> dict[str, Any]:
    alerts = _alerts(session, since, until)
    verdicts = _verdicts(session, [a.id for a in alerts])
    missed = _missed(session, since, until)
    by_rule = precision_by_rule(alerts, verdicts)
    judged = sum(r["judged"] for r in by_rule.values())
    valid = sum(r["valid"] for r in by_rule.values())
    return {
        "since": f"{since:%Y-%m-%dT%H:%M:%SZ}", "until": f"{until:%Y-%m-%dT%H:%M:%SZ}", "alerts": len(alerts),
        "precision": {"overall": round(valid / judged, 3) if judged else None, "judged": judged, "by_rule": by_rule},
        "recall": recall(alerts, verdicts, missed),
        **response_times(alerts),
        "fatigue": fatigue(session, since, until, fatigue_limit),
        "heatmap": heatmap(alerts, verdicts, missed),
        "patterns": patterns(session, alerts, since, until),
    }


__all__ = ["Suggestion", "adjust_rule", "backtest_rule", "fatigue", "heatmap", "patterns", "precision_by_rule",
           "recall", "report", "response_times", "suggestions"]
