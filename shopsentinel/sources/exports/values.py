"""Cell text → numbers and times, the way seller consoles write them.

>>> parse_value("¥1,234.50", "money"), parse_value("$1,234.50", "money"), parse_value("3.21%", "ratio")
(1234.5, 1234.5, 0.0321)
>>> parse_value("00:01:05", "seconds"), parse_value("12.5%", "percent"), parse_value("1,024", "count")
(65.0, 12.5, 1024.0)
>>> parse_hour("13:00-14:00"), parse_hour("9时"), parse_hour("7")
(13, 9, 7)
"""

from __future__ import annotations

import re
from datetime import date, datetime

from shopsentinel.sources.exports.mappings import Kind

MISSING = frozenset({"", "-", "--", "—", "N/A", "n/a", "null", "None"})
_CURRENCY = re.compile(r"^[¥￥$€£]|^(?:RMB|CNY|USD|US\$)\s*|\s*(?:元|CNY|USD)$", re.IGNORECASE)
_HOUR = re.compile(r"^(\d{1,2})(?::00(?::00)?)?(?:\s*(?:时|点|h))?(?:\s*[-~至]\s*\d{1,2}(?::00)?(?:时|点)?)?$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:秒|s|sec|seconds)?$", re.IGNORECASE)
_MIN_SEC = re.compile(r"^(?:(\d+)\s*分(?:钟)?)?\s*(?:(\d+(?:\.\d+)?)\s*秒)?$")


class BadValue(ValueError):
    """A cell that does not hold what its column promises."""


def is_missing(text: str) -> bool:
    return text.strip() in MISSING


def _number(text: str) -> float:
    cleaned = text.replace(",", "").replace("，", "").replace(" ", "")
    try:
        return float(cleaned)
    except ValueError:
        raise BadValue(f"{text!r} is not a number") from None


def parse_value(text: str, kind: Kind) -> float:
    text = text.strip()
    if kind == "money":
        negative = text.startswith("-")
        value = _number(_CURRENCY.sub("", text.lstrip("-").strip()))
        return -value if negative else value
    if kind in ("ratio", "percent"):
        if text.endswith("%"):
            points = _number(text[:-1])
            return round(points / 100, 10) if kind == "ratio" else points
        return _number(text)
    if kind == "seconds":
        return _seconds(text)
    value = _number(text)
    if value < 0 or value != int(value):
        raise BadValue(f"{text!r} is not a count")
    return value


def _seconds(text: str) -> float:
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    plain = _SECONDS.match(text)
    if plain:
        return float(plain.group(1))
    mixed = _MIN_SEC.match(text)
    if mixed and any(mixed.groups()):
        return int(mixed.group(1) or 0) * 60 + float(mixed.group(2) or 0)
    raise BadValue(f"{text!r} is not a duration")


def parse_hour(text: str) -> int:
    text = text.strip()
    if re.fullmatch(r"\d+\.0", text):  # spreadsheets store 7 as 7.0
        text = text[:-2]
    found = _HOUR.match(text)
    if not found or not 0 <= int(found.group(1)) <= 23:
        raise BadValue(f"{text!r} is not an hour of the day")
    return int(found.group(1))


def parse_date(text: str, formats: tuple[str, ...]) -> tuple[date, int | None]:
    """A date, and the hour when the cell holds a time too (store-local clock)."""
    text = text.strip()
    for fmt in (*formats, "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if moment.minute or moment.second:
            raise BadValue(f"{text!r} is not on a whole hour")
        return moment.date(), (moment.hour if "%H" in fmt else None)
    raise BadValue(f"{text!r} is not a date (expected e.g. {datetime(2026, 11, 1).strftime(formats[0])})")
