"""The one registry of platform connectors: :data:`CONNECTORS`, a dict literal mapping each platform
(exactly :data:`shopsentinel.core.types.PLATFORMS`) to its connector class (a
:class:`~shopsentinel.sources.base.Source`), its pydantic Config, its order-state tables and an
example Config (what the credentials form shows and the contract suite builds the connector from).

Entries are plain imports (no import paths built from strings, nothing registers itself on import).
Each entry also says how far back the platform's history reaches (``history_days``): a store
connected without a start backfills that far (:func:`history_start`).
The Config model is what a credentials form is generated from (:func:`config_fields`); secret
fields are ``SecretStr``.

The order-state tables live next to each connector's mapping (``sources/<platform>/mapping.py``);
:func:`state_tables` lists them all, and a YAML file can override the standard state of any
native status string a connector reports in ``Order.native_status``::

    # order_states.yaml — native status (as in Order.native_status) → standard state (R1.5)
    taobao:
      WAIT_BUYER_CONFIRM_GOODS: 在途
    jd:
      LOCKED: 待发货

>>> sorted(CONNECTORS) == sorted(PLATFORMS)
True
>>> state_tables()["jd"]["ORDER_STATE_TO_STATE"]["FINISHED_L"]
'已完成'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, SecretStr

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import InputError, SourceError
from shopsentinel.core.types import ORDER_STATES, PLATFORMS
from shopsentinel.sources.amazon import mapping as amazon_mapping
from shopsentinel.sources.amazon.connector import AmazonConfig, AmazonSource
from shopsentinel.sources.base import Entity, Order, Source, StreamPage
from shopsentinel.sources.douyin import mapping as douyin_mapping
from shopsentinel.sources.douyin.connector import DouyinConfig, DouyinSource
from shopsentinel.sources.generic import GenericConfig, GenericSource
from shopsentinel.sources.jd import mapping as jd_mapping
from shopsentinel.sources.jd.connector import JdConfig, JdConnector
from shopsentinel.sources.kit import Sleep, Tokens, wall_sleep
from shopsentinel.sources.kuaishou import mapping as kuaishou_mapping
from shopsentinel.sources.kuaishou.connector import KuaishouConfig, KuaishouSource
from shopsentinel.sources.pdd import mapping as pdd_mapping
from shopsentinel.sources.pdd.connector import PddConfig, PddConnector
from shopsentinel.sources.shopify import mapping as shopify_mapping
from shopsentinel.sources.shopify.connector import ShopifyConfig, ShopifySource
from shopsentinel.sources.taobao import mapping as taobao_mapping
from shopsentinel.sources.taobao.connector import TaobaoConfig, TaobaoConnector, TmallConnector

StateTable = Mapping[Any, str | None]
TokenCallback = Callable[[Tokens], None]


# stream name → entity family (see sources.hourly.FAMILY_COUNTS); traffic streams are absent.
STREAM_FAMILIES: dict[str, str] = {
    "orders": "orders",
    "refunds": "refunds",
    "reviews": "reviews",
    "stock": "stock",
    "inventory": "stock",
}


@dataclass(frozen=True)
class PlatformEntry:
    """One platform: ``connector(config_model(...), clock=..., sleep=...)`` is its Source."""

    connector: type[Source]
    config_model: type[BaseModel]
    example: Mapping[str, Any]  # a valid Config (placeholder credentials, no network needed to build)
    state_tables: Mapping[str, StateTable] = field(default_factory=dict)
    # router connectors rotate refresh tokens and hand new ones to ``on_tokens`` (persist them!)
    rotates_tokens: bool = False
    # the generic source: each store's own Config carries its state map, so the entry has no tables
    states_in_config: bool = False
    # how far back the platform's order/refund/review APIs reach (days): a new store's first sync
    # starts here (history on connect), and an older start would only read as false zeros
    history_days: int = 90

    @property
    def platform(self) -> str:
        return self.connector.platform


_START = "2026-01-01T00:00:00+00:00"
_ROUTER_EXAMPLE = {"store": "example", "app_key": "app-key", "app_secret": "app-secret", "access_token": "token",
                   "refresh_token": "refresh", "start": _START}
_TAOBAO_TABLES = {
    "TRADE_STATUS_TO_STATE": taobao_mapping.TRADE_STATUS_TO_STATE,
    "REFUND_STATUS_TO_STATE": taobao_mapping.REFUND_STATUS_TO_STATE,
}

CONNECTORS: dict[str, PlatformEntry] = {
    "taobao": PlatformEntry(TaobaoConnector, TaobaoConfig, _ROUTER_EXAMPLE | {"base_url": "https://gw.api.taobao.com/router/rest"},
                            _TAOBAO_TABLES, rotates_tokens=True),
    "tmall": PlatformEntry(TmallConnector, TaobaoConfig, _ROUTER_EXAMPLE | {"base_url": "https://gw.api.taobao.com/router/rest"},
                           _TAOBAO_TABLES, rotates_tokens=True),
    "jd": PlatformEntry(JdConnector, JdConfig, _ROUTER_EXAMPLE | {"base_url": "https://api.jd.com/routerjson"},
                        {"ORDER_STATE_TO_STATE": jd_mapping.ORDER_STATE_TO_STATE}, rotates_tokens=True),
    "pdd": PlatformEntry(PddConnector, PddConfig, _ROUTER_EXAMPLE | {"base_url": "https://gw-api.pinduoduo.com/api/router"}, {
        "ORDER_STATUS_TO_STATE": pdd_mapping.ORDER_STATUS_TO_STATE,
        "REFUND_STATUS_TO_STATE": pdd_mapping.REFUND_STATUS_TO_STATE,
        "AFTER_SALES_STATUS_TO_STATE": pdd_mapping.AFTER_SALES_STATUS_TO_STATE,
    }, rotates_tokens=True),
    "douyin": PlatformEntry(DouyinSource, DouyinConfig, {
        "store": "example", "app_key": "app-key", "app_secret": "app-secret", "shop_id": "4463798", "start": _START,
    }, {
        "ORDER_STATUS": douyin_mapping.ORDER_STATUS,
        "REFUND_STATUS": douyin_mapping.REFUND_STATUS,
        "AFTERSALE_REFUND_STATE": douyin_mapping.AFTERSALE_REFUND_STATE,
    }),
    "kuaishou": PlatformEntry(KuaishouSource, KuaishouConfig, {  # 快手小店
        "store": "example", "app_key": "app-key", "app_secret": "app-secret", "sign_secret": "sign-secret",
        "refresh_token": "refresh", "start": _START,
    }, {
        "ORDER_STATUS": kuaishou_mapping.ORDER_STATUS,
        "REFUND_STATUS": kuaishou_mapping.REFUND_STATUS,
    }, rotates_tokens=True),
    "amazon": PlatformEntry(AmazonSource, AmazonConfig, {
        "store": "example", "client_id": "amzn1.application-oa2-client.example", "client_secret": "client-secret",
        "refresh_token": "Atzr|refresh", "start": _START,
    }, {"ORDER_STATUS": amazon_mapping.ORDER_STATUS}, history_days=730),  # Orders API: the last two years
    "shopify": PlatformEntry(ShopifySource, ShopifyConfig, {
        "store": "example", "shop_url": "https://example.myshopify.com", "access_token": "shpat_example", "start": _START,
    }, {
        "FINANCIAL_STATUS": shopify_mapping.FINANCIAL_STATUS,
        "FULFILLMENT_STATUS": shopify_mapping.FULFILLMENT_STATUS,
    }, history_days=60),  # orders older than 60 days need the read_all_orders scope
    # any HTTP/JSON aggregator (R1.3): its state map is part of each store's own config
    "generic": PlatformEntry(GenericSource, GenericConfig, {
        "store": "example", "base_url": "https://api.example.com", "start": _START, "app_secret": "api-key",
        "auth": {"type": "bearer"},
        "streams": [{"kind": "orders", "path": "/v1/orders", "records": "data",
                     "fields": {"id": "id", "created_at": "created", "amount": "amount", "state": "status"},
                     "state_map": {"PAID": "待发货"}}],
    }, states_in_config=True),
}  # fmt: skip


def entry(platform: str) -> PlatformEntry:
    if platform not in CONNECTORS:
        raise SourceError(f"unknown platform {platform!r}; known: {', '.join(sorted(CONNECTORS))}")
    return CONNECTORS[platform]


def history_start(platform: str, now: datetime) -> datetime:
    """Where a new store's first sync starts: as far back as the platform allows (TOP, JD, Douyin,
    PDD, Kuaishou about 3 months; Amazon two years; Shopify 60 days), at a whole UTC hour."""
    moment = now.astimezone(UTC) - timedelta(days=entry(platform).history_days)
    return moment.replace(minute=0, second=0, microsecond=0)


def earliest_start(platform: str, start: datetime, now: datetime) -> datetime:
    """``start``, moved up to :func:`history_start` if it lies before what the platform keeps."""
    return max(start.astimezone(UTC), history_start(platform, now))


def build_source(
    platform: str, config: BaseModel, *, clock: Clock, sleep: Sleep = wall_sleep, on_tokens: TokenCallback | None = None
) -> Source:
    """A connector for ``config`` (which must be that platform's Config model).

    ``on_tokens`` receives rotated tokens of the platforms that rotate them (TOP, JOS, PDD, Kuaishou)."""
    found = entry(platform)
    if not isinstance(config, found.config_model):
        raise TypeError(f"{platform} needs a {found.config_model.__name__}, got {type(config).__name__}")
    if found.rotates_tokens and on_tokens is not None:
        rotating: Callable[..., Source] = found.connector
        return rotating(config, clock=clock, sleep=sleep, on_tokens=on_tokens)
    factory: Callable[..., Source] = found.connector
    return factory(config, clock=clock, sleep=sleep)


def secret_fields(model: type[BaseModel]) -> list[str]:
    """Names of the Config fields that hold secrets (``SecretStr`` or ``SecretStr | None``)."""
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        if annotation is SecretStr or SecretStr in args:
            out.append(name)
    return out


def config_fields(platform: str) -> list[dict[str, Any]]:
    """A credentials-form description: name, type, required, secret, description, default."""
    model = entry(platform).config_model
    secrets = set(secret_fields(model))
    return [
        {
            "name": name,
            "type": getattr(info.annotation, "__name__", str(info.annotation)),
            "required": info.is_required(),
            "secret": name in secrets,
            "description": info.description or "",
            "default": None if info.is_required() or name in secrets else _form_default(
                info.get_default(call_default_factory=True)),
        }
        for name, info in model.model_fields.items()
    ]


def _form_default(value: Any) -> Any:
    """Scalars as they are; structured defaults (the generic source's auth, headers…) as JSON text."""
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), ensure_ascii=False)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


