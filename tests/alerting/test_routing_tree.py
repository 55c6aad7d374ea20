"""Routing: the Alertmanager-style tree with ``continue``, subscriptions (千人千警) by role,
category and severity, and the severity policy's channels and deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shopsentinel.alerting.routing import (
    LabelMatcher,
    Route,
    SeverityLevel,
    SeverityPolicy,
    Subscription,
    default_severity_policy,
    match_routes,
    recipients,
)
from shopsentinel.core.types import Severity


def labels(**overrides: str) -> dict[str, str]:
    base = {"platform": "tmall", "store": "tm-1", "sku": "", "rule": "traffic.crash", "metric": "uv",
            "severity": "critical", "kind": "business", "category": "traffic"}
    return {**base, **overrides}


TREE = Route.model_validate({
    "receiver": "default",
    "group_by": ["store"],
    "routes": [
        {"receiver": "ads-team", "matchers": [{"name": "category", "value": "ads"}], "continue": True,
         "group_wait_seconds": 60},
        {"receiver": "stock-team", "matchers": [{"name": "rule", "value": "stock\\..*", "regex": True}]},
        {"receiver": "jd-team", "matchers": [{"name": "platform", "value": "jd"}], "continue": True,
         "routes": [{"receiver": "jd-fatal", "matchers": [{"name": "severity", "value": "fatal"}]}]},
        {"receiver": "after-jd", "matchers": [{"name": "platform", "value": "jd"}]},
        {"receiver": "never", "matchers": [{"name": "platform", "value": "jd"}]},
    ],
})


def test_first_matching_child_wins_and_continue_tries_the_next_siblings() -> None:
    assert [m.receiver for m in match_routes(TREE, labels(category="ads"))] == ["ads-team"]
    ads_and_stock = match_routes(TREE, labels(category="ads", rule="stock.low"))
    assert [m.receiver for m in ads_and_stock] == ["ads-team", "stock-team"]
    # continue on jd-team lets after-jd match; after-jd has no continue, so "never" is never reached
    assert [m.receiver for m in match_routes(TREE, labels(platform="jd"))] == ["jd-team", "after-jd"]
    assert [m.receiver for m in match_routes(TREE, labels(platform="jd", severity="fatal"))] == ["jd-fatal", "after-jd"]


def test_unmatched_alert_falls_back_to_the_root_and_settings_are_inherited() -> None:
    [root] = match_routes(TREE, labels(platform="pdd"))
    assert root.receiver == "default" and root.group_by == ("store",)
    [ads] = match_routes(TREE, labels(category="ads"))
    assert ads.group_wait == timedelta(seconds=60) and ads.group_by == ("store",)


def test_negated_and_regex_matchers() -> None:
    tree = Route(receiver="root", routes=[Route(receiver="not-tmall", matchers=[LabelMatcher(name="platform", value="tmall", negate=True)])])
    assert [m.receiver for m in match_routes(tree, labels(platform="jd"))] == ["not-tmall"]
    assert [m.receiver for m in match_routes(tree, labels())] == ["root"]
    with pytest.raises(ValidationError):
        LabelMatcher(name="rule", value="(", regex=True)


MEMBERS = {"ops_lead": ["wang"], "inventory_manager": ["li", "zhao"], "ad_optimizer": ["chen"], "director": ["boss"]}
SUBSCRIPTIONS = [
    Subscription(role="ops_lead", platforms=["tmall"], min_severity=Severity.WARNING),
    Subscription(role="inventory_manager", categories=["inventory"]),
    Subscription(role="ad_optimizer", categories=["ads"], stores=["tm-1"]),
    Subscription(role="director", min_severity=Severity.FATAL),
    Subscription(user="zhao", categories=["inventory"], min_severity=Severity.CRITICAL, channels=["phone"]),
]


def test_subscriptions_by_role_category_store_and_severity() -> None:
    policy = default_severity_policy()
    got = {r.user: r for r in recipients(labels(category="inventory", severity="warning"), SUBSCRIPTIONS, MEMBERS, policy)}
    assert set(got) == {"wang", "li", "zhao"}  # zhao's personal subscription wants critical+ only
    assert got["li"].channels == ("im",) and got["li"].via == "inventory_manager"
    critical = {r.user: r for r in recipients(labels(category="inventory"), SUBSCRIPTIONS, MEMBERS, policy)}
    assert critical["zhao"].channels == ("im", "sms", "phone")  # role kinds merged with the override
    ads_other_store = recipients(labels(category="ads", store="tm-2", platform="jd"), SUBSCRIPTIONS, MEMBERS, policy)
    assert ads_other_store == []
    fatal = {r.user for r in recipients(labels(severity="fatal", platform="jd"), SUBSCRIPTIONS, MEMBERS, policy)}
    assert fatal == {"boss"}
    info = recipients(labels(severity="info"), SUBSCRIPTIONS, MEMBERS, policy)
    assert info == []  # ops_lead wants warning+, nobody else matches traffic


def test_unknown_role_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown role"):
        Subscription(role="janitor")


def test_default_severity_policy_channels_and_deadlines() -> None:
    policy = default_severity_policy()
    assert [policy.channels_for(s) for s in ("info", "warning", "critical", "fatal")] == [
        ["inbox"], ["im"], ["im", "sms"], ["im", "sms", "phone"]]
    t0 = datetime(2026, 11, 11, tzinfo=UTC)
    deadlines = [policy.respond_by(s, t0) - t0 for s in ("info", "warning", "critical", "fatal")]
    assert deadlines == sorted(deadlines, reverse=True) and deadlines[-1] == timedelta(minutes=10)


def test_severity_policy_is_configurable() -> None:
    policy = SeverityPolicy(levels={Severity.WARNING: SeverityLevel(channels=["im", "sms"], response_minutes=5)})
    assert policy.channels_for("warning") == ["im", "sms"]
    assert policy.channels_for("info") == ["inbox"]  # unconfigured level: in-app only
    subs = [Subscription(role="ops_lead")]
    assert recipients(labels(severity="warning"), subs, MEMBERS, policy)[0].channels == ("im", "sms")
