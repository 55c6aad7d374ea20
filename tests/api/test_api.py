"""Health, Prometheus text, OpenAPI, catalog, rule validation and versions."""

from __future__ import annotations

import re
from typing import Any

from shopsentinel.catalog import default_catalog


def test_health_metrics_and_docs(api: Any) -> None:
    anonymous = api.as_token("")
    assert anonymous.get("/healthz").json()["status"] == "ok"
    text = anonymous.get("/metrics").text
    for name in ("shopsentinel_points_ingested_total", "shopsentinel_store_evaluations_total",
                 'shopsentinel_alerts{state="firing"}', 'shopsentinel_evaluation_seconds_bucket{le="+Inf"}'):
        assert name in text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    label = r'[a-z_]+="[^"]*"'
    assert all(re.fullmatch(rf'[a-z_]+(\{{{label}(,{label})*\}})? [0-9.e+-]+', s) for s in samples), samples
    assert anonymous.get("/docs").status_code == 200
    paths = anonymous.get("/openapi.json").json()["paths"]
    assert {"/api/v1/points", "/api/v1/alerts", "/api/v1/alerts/{alert_id}/ack", "/api/v1/silences", "/api/v1/rules"} <= set(paths)


def test_catalog_lists_canonical_metrics(api: Any) -> None:
    items = api.get("/api/v1/catalog").json()["items"]
    assert {m["id"] for m in items} == {m.id for m in default_catalog()}
    assert "conversion_rate" in {m["id"] for m in items}


def test_rules_put_validates_and_versions(api: Any) -> None:
    current = api.get("/api/v1/rules").json()
    assert current["version"] == 0 and len(current["pack"]["rules"]) > 10
    rule: dict[str, Any] = {"id": "orders.burst", "name": {"zh": "订单激增", "en": "Order burst"}, "severity": "warning",
            "when": {"metric": "orders", "type": "change", "ratio": "lots", "direction": "up"}}
    r = api.put("/api/v1/rules", json={"rules": [rule]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "rules.0.when.ratio"
    dup = {**rule, "when": {**rule["when"], "ratio": 2.0}}
    r = api.put("/api/v1/rules", json={"rules": [dup, dup]})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "rules.1.id"
    r = api.put("/api/v1/rules", json={"rules": [dup]})
    assert r.status_code == 200 and r.json()["version"] == 1
    got = api.get("/api/v1/rules").json()
    assert got["version"] == 1 and [x["id"] for x in got["pack"]["rules"]] == ["orders.burst"]
    assert api.put("/api/v1/rules", json=got["pack"]).json()["version"] == 2  # what GET returns is valid PUT input
    history = api.get("/api/v1/rules/versions").json()
    assert [(v["version"], v["created_by"], v["rules"]) for v in history] == [(2, "admin", 1), (1, "admin", 1)]
