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
from shopsentinel.notify.digest import AlertLine, Digest, IncidentGroup, build_digest

MarkdownDialect = Literal["dingtalk", "wecom", "feishu"]

LABELS: dict[Language, dict[str, str]] = {
    "zh": {
        "level": "级别", "summary": "共 {total} 条告警（告警中 {firing}，已恢复 {resolved}）",
        "root_cause": "根因", "rca": "原因分析", "related": "关联告警", "value": "当前", "expected": "预期",
        "more": "还有 {count} 条", "ack": "认领", "details": "查看详情", "firing": "告警中",
        "resolved": "已恢复", "data": "数据质量", "chart": "趋势图", "sku": "SKU", "time": "时间",
        "alert": "告警", "short": "【{level}】{title}（共 {count} 条告警）",
        "colon": "：", "comma": "，", "badge": "【{}】", "paren": "（{}）",
        "recovered_after": "已恢复，持续 {duration}", "recovered_title": "已恢复：{what}，持续 {duration}",
        "days": "{n} 天", "hours": "{n} 小时", "minutes": "{n} 分", "sep": " ",
    },
    "en": {
        "level": "Severity", "summary": "{total} alerts ({firing} firing, {resolved} resolved)",
        "root_cause": "Root cause", "rca": "Root cause analysis", "related": "Related alerts", "value": "value", "expected": "expected",
        "more": "{count} more", "ack": "Acknowledge", "details": "View details", "firing": "firing",
        "resolved": "resolved", "data": "data quality", "chart": "Trend chart", "sku": "SKU", "time": "Time",
        "alert": "alert", "short": "[{level}] {title} ({count} alerts)",
        "colon": ": ", "comma": ", ", "badge": "[{}] ", "paren": " ({})",
        "recovered_after": "recovered after {duration}", "recovered_title": "Recovered: {what} after {duration}",
        "days": "{n} d", "hours": "{n} h", "minutes": "{n} min", "sep": " ",
    },
}  # fmt: skip

SEVERITY_EN = {Severity.FATAL: "Fatal", Severity.CRITICAL: "Critical", Severity.WARNING: "Warning", Severity.INFO: "Info"}
SEVERITY_HEX = {Severity.FATAL: "#b71c1c", Severity.CRITICAL: "#e53935", Severity.WARNING: "#f59e0b", Severity.INFO: "#1e88e5"}
WECOM_COLOR = {Severity.FATAL: "warning", Severity.CRITICAL: "warning", Severity.WARNING: "comment", Severity.INFO: "info"}
FEISHU_COLOR = {Severity.FATAL: "red", Severity.CRITICAL: "red", Severity.WARNING: "orange", Severity.INFO: "blue"}
DISPLAY_ZONE: dict[Language, str] = {"zh": "Asia/Shanghai", "en": "UTC"}

# How many incident groups / consequences per group to show, tried in turn until the text fits.
_SHOWN_LIMITS: tuple[tuple[int, int], ...] = ((50, 50), (20, 10), (10, 5), (5, 3), (3, 1), (1, 0))
# An IM card of one group lists its first alerts (root cause first) and counts the rest: "还有 N 条".
IM_TOP_ALERTS = 3


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


def format_duration(minutes: int, lang: Language) -> str:
    """``135`` → ``2 小时 15 分`` (``2 h 15 min``); days when it ran for a day or more; never empty.

    >>> format_duration(135, "zh"), format_duration(1500, "en"), format_duration(0, "zh")
    ('2 小时 15 分', '1 d 1 h', '0 分')
    """
    t = LABELS[lang]
    days, rest = divmod(max(0, int(minutes)), 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [t["days"].format(n=days)] if days else []
    if hours:
        parts.append(t["hours"].format(n=hours))
    if mins and not days:
        parts.append(t["minutes"].format(n=mins))
    return t["sep"].join(parts) or t["minutes"].format(n=0)


def _parse(ts: object) -> datetime | None:
    if not isinstance(ts, str) or not ts:
        return None
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def lasted_minutes(alert: dict[str, object]) -> int | None:
    """How long a resolved alert line (``starts_at`` … ``ts``) was firing, in minutes."""
    start, end = _parse(alert.get("starts_at")), _parse(alert.get("ts"))
    return None if start is None or end is None else int((end - start).total_seconds() // 60)


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


def _shown(digest: Digest, groups_shown: int, consequences_shown: int,
           max_alerts: int | None) -> list[tuple[IncidentGroup, tuple[AlertLine, ...]]]:
    """The incident groups and consequences to list: at most ``max_alerts`` alerts in all."""
    budget = max_alerts if max_alerts is not None else digest.total
    shown: list[tuple[IncidentGroup, tuple[AlertLine, ...]]] = []
    for group in digest.groups[:groups_shown]:
        if budget <= 0:
            break
        consequences = group.consequences[: max(0, min(consequences_shown, budget - 1))]
        shown.append((group, consequences))
        budget -= 1 + len(consequences)
    return shown


def _context(notification: Notification, groups_shown: int, consequences_shown: int,
             escape: Callable[[str], str] = _same, max_alerts: int | None = None) -> dict[str, object]:
    lang = notification.lang
    digest = build_digest(notification.alerts)
    shown = _shown(digest, groups_shown, consequences_shown, max_alerts)
    durations = {str(a.get("id")): lasted_minutes(a) for a in notification.alerts if a.get("state") == "resolved"}

    def lasted(line: AlertLine) -> str:
        minutes = durations.get(str(line.id))
        if minutes is None:
            return LABELS[lang]["resolved"]
        return LABELS[lang]["recovered_after"].format(duration=format_duration(minutes, lang))

    return {
        "n": notification,
        "digest": digest,
        "shown": shown,
        "hidden": digest.total - sum(1 + len(c) for _, c in shown),
        "lasted": lasted,
        "chart_url": notification.chart_url,
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
                    markup_escape: Callable[[str], str] | None = None, max_alerts: int | None = None,
                    **extra: object) -> str:
    """Render, showing fewer alerts until it fits; ``markup_escape`` escapes every user-entered
    string (in the notification and the RCA notes) for the channel's markup first."""
    template = _environment().get_template(template_name)
    escape = markup_escape or _same
    if markup_escape is not None:
        notification = _escaped_notification(notification, markup_escape)
    if max_bytes is None:
        return template.render(**_context(notification, *_SHOWN_LIMITS[0], escape, max_alerts), **extra).strip()
    text = ""
    for groups_shown, consequences_shown in _SHOWN_LIMITS:
        context = _context(notification, groups_shown, consequences_shown, escape, max_alerts)
        text = template.render(**context, **extra).strip()
        if len(text.encode("utf-8")) <= max_bytes:
            return text
    # Even one alert does not fit (a huge message text): cut on a character boundary.
    return text.encode("utf-8")[: max_bytes - 3].decode("utf-8", errors="ignore") + "..."


def render_markdown(notification: Notification, dialect: MarkdownDialect, *, max_bytes: int | None = None,
                    max_alerts: int | None = None) -> str:
    """Markdown for DingTalk, WeCom (``<font color>``) or Feishu ``lark_md``: the message's one severity,
    the first ``max_alerts`` (default: the notification's ``top_alerts``) alerts and "还有 N 条", the chart
    (an image; a link in Feishu's ``lark_md``, which shows no outside images); fits ``max_bytes``."""
    limit = max_alerts if max_alerts is not None else notification.top_alerts
    return _render_fitting("markdown.md.j2", notification, max_bytes, markdown_escape, limit,
                           color=_colorizer(dialect), dialect=dialect)


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
