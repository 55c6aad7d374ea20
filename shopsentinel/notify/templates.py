"""Render a :class:`Notification` as the text each channel sends, in zh-CN (default) or English.

The Jinja2 templates live in ``shopsentinel/notify/templates/``; this module supplies their
context (the :mod:`digest` of the alerts, translated labels, number and time formatting) and keeps
each rendering under the channel's size limit by showing fewer alerts, never by cutting a line.

>>> from shopsentinel.notify.base import Notification
>>> n = Notification(key="k", title="流量骤降", severity="critical", alerts=[])
>>> render_short(n)
'【严重】流量骤降（共 0 条告警）'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shopsentinel.core.types import PLATFORM_NAMES_ZH, Severity
from shopsentinel.notify.base import Language, Notification
from shopsentinel.notify.digest import AlertLine, build_digest

MarkdownDialect = Literal["dingtalk", "wecom", "feishu"]

LABELS: dict[Language, dict[str, str]] = {
    "zh": {
        "level": "级别", "summary": "共 {total} 条告警（告警中 {firing}，已恢复 {resolved}）",
        "root_cause": "根因", "rca": "原因分析", "related": "关联告警", "value": "当前", "expected": "预期",
        "more": "另有 {count} 条未列出", "ack": "认领", "details": "查看详情", "firing": "告警中",
        "resolved": "已恢复", "data": "数据质量", "chart": "趋势图", "sku": "SKU", "time": "时间",
        "alert": "告警", "short": "【{level}】{title}（共 {count} 条告警）",
        "colon": "：", "comma": "，", "badge": "【{}】", "paren": "（{}）",
    },
    "en": {
        "level": "Severity", "summary": "{total} alerts ({firing} firing, {resolved} resolved)",
        "root_cause": "Root cause", "rca": "Root cause analysis", "related": "Related alerts", "value": "value", "expected": "expected",
        "more": "{count} more not shown", "ack": "Acknowledge", "details": "View details", "firing": "firing",
        "resolved": "resolved", "data": "data quality", "chart": "Trend chart", "sku": "SKU", "time": "Time",
        "alert": "alert", "short": "[{level}] {title} ({count} alerts)",
        "colon": ": ", "comma": ", ", "badge": "[{}] ", "paren": " ({})",
    },
}  # fmt: skip

SEVERITY_EN = {Severity.FATAL: "Fatal", Severity.CRITICAL: "Critical", Severity.WARNING: "Warning", Severity.INFO: "Info"}
SEVERITY_HEX = {Severity.FATAL: "#b71c1c", Severity.CRITICAL: "#e53935", Severity.WARNING: "#f59e0b", Severity.INFO: "#1e88e5"}
WECOM_COLOR = {Severity.FATAL: "warning", Severity.CRITICAL: "warning", Severity.WARNING: "comment", Severity.INFO: "info"}
FEISHU_COLOR = {Severity.FATAL: "red", Severity.CRITICAL: "red", Severity.WARNING: "orange", Severity.INFO: "blue"}
DISPLAY_ZONE: dict[Language, str] = {"zh": "Asia/Shanghai", "en": "UTC"}

# How many incident groups / consequences per group to show, tried in turn until the text fits.
_SHOWN_LIMITS: tuple[tuple[int, int], ...] = ((50, 50), (20, 10), (10, 5), (5, 3), (3, 1), (1, 0))


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("shopsentinel.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def severity_label(severity: Severity, lang: Language) -> str:
    return severity.zh if lang == "zh" else SEVERITY_EN[severity]


def platform_label(platform: str, lang: Language) -> str:
    return PLATFORM_NAMES_ZH.get(platform, platform) if lang == "zh" else platform


def format_number(value: float | None) -> str:
    """``1234.0`` → ``1,234``; ``0.0312`` → ``0.0312``; ``None`` → ``-``."""
    if value is None:
        return "-"
    if value == int(value) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_time(ts: str, lang: Language) -> str:
    """ISO-8601 UTC → local wall time of the reader (Beijing time for zh)."""
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = DISPLAY_ZONE[lang]
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%m-%d %H:%M") + ("" if lang == "zh" else " UTC")


def _colorizer(dialect: MarkdownDialect) -> Callable[[str, Severity], str]:
    def color(text: str, severity: Severity) -> str:
        if dialect == "wecom":
            return f'<font color="{WECOM_COLOR[severity]}">{text}</font>'
        if dialect == "feishu":
            return f"<font color='{FEISHU_COLOR[severity]}'>{text}</font>"
        return f'<font color="{SEVERITY_HEX[severity]}">{text}</font>'

    return color


@dataclass(frozen=True, slots=True)
class EmailContent:
    subject: str
    text: str
    html: str


# Optional one-line root-cause analysis per alert id (``shopsentinel.insight`` registers it).
RootCauseNote = Callable[[str, Language], str | None]
ROOT_CAUSE_NOTES: list[RootCauseNote] = []


def _root_cause_note(line: AlertLine, lang: Language) -> str:
    return next((text for note in ROOT_CAUSE_NOTES if line.id and (text := note(line.id, lang))), "")


# Markup that user-entered text (store names, rule names, SKUs, messages, comments) must not carry
# into a channel's message: emphasis, code and link punctuation is backslash-escaped anywhere, a
# block marker (``#``, ``-``, ``+``, ``1.``) at the start, and ``<`` / ``>`` become entities so no tag
# (``<font>``, ``<at>``, WeCom ``<@user>``), autolink or quote can be smuggled in. Hyphens and dots
# inside words stay readable (``tm-flagship``).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]~|])")
_MARKDOWN_LEADING = re.compile(r"^(\s*)([#+\-]|\d+\.)")
# Alert fields written by people or taken from their input; the rest (ids, timestamps, severities,
# platform codes, numbers) are ours and stay as they are.
USER_ALERT_FIELDS = ("store", "sku", "metric", "rule", "message", "title", "name", "comment", "note")


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a line break would start a heading, quote or list item


def markdown_escape(text: str) -> str:
    """User text for DingTalk / WeCom markdown and Feishu ``lark_md``: one line, no markup.

    >>> markdown_escape("店*铺* [点我](http://x) <@all>")
    '店\\\\*铺\\\\* \\\\[点我\\\\](http://x) &lt;@all&gt;'
    >>> markdown_escape("# tm-flagship")
    '\\\\# tm-flagship'
    """
    text = _one_line(str(text)).replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _MARKDOWN_LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def slack_escape(text: str) -> str:
    """User text for Slack ``mrkdwn``: one line, ``& < >`` as entities (no links, mentions or
    ``<!channel>``)."""
    return _one_line(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped_notification(notification: Notification, escape: Callable[[str], str]) -> Notification:
    """A copy whose user-entered strings went through ``escape``."""
    alerts = [{k: escape(v) if k in USER_ALERT_FIELDS and isinstance(v, str) else v for k, v in alert.items()}
              for alert in notification.alerts]
    muted = escape(notification.muted_note) if notification.muted_note else notification.muted_note
    return notification.model_copy(update={"title": escape(notification.title), "alerts": alerts, "muted_note": muted})


def _same(text: str) -> str:
    return text


def _context(notification: Notification, groups_shown: int, consequences_shown: int,
             escape: Callable[[str], str] = _same) -> dict[str, object]:
    lang = notification.lang
    return {
        "n": notification,
        "digest": build_digest(notification.alerts),
        "t": LABELS[lang],
        "groups_shown": groups_shown,
        "consequences_shown": consequences_shown,
        "severity_label": lambda s: severity_label(s, lang),
        "platform_label": lambda p: escape(platform_label(p, lang)),
        "num": format_number,
        "when": lambda ts: format_time(ts, lang),
        "deviation": _deviation_text,
        "rca": lambda line: escape(_root_cause_note(line, lang)),
    }


def _deviation_text(line: AlertLine) -> str:
    pct = line.deviation_pct
    return "" if pct is None else f" ({pct:+.1f}%)"


def _render_fitting(template_name: str, notification: Notification, max_bytes: int | None,
                    markup_escape: Callable[[str], str] | None = None, **extra: object) -> str:
    """Render, showing fewer alerts until it fits; ``markup_escape`` escapes every user-entered
    string (in the notification and the RCA notes) for the channel's markup first."""
    template = _environment().get_template(template_name)
    escape = markup_escape or _same
    if markup_escape is not None:
        notification = _escaped_notification(notification, markup_escape)
    if max_bytes is None:
        return template.render(**_context(notification, *_SHOWN_LIMITS[0], escape), **extra).strip()
    text = ""
    for groups_shown, consequences_shown in _SHOWN_LIMITS:
        text = template.render(**_context(notification, groups_shown, consequences_shown, escape), **extra).strip()
        if len(text.encode("utf-8")) <= max_bytes:
            return text
    # Even one alert does not fit (a huge message text): cut on a character boundary.
    return text.encode("utf-8")[: max_bytes - 3].decode("utf-8", errors="ignore") + "..."


