"""The message catalog is complete in both languages and covers every key the pages use."""

from __future__ import annotations

import re
from pathlib import Path

from shopsentinel.web.charts import Line, bar_chart, line_chart
from shopsentinel.web.core import seller_backend
from shopsentinel.web.i18n import MESSAGES, translate

TEMPLATES = Path(__file__).resolve().parents[2] / "shopsentinel" / "web" / "templates"
DYNAMIC = ("sev.", "state.", "platform.", "role.", "kind.", "light.", "what.", "event.", "verdict.", "matcher.",
           "event_kind.", "duty.", "level.", "login.", "error.", "same.", "category.", "cfg.", "channel.", "medium.")


def test_every_zh_key_has_an_english_text_and_back() -> None:
    assert set(MESSAGES["zh-CN"]) == set(MESSAGES["en"])
    for key, zh in MESSAGES["zh-CN"].items():
        en = MESSAGES["en"][key]
        assert bool(zh) == bool(en), key
        assert re.findall(r"\{(\w+)\}", zh) == re.findall(r"\{(\w+)\}", en) or sorted(re.findall(r"\{(\w+)\}", zh)) == sorted(
            re.findall(r"\{(\w+)\}", en)), key


def test_every_key_the_templates_use_is_in_the_catalog() -> None:
    used = {key for path in TEMPLATES.glob("*.html") for key in re.findall(r"\bt\('([a-z_.]+)'", path.read_text("utf-8"))}
    assert len(used) > 150
    missing = sorted(k for k in used if k not in MESSAGES["zh-CN"] and not k.endswith(".") and not k.startswith(DYNAMIC))
    assert missing == []
    prefixes = {k for k in used if k.endswith(".")}
    assert prefixes <= set(DYNAMIC), prefixes - set(DYNAMIC)


def test_chinese_is_the_default_and_unknown_names_read_as_themselves() -> None:
    assert translate("fr", "nav.rules") == "规则"
    assert translate("en", "overview.lag", h="1.5") == "1.5 h behind"
    assert translate("zh-CN", "platform.temu") == "temu"
    for severity, zh in (("fatal", "致命"), ("critical", "严重"), ("warning", "警告"), ("info", "提示")):
        assert translate("zh-CN", f"sev.{severity}") == zh


def test_seller_backends_per_platform() -> None:
    assert seller_backend("tmall", "s") == seller_backend("taobao", "s") == "https://myseller.taobao.com"
    assert seller_backend("pdd", "x") == "https://mms.pinduoduo.com"
    assert seller_backend("shopify", "acme shop") == "https://acme%20shop.myshopify.com/admin"
    assert seller_backend("temu", "x") is None


def test_line_chart_breaks_at_gaps_and_marks_band_and_window() -> None:
    svg = line_chart([Line("value", [1.0, 2.0, None, 4.0, 5.0], "value")], lower=[0.5, 1.5, None, 3.5, 4.5],
                     upper=[1.5, 2.5, None, 4.5, 5.5], window=(3, 4), chart_id="c")
    path = re.search(r' d="([^"]+)"', svg)
    assert path is not None and path.group(1).count("M") == 2 and path.group(1).count("L") == 2
    assert svg.count('class="band"') == 2 and 'class="window"' in svg
    assert "<script" not in line_chart([Line("v", [1.0, 2.0], "value", "<script>")])
    assert 'class="chart empty"' in line_chart([Line("v", [None, None], "value")])


def test_bar_chart_stacks_or_groups() -> None:
    stacked = bar_chart(["a", "b"], [("critical", [1.0, 0.0]), ("warning", [2.0, 3.0])])
    assert stacked.count("<rect") == 3
    grouped = bar_chart(["a"], [("current", [1.0]), ("edited", [4.0])], grouped=True)
    heights = [float(h) for h in re.findall(r'height="([\d.]+)"', grouped)]
    assert heights[1] == 4 * heights[0]


def test_screenshots_exist_for_every_page() -> None:
    shots = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    names = {p.stem for p in shots.glob("*.png")}
    assert {"overview", "alerts", "alert-detail", "rules", "silences", "overview-en", "alert-detail-phone"} <= names


def test_the_rule_editor_shows_the_pack_without_defaults_and_reads_it_back() -> None:
    import yaml

    from shopsentinel.detect.rules import default_rules, parse_rules
    from shopsentinel.web.pages_rules import pack_yaml

    pack = default_rules()
    text = pack_yaml(pack)
    assert parse_rules(text) == pack
    full = yaml.safe_dump(pack.model_dump(mode="json", by_alias=True, exclude_none=True), allow_unicode=True)
    assert len(text) < len(full) / 2 and "weekly_check" not in text and "访客数较前一日同时段下跌超50%" in text
