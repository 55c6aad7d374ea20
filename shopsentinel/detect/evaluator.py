"""The evaluator: rules × panel → alert episodes. A pure function over one shard of stores.

The backtest calls it over history; the live service calls it over a trailing window on the
wall clock. Both see the same decisions because every detector is causal: what is decided for
hour t uses only data up to t.
"""

from __future__ import annotations

import math

import numpy as np

from shopsentinel.catalog import Catalog
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import Severity
from shopsentinel.detect.detectors import Decision, EvidencePoint, Explain
from shopsentinel.detect.episodes import Episode, Pending, episodes, pending
from shopsentinel.detect.messages import describe
from shopsentinel.detect.panel import Panel
from shopsentinel.detect.registry import REGISTRY, detect
from shopsentinel.detect.rules import Compound, Condition, Rule
from shopsentinel.detect.series import SeriesResolver, SeriesView


def _steps(hours: float) -> int:
    return max(1, math.ceil(hours - 1e-9))


def _select(view: SeriesView, rule: Rule, panel: Panel) -> np.ndarray:
    keep = np.ones(len(view.skus), dtype=bool)
    scope = rule.scope
    for j, (s, sku) in enumerate(zip(view.store_index, view.skus, strict=True)):
        store = panel.stores[int(s)]
        if scope.platforms and store.platform not in scope.platforms:
            keep[j] = False
        elif scope.stores and store.store not in scope.stores:
            keep[j] = False
        elif scope.skus and sku not in scope.skus:
            keep[j] = False
    return np.nonzero(keep)[0]


def _decide(cond: Condition, resolver: SeriesResolver, tail: int) -> tuple[SeriesView, Decision] | None:
    if cond.type not in REGISTRY:
        return None
    view = resolver.view(cond.metric, cond.window, cond.demand_days, cond.exposure)
    if view is None or view.values.shape[1] == 0:
        return None
    decision = detect(view, cond, resolver, tail)
    decision.explain = _leaf_evidence(view, cond, decision)
    return view, decision


def _leaf_evidence(view: SeriesView, cond: Condition, decision: Decision) -> Explain:
    """The figures of one condition at (hour, column): those of the window it judged."""
    volume = view.denominator if view.kind == "ratio" else None
    history: int | None = getattr(cond, "history", None) if cond.type == "beyond_history" else None
    largest = bool(getattr(cond, "largest_unit", False)) and view.kind == "ratio"

    def explain(at: int, col: int) -> list[EvidencePoint]:
        return [EvidencePoint(
            view.metric, cond.type, view.window, float(decision.value[at, col]), float(decision.expected[at, col]),
            float(decision.lower[at, col]), float(decision.upper[at, col]),
            float(volume[at, col]) if volume is not None else None, history, largest,
        )]

    return explain


def _all_evidence(parts: list[tuple[Decision, np.ndarray]]) -> Explain:
    """Every part of an ``all`` made it fire: quote them all (parts missing for a series left out)."""
    def explain(at: int, col: int) -> list[EvidencePoint]:
        out: list[EvidencePoint] = []
        for decision, cols in parts:
            if cols[col] >= 0:
                out += decision.evidence(at, int(cols[col]))
        return out

    return explain


def _any_evidence(parts: list[tuple[Decision, np.ndarray]]) -> Explain:
    """An ``any`` fired on its first firing alternative: quote that one (the anchor otherwise)."""
    def explain(at: int, col: int) -> list[EvidencePoint]:
        for decision, cols in parts:
            if cols[col] >= 0 and decision.fire[at, int(cols[col])]:
                return decision.evidence(at, int(cols[col]))
        return parts[0][0].evidence(at, col)

    return explain


def combine(node: Condition | Compound, resolver: SeriesResolver, tail: int) -> tuple[SeriesView, Decision] | None:
    """Evaluate a compound condition; metrics are matched by (store, SKU)."""
    if isinstance(node, Condition):
        if not node.also_windows:
            return _decide(node, resolver, tail)
        variants = [node.model_copy(update={"also_windows": []})]
        variants += [node.model_copy(update={"window": w, "also_windows": []}) for w in node.also_windows]
        node = Compound.model_validate({"any": variants})
    parts_src = node.all or node.any or ([node.not_] if node.not_ is not None else [])
    parts = [combine(p, resolver, tail) for p in parts_src]
    if node.any is not None:
        # An alternative whose metric the data lacks (no paid orders reported) is left out; the
        # others still judge. ``all`` and ``not`` need every part.
        parts = [p for p in parts if p is not None]
    if any(p is None for p in parts) or not parts:
        return None
    anchor_view, anchor = parts[0]  # type: ignore[misc]
    keys = anchor_view.keys
    fire, clear, known = anchor.fire.copy(), anchor.clear.copy(), anchor.known.copy()
    aligned: list[tuple[Decision, np.ndarray]] = [(anchor, np.arange(len(keys)))]
    for view, decision in parts[1:]:  # type: ignore[misc]
        lookup = {k: i for i, k in enumerate(view.keys)}
        cols = np.array([lookup.get(k, -1) for k in keys], dtype=np.int64)
        aligned.append((decision, cols))
        ok = cols >= 0
        safe = np.clip(cols, 0, None)
        f = np.where(ok, decision.fire[:, safe], False)
        c = np.where(ok, decision.clear[:, safe], True)
        k = np.where(ok, decision.known[:, safe], False)
        if node.all is not None:
            fire, clear, known = fire & f, clear | c, known & k
        else:
            fire, clear, known = fire | f, clear & c, known | k
    if node.not_ is not None:
        fire, clear = anchor.clear & anchor.known, anchor.fire
        explain = anchor.explain
    elif node.all is not None:
        explain = _all_evidence(aligned)
    else:
        explain = _any_evidence(aligned)
    combined = Decision(fire, clear, known, anchor.value, anchor.expected, anchor.lower, anchor.upper, explain)
    if node.any is not None:
        # The any's own figures are those of its firing alternative (a 6-hour window that fired
        # is quoted with its 6-hour count, not the last hour's).
        combined.value, combined.expected, combined.lower, combined.upper = _chosen(aligned)
    return anchor_view, combined


