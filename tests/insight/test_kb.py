"""Knowledge base: resolving records cause, fix and tags; similar alerts rank by shared traits and
carry their fixes; search matches Chinese (bigrams) and English."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shopsentinel.insight.kb import similar_alerts, terms
from tests.insight.conftest import START, add_alert

DAY = timedelta(days=1)


def test_terms_use_chinese_bigrams_and_words() -> None:
    assert terms("库存断货 Stock-Out") == {"库存", "存断", "断货", "stock", "out"}
    assert terms("货") == {"货"}


def test_resolve_records_knowledge_and_similar_alerts_rank_it(api: Any) -> None:
    add_alert(api, alert_id="old-1", rule="stock.cover_red", metric="stock_cover_days", sku="SKU-1", category="stock",
              start=START, value=1.0, expected=5.0)
    add_alert(api, alert_id="old-2", rule="gmv.drop", metric="gmv", start=START + DAY)
    add_alert(api, alert_id="old-3", rule="stock.cover_red", metric="stock_cover_days", sku="SKU-9", category="stock",
              store="jd-9", platform="jd", start=START + DAY)
    add_alert(api, alert_id="old-4", rule="stock.cover_yellow", metric="stock_cover_days", sku="SKU-1", category="stock",
              start=START + 2 * DAY, value=4.0, expected=8.0)
    r = api.post("/api/v1/alerts/old-1/resolve", json={"note": "补货到仓", "cause": "供应商延迟发货，安全库存设置过低",
                                                         "fix": "紧急调拨 500 件并把安全库存调到 7 天", "tags": ["补货", "supplier"]})
    assert r.status_code == 200, r.text
    assert api.post("/api/v1/alerts/old-2/resolve", json={"note": "plain resolve"}).status_code == 200  # no KB entry
    add_alert(api, alert_id="new", rule="stock.cover_red", metric="stock_cover_days", sku="SKU-1", category="stock",
              start=START + 5 * DAY, value=0.8, expected=6.0)
    with api.service.sessions() as session:
        ranked = similar_alerts(session, "new", limit=5)
    assert [s.alert_id for s in ranked][:3] == ["old-1", "old-4", "old-3"]
    assert ranked[0].fix.startswith("紧急调拨") and ranked[0].tags == ["supplier", "补货"]
    assert {"rule", "metric", "sku", "store", "pattern", "fix"} <= set(ranked[0].reasons)
    assert "old-2" not in [s.alert_id for s in ranked]  # different rule and metric
    body = api.get("/api/v1/alerts/new/similar", params={"limit": 2}).json()["items"]
    assert [s["alert_id"] for s in body] == ["old-1", "old-4"] and body[0]["cause"].startswith("供应商")
    assert api.get("/api/v1/alerts/none/similar").status_code == 404


def test_search_matches_chinese_and_english(api: Any) -> None:
    for n, (cause, fix) in enumerate([("供应商延迟发货", "紧急调拨库存"), ("改价错误，少输一个零", "通过接口恢复原价"),
                                      ("Payment gateway outage", "switched to the backup gateway")]):
        add_alert(api, alert_id=f"a{n}", rule="r", metric="gmv", start=START + n * DAY)
        assert api.post(f"/api/v1/alerts/a{n}/resolve", json={"cause": cause, "fix": fix}).status_code == 200
    zh = api.get("/api/v1/kb", params={"q": "恢复原价"}).json()["items"]
    assert [h["alert_id"] for h in zh] == ["a1"]
    en = api.get("/api/v1/kb", params={"q": "gateway"}).json()["items"]
    assert [h["alert_id"] for h in en] == ["a2"]
    assert api.get("/api/v1/kb", params={"q": "调拨"}).json()["items"][0]["fix"] == "紧急调拨库存"
    assert api.get("/api/v1/kb", params={"q": "无关词语"}).json()["items"] == []