# ---------------------------------------------------------------- order states


def state_tables() -> dict[str, dict[str, dict[str, str | None]]]:
    """Every platform's native → standard state tables, as plain data (keys as strings); the
    generic source is absent: its state map is part of each store's own config."""
    return {
        name: {table: {str(k): v for k, v in values.items()} for table, values in found.state_tables.items()}
        for name, found in CONNECTORS.items()
        if found.state_tables
    }


StateOverrides = dict[str, dict[str, str]]


def load_state_overrides(path: Path | str) -> StateOverrides:
    """Read a YAML ``{platform: {native_status: standard_state}}`` file, validated."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read order-state overrides: {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping of platform → {native status: state}", file=str(path))
    out: StateOverrides = {}
    for platform, table in data.items():
        if platform not in CONNECTORS:
            raise InputError(f"unknown platform {platform!r}", file=str(path), field=str(platform))
        if not isinstance(table, dict):
            raise InputError("expected a mapping of native status → state", file=str(path), field=str(platform))
        for native, state in table.items():
            if state not in ORDER_STATES:
                raise InputError(
                    f"{state!r} is not a standard state ({' '.join(ORDER_STATES)})", file=str(path), field=f"{platform}.{native}"
                )
        out[str(platform)] = {str(k): str(v) for k, v in table.items()}
    return out


def apply_state_overrides(entities: Iterable[Entity], platform: str, overrides: StateOverrides) -> list[Entity]:
    """Entities with ``Order.status`` replaced where the YAML names the order's native status."""
    table = overrides.get(platform, {})
    return [
        replace(e, status=table[e.native_status]) if isinstance(e, Order) and e.native_status in table else e
        for e in entities
    ]


