"""The alert center's message catalog: zh-CN first, English second. Every visible string of the
pages goes through :func:`translate`; a key missing from the catalog shows the text after its first
dot (so a new platform or event name still reads), and a test checks every key the templates use.
The entries live by concept: ``common`` (navigation, columns, names), ``alerts``, ``config``,
``setup`` and ``insight`` pages.

>>> translate("zh-CN", "nav.alerts"), translate("en", "nav.alerts")
('告警列表', 'Alerts')
>>> translate("en", "alerts.total", n=3)
'3 alerts'
>>> translate("en", "platform.temu")
'temu'
"""

from __future__ import annotations

from typing import Any

from shopsentinel.web.i18n import alerts, common, config, insight, setup


def _merged() -> dict[str, tuple[str, str]]:
    entries: dict[str, tuple[str, str]] = {}
    for part in (common, alerts, config, setup, insight):
        twice = entries.keys() & part.ENTRIES.keys()
        if twice:
            raise ValueError(f"message keys defined twice: {sorted(twice)}")
        entries.update(part.ENTRIES)
    return entries


_ENTRIES = _merged()

MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {key: zh for key, (zh, _en) in _ENTRIES.items()},
    "en": {key: en for key, (_zh, en) in _ENTRIES.items()},
}


def translate(lang: str, key: str, **values: Any) -> str:
    table = MESSAGES.get(lang, MESSAGES["zh-CN"])
    text = table.get(key)
    if text is None:
        text = key.split(".", 1)[1] if "." in key else key
    return text.format(**values) if values else text


__all__ = ["MESSAGES", "translate"]
