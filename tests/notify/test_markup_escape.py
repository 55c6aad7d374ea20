"""User strings (store, rule, SKU, message, title, muted note) reach DingTalk / WeCom / Feishu markdown
and Slack mrkdwn as plain text: no live link, tag, mention or heading survives, and ordinary names such
as ``tm-flagship`` stay readable (issue 14, item 5)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from shopsentinel.notify.base import Notification
from shopsentinel.notify.templates import markdown_escape, render_markdown, render_slack, slack_escape

HOSTILE = "[点我](http://evil) <at>all</at> <font color=red>红</font> *bold*\n# 标题"
LEADING = "# 店铺 *bold*"


def hostile(notification: Callable[..., Notification]) -> Notification:
    base = notification()
    alerts: list[dict[str, Any]] = [dict(a) for a in base.alerts]
    alerts[1].update(store="# 恶意店铺 [点我](http://evil)", rule="<at>rule</at>", message=HOSTILE)  # the root cause
    alerts[0].update(message="第一行\n# 第二行是标题吗")  # a symptom of tm-flagship, left named as it is
    alerts[2].update(sku="<font color=red>SKU</font>", message="*bold* [x](http://evil)")
    return notification(alerts=alerts, title=LEADING + " [点我](http://evil)", muted_note="<at>all</at>\n# 抑制")


@pytest.mark.parametrize("dialect", ["dingtalk", "wecom", "feishu"])
def test_markdown_dialects_carry_no_live_markup_from_user_strings(notification: Any, dialect: Any) -> None:
    text = render_markdown(hostile(notification), dialect)
    # no link: every bracket of the user's [..](..) is escaped
    assert "[点我](http://evil)" not in text and "[x](http://evil)" not in text
    assert re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(http://evil\)", text) is None
    assert text.count(r"\[点我\](http://evil)") == 3  # title, store, message
    # no tag: neither the mention nor the user's font survives, only the template's own colour tags
    assert "<at>" not in text and "</at>" not in text and "<font color=red>" not in text
    assert "&lt;at&gt;all&lt;/at&gt;" in text and "&lt;font color=red&gt;" in text
    own_tags = re.findall(r"<[^>]*>", text)
    assert own_tags and all(re.fullmatch(r"<font color=[\"'][#a-z0-9]+[\"']>|</font>", tag) for tag in own_tags), own_tags
    # no emphasis: *bold* stays literal
    assert "*bold*" not in text.replace(r"\*bold\*", "")
    # no heading: the only line starting with # is the template's own title line, which starts ###
    headings = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(headings) == 1 and headings[0].startswith("### ") and r"\# 店铺" in headings[0]
    # the user's line breaks are gone: the message is one quoted line
    assert "第一行 # 第二行是标题吗" in text and "> &lt;at&gt;all&lt;/at&gt; # 抑制" in text
    # ordinary names stay readable
    assert "天猫 · tm-flagship" in text
    assert r"\# 恶意店铺 \[点我\](http://evil)" in text


def test_slack_carries_no_link_mention_or_tag_from_user_strings(notification: Any) -> None:
    base = hostile(notification)
    alerts = [dict(a) for a in base.alerts]
    alerts[1]["message"] = HOSTILE + " <http://evil|点我> <!channel> <@U123>"
    text = render_slack(base.model_copy(update={"alerts": alerts}))
    assert "<http://evil" not in text and "<!channel>" not in text and "<@U123>" not in text and "<at>" not in text
    assert "&lt;http://evil|点我&gt;" in text and "&lt;!channel&gt;" in text
    links = re.findall(r"<([^>]*)>", text)
    assert links == ["https://sentinel.example.com/actions/ack?token=t0k|认领",
                     "https://sentinel.example.com/alerts/a-1|查看详情"], links  # only the service's own links
    assert "\n# " not in text and "第一行 # 第二行是标题吗" in text
    assert "tm-flagship" in text


def test_escape_functions_keep_ordinary_names_and_flatten_lines() -> None:
    for name in ("tm-flagship", "jd-main", "SKU-8841", "店铺 1.0", "a.b-c"):
        assert markdown_escape(name) == name and slack_escape(name) == name
    assert markdown_escape("1. 列表") == r"\1. 列表" and markdown_escape("- 项") == r"\- 项"
    assert markdown_escape("a\n# b\r\n> c") == "a # b &gt; c"
    assert markdown_escape("`code` ~strike~ _em_ |t|") == r"\`code\` \~strike\~ \_em\_ \|t\|"
    assert slack_escape("a & <b>\nc") == "a &amp; &lt;b&gt; c"
