"""The connector registry: state tables as data, YAML overrides, Config forms, source building."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import InputError, SourceError
from shopsentinel.core.types import ORDER_STATES
from shopsentinel.sources.base import Order, Review
from shopsentinel.sources.jd.connector import JdConnector
from shopsentinel.sources.registry import (
    CONNECTORS,
    apply_state_overrides,
    build_source,
    config_fields,
    entry,
    load_state_overrides,
    secret_fields,
    state_tables,
)
from shopsentinel.sources.taobao.client import TaobaoConfig

T = datetime(2026, 11, 1, tzinfo=UTC)


def test_every_platform_lists_order_state_tables_mapping_into_standard_states() -> None:
    tables = state_tables()
    assert set(tables) == {"taobao", "tmall", "jd", "pdd", "douyin", "amazon", "shopify", "kuaishou"}
    for platform, named in tables.items():
        assert named, platform
        order_tables = [t for name, t in named.items() if "REFUND" not in name and "AFTER" not in name]
        for table in order_tables:
            assert {s for s in table.values() if s is not None} <= set(ORDER_STATES), platform
    assert tables["taobao"]["TRADE_STATUS_TO_STATE"]["WAIT_BUYER_CONFIRM_GOODS"] == "在途"
    assert tables["pdd"]["ORDER_STATUS_TO_STATE"]["2"] == "在途"  # int keys listed as text


def test_yaml_override_changes_only_orders_with_that_native_status(tmp_path: Path) -> None:
    path = tmp_path / "states.yaml"
    path.write_text("jd:\n  LOCKED: 待发货\n", encoding="utf-8")
    overrides = load_state_overrides(path)
    locked = Order("1", T, "退款中", 1.0, native_status="LOCKED")
    other = Order("2", T, "退款中", 1.0, native_status="TRADE_CANCELED")
    review = Review("r", "1", T, 2)
    out = apply_state_overrides([locked, other, review], "jd", overrides)
    assert [getattr(e, "status", None) for e in out] == ["待发货", "退款中", None]
    assert apply_state_overrides([locked], "taobao", overrides) == [locked]


@pytest.mark.parametrize(
    ("text", "field"),
    [("jd:\n  LOCKED: 已发货\n", "jd.LOCKED"), ("ebay:\n  X: 在途\n", "ebay"), ("jd: [1, 2]\n", "jd")],
)
def test_invalid_override_file_is_rejected_naming_the_entry(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_state_overrides(path)
    assert caught.value.field == field and caught.value.file == str(path)


def test_config_forms_mark_secret_fields() -> None:
    fields = {f["name"]: f for f in config_fields("taobao")}
    assert fields["app_secret"]["secret"] and fields["access_token"]["secret"] and fields["refresh_token"]["secret"]
    assert not fields["app_key"]["secret"] and fields["app_key"]["required"]
    assert fields["page_size"]["default"] == 100
    assert secret_fields(entry("shopify").config_model) == ["access_token", "client_secret", "refresh_token", "webhook_secret"]
    assert all(e.config_model is not None for e in CONNECTORS.values())


def test_build_source_checks_the_config_type_and_platform() -> None:
    config = TaobaoConfig(store="s", app_key="k", app_secret=SecretStr("x"), access_token=SecretStr("t"),
                          base_url="http://127.0.0.1:9", start=T)
    with pytest.raises(TypeError):
        build_source("jd", config, clock=ManualClock(T))
    with pytest.raises(SourceError):
        build_source("ebay", config, clock=ManualClock(T))
    assert entry("jd").connector is JdConnector