def render_markdown(notification: Notification, dialect: MarkdownDialect, *, max_bytes: int | None = None) -> str:
    """Markdown for DingTalk, WeCom (``<font color>``) or Feishu ``lark_md``; fits ``max_bytes``."""
    return _render_fitting("markdown.md.j2", notification, max_bytes, markdown_escape, color=_colorizer(dialect),
                           dialect=dialect)


def render_slack(notification: Notification, *, max_bytes: int | None = 38_000) -> str:
    """Slack ``mrkdwn`` (``*bold*``, ``<url|text>``; ``& < >`` escaped). The template escapes each
    user field itself (``escape``), so the notification goes in as it is, minus line breaks."""
    flat = _escaped_notification(notification, _one_line)
    return _render_fitting("slack.txt.j2", flat, max_bytes, escape=slack_escape)


_slack_escape = slack_escape  # the name earlier callers used


def render_email(notification: Notification, *, chart_cid: str | None = None) -> EmailContent:
    """Subject, plain-text part and HTML part (``chart_cid`` names the inline chart image)."""
    level = severity_label(notification.severity, notification.lang)
    subject = f"[{level}] {notification.title}"
    text = _render_fitting("plain.txt.j2", notification, None)
    html = _render_fitting("email.html.j2", notification, None, chart_cid=chart_cid, hex_color=SEVERITY_HEX)
    return EmailContent(subject=subject, text=text, html=html)


def short_fields(notification: Notification, *, title_chars: int = 20) -> dict[str, str]:
    """Template variables for SMS and voice: ``level``, ``title``, ``store``, ``metric``, ``count``."""
    digest = build_digest(notification.alerts)
    root = digest.groups[0].root if digest.groups else None
    return {
        "level": severity_label(notification.severity, notification.lang),
        "title": notification.title[:title_chars],
        "store": root.store if root else "",
        "metric": root.metric if root else "",
        "count": str(digest.total),
    }


def render_short(notification: Notification) -> str:
    """One line for SMS previews and logs."""
    return LABELS[notification.lang]["short"].format(**short_fields(notification, title_chars=60))


def render_plain(notification: Notification, *, max_bytes: int | None = None) -> str:
    """Plain text (e-mail text part, generic webhook ``text``)."""
    return _render_fitting("plain.txt.j2", notification, max_bytes)
