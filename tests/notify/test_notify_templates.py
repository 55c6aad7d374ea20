"""Rendering: zh (default) and en, root cause first, counts, value vs expected, links, size limits."""

from __future__ import annotations

import pytest

from shopsentinel.notify.digest import build_digest
from shopsentinel.notify.templates import (
    format_number,
    format_time,
    render_email,
    render_markdown,
    render_plain,
    render_short,
    render_slack,
    short_fields,
)


def test_digest_groups_by_incident_root_cause_first(notification) -> None:
    digest = build_digest(notification().alerts)
    assert [g.incident for g in digest.groups] == ["inc-1", "inc-2"]  # critical incident before the warning one
    first = digest.groups[0]
    assert first.root.metric == "uv" and [a.metric for a in first.consequences] == ["orders"]
    assert first.root.deviation_pct == -75.0
    assert (digest.total, digest.firing, digest.resolved) == (3, 3, 0)


def test_resolved_incidents_sort_after_firing_ones(notification) -> None:
    alerts = [dict(a) for a in notification().alerts]
    for alert in alerts[:2]:
        alert["state"] = "resolved"
    digest = build_digest(alerts)
    assert [g.incident for g in digest.groups] == ["inc-2", "inc-1"]
    assert (digest.firing, digest.resolved) == (1, 2)


def test_alerts_without_incident_are_their_own_groups() -> None:
    alerts = [{"ts": "2026-11-11T02:00:00Z", "metric": m, "severity": "info", "store": "s"} for m in ("a", "b")]
    assert len(build_digest(alerts).groups) == 2


def test_zh_markdown_has_summary_root_cause_values_and_links(notification) -> None:
    text = render_markdown(notification(), "dingtalk")
    assert "共 3 条告警（告警中 3，已恢复 0）" in text
    assert "**根因**" in text and "关联告警（1）" in text
    assert "当前 1,200，预期 4,800 (-75.0%)" in text
    assert "天猫 · tm-flagship" in text and "京东 · jd-main · SKU SKU-8841" in text
    assert "11-11 10:00" in text  # 02:00 UTC shown as Beijing time
    assert "> 已抑制 3 条由流量骤降引起的告警" in text
    assert "[认领](https://sentinel.example.com/actions/ack?token=t0k) | [查看详情](https://sentinel.example.com/alerts/a-1)" in text
    assert text.index("**uv**") < text.index("**orders**") < text.index("**stock**")


def test_en_markdown_translates_labels_and_keeps_utc(notification) -> None:
    text = render_markdown(notification(lang="en"), "wecom")
    assert "3 alerts (3 firing, 0 resolved)" in text
    assert "**Root cause**: " in text and "value 1,200, expected 4,800 (-75.0%)" in text
    assert "Related alerts (1): " in text and "：" not in text and "，" not in text
    assert "tmall · tm-flagship" in text and "11-11 02:00 UTC" in text
    assert "[Acknowledge](" in text and "[View details](" in text
    assert "根因" not in text and "认领" not in text


def test_feishu_markdown_leaves_buttons_to_the_card(notification) -> None:
    text = render_markdown(notification(), "feishu")
    assert "<font color='red'>" in text and "[认领]" not in text


@pytest.mark.parametrize("limit", [600, 1500, 4096])
def test_markdown_fits_byte_limits_by_dropping_alerts(notification, limit) -> None:
    alerts = [{"ts": f"2026-11-11T02:{i:02d}:00Z", "metric": "stock", "store": "s", "severity": "warning",
               "sku": f"SKU-{i}", "incident": "big", "message": "库存低"} for i in range(60)]  # fmt: skip
    text = render_markdown(notification(alerts=alerts), "wecom", max_bytes=limit)
    assert len(text.encode("utf-8")) <= limit
    assert "还有" in text  # the alerts left out are counted


def test_slack_escapes_control_characters(notification) -> None:
    text = render_slack(notification(title="a <b> & c", lang="en"))
    assert text.startswith("*[Critical] a &lt;b&gt; &amp; c*")
    assert "<https://sentinel.example.com/alerts/a-1|View details>" in text


def test_email_html_escapes_and_references_chart(notification) -> None:
    content = render_email(notification(title="<script>x</script>"), chart_cid="chart@x")
    assert content.subject == "[严重] <script>x</script>"  # a header, not HTML
    assert "<script>" not in content.html and "&lt;script&gt;" in content.html
    assert 'src="cid:chart@x"' in content.html
    assert "根因" in content.text and "<" not in content.text.split("\n")[0][1:3]


def test_plain_and_short_forms(notification) -> None:
    assert render_short(notification()) == "【严重】天猫旗舰店流量骤降（共 3 条告警）"
    assert render_short(notification(lang="en")) == "[Critical] 天猫旗舰店流量骤降 (3 alerts)"
    assert short_fields(notification()) == {"level": "严重", "title": "天猫旗舰店流量骤降", "store": "tm-flagship",
                                            "metric": "uv", "count": "3"}  # fmt: skip
    assert "认领: https://sentinel.example.com/actions/ack?token=t0k" in render_plain(notification())


def test_number_and_time_formatting() -> None:
    assert [format_number(v) for v in (None, 3.0, 1234.5, 0.031234, 12.5)] == ["-", "3", "1,234", "0.03123", "12.5"]
    assert format_time("2026-11-10T16:30:00Z", "zh") == "11-11 00:30"
    assert format_time("not a time", "en") == "not a time"
