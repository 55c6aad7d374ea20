"""Which rule pack is in effect, and why: ``SHOPSENTINEL_RULES_FILE`` against versions saved in the web.

``SHOPSENTINEL_RULES_SOURCE`` (``Settings.rules_source``) decides:

- ``auto`` (default): the newest version saved in the web, else the file, else the built-in pack. A web
  version overriding a configured file is logged at WARNING and shown on the rules page and in the API.
- ``file``: the file (or the built-in pack when none is set) always; web and API editing is read-only.
- ``web``: the newest version saved in the web; until one is saved, the file or the built-in pack.

>>> rule_origin("auto", 3, "rules.yaml").source, rule_origin("file", 3, "rules.yaml").source
('web', 'file')
"""

from __future__ import annotations

from dataclasses import dataclass

# reason → (zh, en); the alert center shows the same sentences through web/i18n/config.py ("rules.origin.<reason>").
ORIGIN_TEXTS: dict[str, tuple[str, str]] = {
    "web_over_file": ("网页保存的版本 v{v} 覆盖了规则文件 {file}（rules_source=auto）；设置 SHOPSENTINEL_RULES_SOURCE=file 可让文件优先",
                      "Version v{v} saved in the web overrides the rule file {file} (rules_source=auto); set "
                      "SHOPSENTINEL_RULES_SOURCE=file to make the file win"),
    "web": ("网页保存的版本 v{v} 生效（rules_source={setting}）", "Version v{v} saved in the web is in effect (rules_source={setting})"),
    "file_unsaved": ("规则文件 {file} 生效：网页尚未保存过版本（rules_source={setting}）",
                     "The rule file {file} is in effect: no version has been saved in the web (rules_source={setting})"),
    "builtin_unsaved": ("内置规则包生效：未配置规则文件，网页尚未保存过版本（rules_source={setting}）",
                        "The built-in pack is in effect: no rule file is configured and no version has been saved in the "
                        "web (rules_source={setting})"),
    "file_locked": ("规则文件 {file} 生效（rules_source=file）：网页保存的版本不生效，网页与 API 编辑为只读",
                    "The rule file {file} is in effect (rules_source=file): versions saved in the web do not apply, "
                    "editing in the web and the API is read-only"),
    "builtin_locked": ("内置规则包生效（rules_source=file，未配置规则文件）：网页与 API 编辑为只读",
                       "The built-in pack is in effect (rules_source=file, no rule file configured): editing in the web "
                       "and the API is read-only"),
}


@dataclass(frozen=True)
class RuleOrigin:
    setting: str  # auto | file | web (Settings.rules_source)
    source: str  # what is in effect: web | file | builtin
    version: int  # the web version in effect (0 = none)
    file: str | None  # SHOPSENTINEL_RULES_FILE
    reason: str  # a key of ORIGIN_TEXTS

    @property
    def read_only(self) -> bool:
        return self.setting == "file"

    @property
    def params(self) -> dict[str, str | int]:
        return {"v": self.version, "file": self.file or "", "setting": self.setting}

    def text(self, lang: str = "zh") -> str:
        zh, en = ORIGIN_TEXTS[self.reason]
        return (en if lang == "en" else zh).format(**self.params)

    def public(self) -> dict[str, object]:
        return {"setting": self.setting, "source": self.source, "version": self.version, "file": self.file,
                "read_only": self.read_only, "reason": self.reason, "message": self.text("zh"), "message_en": self.text("en")}


def rule_origin(setting: str, saved_version: int, file: str | None) -> RuleOrigin:
    """Where the pack in effect comes from, given the setting, the newest saved version (0 = none) and the file."""
    if setting == "file":
        return RuleOrigin(setting, "file" if file else "builtin", 0, file, "file_locked" if file else "builtin_locked")
    if saved_version:
        reason = "web_over_file" if file and setting == "auto" else "web"
        return RuleOrigin(setting, "web", saved_version, file, reason)
    return RuleOrigin(setting, "file" if file else "builtin", 0, file, "file_unsaved" if file else "builtin_unsaved")