def _chosen(parts: list[tuple[Decision, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    anchor = parts[0][0]
    out = [anchor.value.copy(), anchor.expected.copy(), anchor.lower.copy(), anchor.upper.copy()]
    taken = anchor.fire.copy()
    for decision, cols in parts[1:]:
        ok = cols >= 0
        safe = np.clip(cols, 0, None)
        take = ~taken & np.where(ok, decision.fire[:, safe], False)
        for i, arr in enumerate((decision.value, decision.expected, decision.lower, decision.upper)):
            out[i] = np.where(take, arr[:, safe], out[i])
        taken |= take
    return out[0], out[1], out[2], out[3]


def evaluate_rule(rule: Rule, panel: Panel, resolver: SeriesResolver, catalog: Catalog, *,
                  with_pending: bool = False) -> list[AlertEvent]:
    """The rule's episodes; ``with_pending`` adds ``mode="pending"`` events for series whose condition
    holds at the last hour but not yet for the rule's ``for`` (the live service shows them)."""
    tail = int(round(rule.event_tail))
    if rule.during_events == "expect":
        resolver = ExpectingResolver(resolver, panel.event_mask(tuple(rule.event_kinds), tail), rule.event_expectation)
    result = combine(rule.when, resolver, tail)
    if result is None:
        return []
    view, decision = result
    cols = _select(view, rule, panel)
    if cols.size == 0:
        return []
    fire, clear, known = decision.fire[:, cols], decision.clear[:, cols], decision.known[:, cols]
    if rule.during_events == "mute":
        reach = max(int(round(w)) for c in rule.conditions() for w in [c.window, *c.also_windows]) - 1
        muted = panel.event_mask(tuple(rule.event_kinds), tail + reach)[:, view.store_index[cols]]
        fire = fire & ~muted
        clear = clear | (muted & known)
    category = rule.category or catalog.get(view.metric).category
    out: list[AlertEvent] = []
    found = episodes(fire, clear, known, for_steps=_steps(rule.for_), keep_steps=_steps(rule.keep_firing_for))
    waiting = pending(fire, known, for_steps=_steps(rule.for_), firing_columns={e.column for e in found if e.end is None}) \
        if with_pending and rule.mode == "alert" else []
    items: list[Episode | Pending] = [*found, *waiting]
    for ep in items:
        col = int(cols[ep.column])
        store = panel.stores[int(view.store_index[col])]
        is_pending = not isinstance(ep, Episode)
        at = ep.start if isinstance(ep, Episode) else ep.since
        evidence = decision.evidence(at, col)
        first = evidence[0]
        value, expected, lower, upper = first.value, first.expected, first.lower, first.upper
        event = AlertEvent(
            rule=rule.id,
            severity=Severity(rule.severity),
            kind=rule.kind,
            category=category,
            platform=store.platform,
            store=store.store,
            sku=view.skus[col],
            metric=view.metric,
            start=panel.time_at(at),
            end=panel.time_at(ep.end) if isinstance(ep, Episode) and ep.end is not None else None,
            value=value,
            expected=expected,
            lower=lower,
            upper=upper,
            mode="pending" if is_pending else rule.mode,
            notify=list(rule.notify),
        )
        event.message, event.message_en = describe(event, rule, catalog, evidence)
        out.append(event)
    return out


class ExpectingResolver(SeriesResolver):
    """A resolver whose views are scaled down by the expected uplift inside events, so a rule
    holds "3× the usual traffic" as its expectation during a promotion instead of going quiet."""

    def __init__(self, base: SeriesResolver, events: np.ndarray, factor: float) -> None:
        super().__init__(base.panel, base.catalog)
        self._events = events
        self._factor = factor

    def view(self, metric: str, window: float, demand_days: int = 14, exposure: float | None = None) -> SeriesView | None:
        original = super().view(metric, window, demand_days, exposure)
        if original is None or self._factor == 1.0 or "expect" in original._cache:
            return original
        inside = self._events[:, original.store_index]
        original.values = np.where(inside, original.values / self._factor, original.values)
        if original.kind == "count" and original.numerator is not None:
            original.numerator = np.where(inside, original.numerator / self._factor, original.numerator)
        original._cache["expect"] = inside
        return original


def evaluate_panel(panel: Panel, rules: list[Rule], catalog: Catalog, *, with_pending: bool = False) -> list[AlertEvent]:
    resolver = SeriesResolver(panel, catalog)
    events: list[AlertEvent] = []
    for rule in rules:
        if rule.enabled:
            events += evaluate_rule(rule, panel, resolver, catalog, with_pending=with_pending)
    return events
