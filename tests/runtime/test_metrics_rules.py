"""docs/prometheus/shopsentinel.rules.yml cannot drift: every rule is well formed (alert, expr,
severity, a Chinese-first summary) and every metric its expressions name is exposed by a real
``/metrics`` scrape (here of an app on SQLite; tests/runtime/test_metrics_serve.py checks it again
against a real ``shopsentinel serve``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus" / "shopsentinel.rules.yml"
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})
PROMETHEUS_OWN = frozenset({"up"})  # series Prometheus itself adds to every scrape
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def expr_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, ranges, grouping clauses,
    functions and keywords left out)."""
    text = re.sub(r'"[^"]*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![0-9.])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        if text[match.end():].lstrip().startswith("(") or match.group().lower() in KEYWORDS:
            continue  # a function, or an operator
        names.add(match.group())
    return names


def exposed_names(exposition: str) -> set[str]:
    """Every family and sample name of a scrape (a labelled counter with no child yet still declares
    its family)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}.get(family.type, ())
        names.update(family.name + suffix for suffix in suffixes)
        names.update(s.name for s in family.samples)
    return names


def missing_from(exposition: str) -> dict[str, set[str]]:
    """Per alert, the names its expression uses that the scrape does not expose."""
    exposed = exposed_names(exposition) | PROMETHEUS_OWN
    gaps = {rule["alert"]: expr_metric_names(rule["expr"]) - exposed for rule in rules()}
    return {alert: names for alert, names in gaps.items() if names}


def test_the_rule_file_covers_what_an_sre_pages_on_and_each_rule_is_well_formed() -> None:
    loaded = rules()
    used = set().union(*(expr_metric_names(r["expr"]) for r in loaded))
    assert {"shopsentinel_notifications_failed_total", "shopsentinel_outbox_oldest_pending_age_seconds",
            "shopsentinel_sync_lag_seconds", "shopsentinel_sync_failures_total",
            "shopsentinel_last_tick_timestamp_seconds", "shopsentinel_ready",
            "shopsentinel_admission_refused_total", "up"} <= used
    for rule in loaded:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        summary = rule["annotations"]["summary"]
        zh, _, en = summary.rpartition("/ ")
        assert CHINESE.search(zh) and en and not CHINESE.search(en), summary  # Chinese first, then English


def test_the_name_extractor_sees_through_promql() -> None:
    expr = ('histogram_quantile(0.95, sum by (instance, le) (rate(a_bucket{route!="x"}[5m]))) > 2 '
            'or time() - max by (instance) (b_seconds) > 5 * 60 unless on(job) up{job="s"} == 0')
    assert expr_metric_names(expr) == {"a_bucket", "b_seconds", "up"}


def test_every_metric_a_rule_uses_is_exposed_by_a_real_scrape(api: Any) -> None:
    text = api.as_token("").get("/metrics").text
    assert missing_from(text) == {}
    # and the check does fail on a name the service does not expose
    assert "shopsentinel_sync_lag_seconds" in exposed_names(text)
    assert "shopsentinel_sync_lag_seconds" not in exposed_names(text.replace("shopsentinel_sync_lag_seconds", "x"))
    assert "ShopSentinelSyncLagging" in missing_from(text.replace("shopsentinel_sync_lag_seconds", "x"))
    # process metrics on the app's own registry
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= exposed_names(text)