def override_page(page: StreamPage, platform: str, overrides: StateOverrides) -> StreamPage:
    if overrides.get(platform):
        page.entities = apply_state_overrides(page.entities, platform, overrides)
    return page


# ---------------------------------------------------------------- stored configs


class Sealer(Protocol):
    def seal_fields(self, values: Mapping[str, Any], secret_names: Any) -> dict[str, Any]: ...

    def open_fields(self, values: Mapping[str, Any], secret_names: Any) -> dict[str, Any]: ...


def seal_config(platform: str, config: BaseModel, box: Sealer) -> dict[str, Any]:
    """The Config as JSON-ready data with every secret field encrypted (never ``**********``)."""
    model = entry(platform).config_model
    names = secret_fields(model)
    data = config.model_dump(mode="json")
    for name in names:
        value = getattr(config, name)
        data[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return box.seal_fields(data, names)


def open_config(platform: str, stored: Mapping[str, Any], box: Sealer) -> BaseModel:
    model = entry(platform).config_model
    return model(**box.open_fields(stored, secret_fields(model)))


__all__ = [
    "CONNECTORS",
    "PLATFORMS",
    "STREAM_FAMILIES",
    "PlatformEntry",
    "StateOverrides",
    "apply_state_overrides",
    "build_source",
    "config_fields",
    "earliest_start",
    "entry",
    "history_start",
    "load_state_overrides",
    "open_config",
    "override_page",
    "seal_config",
    "secret_fields",
    "state_tables",
]
