"""The Config of the generic HTTP/JSON source: how to call an arbitrary aggregator API and how to
read its JSON (R1.3). Every mistake is a pydantic error that names the field
(``streams.0.fields.amount``, ``auth.header`` …); see README.md for a complete example.

Shape (YAML or JSON)::

    store: agg-1
    base_url: https://api.example.com
    start: 2026-11-01T00:00:00Z
    app_secret: "…"                    # the bearer token, API key or HMAC key (encrypted at rest)
    auth: {type: hmac, key_id: k1}     # none | bearer | api_key | hmac
    requests_per_second: 5
    streams:
      - kind: orders                   # orders | refunds | reviews | stock | metrics
        path: /v1/orders
        records: data.list             # dotted path to the records array ("" = the body itself)
        pagination: {type: page, size: 50}
        incremental: {from_param: updated_from, to_param: updated_to, format: epoch_s, cursor: updated_at}
        time_format: "%Y-%m-%d %H:%M:%S"
        time_zone: Asia/Shanghai
        fields: {id: order_no, created_at: created, updated_at: modified, amount: {path: pay.fen, unit: fen_to_yuan},
                 state: status}
        state_map: {WAIT_PAY: 待付款, PAID: 待发货}
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shopsentinel.core.types import ORDER_STATES

Kind = Literal["orders", "refunds", "reviews", "stock", "metrics"]
Unit = Literal["fen_to_yuan", "cents_to_units", "percent_to_ratio", "ms_to_seconds"]
# "iso" (with Z or offset; naive values take time_zone), "epoch_s", "epoch_ms", or a strftime pattern.
TimeFormat = str

_STRICT = ConfigDict(frozen=True, extra="forbid")


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class FieldSpec(BaseModel):
    """Where one value comes from: a dotted ``path`` (``items[0].sku``) or a ``const``; then an
    optional ``unit`` conversion and ``scale``. A plain string is shorthand for ``{path: …}``."""

    model_config = _STRICT

    path: str | None = None
    const: str | float | int | None = None
    unit: Unit | None = None
    scale: float = 1.0
    optional: bool = False  # a missing value is None instead of a mapping error
    format: TimeFormat | None = None  # time fields: overrides the stream's time_format
    zone: str | None = None  # time fields: overrides the stream's time_zone

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if (self.path is None) == (self.const is None):
            raise ValueError("give exactly one of path or const")
        if self.zone is not None:
            _zone(self.zone)
        return self


# ---------------------------------------------------------------- auth


class NoAuth(BaseModel):
    model_config = _STRICT
    type: Literal["none"] = "none"


class BearerAuth(BaseModel):
    """``Authorization: Bearer <secret>``."""

    model_config = _STRICT
    type: Literal["bearer"]


class ApiKeyAuth(BaseModel):
    """The secret as a header (``X-API-Key: <secret>``) or a query parameter (``?api_key=<secret>``)."""

    model_config = _STRICT
    type: Literal["api_key"]
    name: str = "X-API-Key"
    location: Literal["header", "query"] = "header"


class HmacAuth(BaseModel):
    """HMAC-SHA256 (hex) with the secret over the canonical string
    ``METHOD\\nPATH\\nSORTED_QUERY\\nTIMESTAMP\\nSHA256_HEX(BODY)`` (see ``signing.py``)."""

    model_config = _STRICT
    type: Literal["hmac"]
    key_id: str = Field(description="sent in key_id_header so the server knows which secret to use")
    header: str = "X-Signature"
    key_id_header: str = "X-Key-Id"
    timestamp_header: str = "X-Timestamp"


Auth = Annotated[NoAuth | BearerAuth | ApiKeyAuth | HmacAuth, Field(discriminator="type")]


# ---------------------------------------------------------------- pagination


class NoPaging(BaseModel):
    model_config = _STRICT
    type: Literal["none"] = "none"


class PagePaging(BaseModel):
    """``?page=1&page_size=50``; the last page is the one shorter than ``size`` (or ``has_more`` false)."""

    model_config = _STRICT
    type: Literal["page"]
    page_param: str = "page"
    size_param: str = "page_size"
    size: int = Field(default=100, ge=1)
    first_page: int = 1
    has_more: str | None = Field(default=None, description="dotted path of a boolean 'more pages' flag")


class OffsetPaging(BaseModel):
    """``?offset=0&limit=50``; stops at a short page (or once ``total`` is reached)."""

    model_config = _STRICT
    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    size: int = Field(default=100, ge=1)
    total: str | None = Field(default=None, description="dotted path of the total record count")


class CursorPaging(BaseModel):
    """``?cursor=<token>`` with the token taken from ``next`` in each body; empty/missing ends."""

    model_config = _STRICT
    type: Literal["cursor"]
    cursor_param: str = "cursor"
    next: str = Field(default="next_cursor", description="dotted path of the next-page token")
    size_param: str | None = "limit"
    size: int = Field(default=100, ge=1)


class LinkPaging(BaseModel):
    """RFC 8288 ``Link: <…>; rel="next"`` headers (GitHub, Shopify REST style)."""

    model_config = _STRICT
    type: Literal["link"]
    size_param: str | None = "per_page"
    size: int = Field(default=100, ge=1)


Pagination = Annotated[NoPaging | PagePaging | OffsetPaging | CursorPaging | LinkPaging, Field(discriminator="type")]


class Incremental(BaseModel):
    """Ask only for records changed in ``[from, to]``: the window starts at the stored cursor
    less ``overlap_minutes`` (late changes are re-read, duplicates dropped by version)."""

    model_config = _STRICT
    from_param: str
    to_param: str | None = None
    format: TimeFormat = "iso"
    zone: str = "UTC"
    overlap_minutes: float = Field(default=10.0, ge=0)
    cursor: str | None = Field(
        default=None, description="the field (of `fields`) holding each record's change time; default per kind"
    )

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)


# ---------------------------------------------------------------- streams

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "orders": ("id", "created_at", "amount", "state"),
    "refunds": ("id", "order_id", "created_at", "amount"),
    "reviews": ("id", "order_id", "created_at", "stars"),
    "stock": ("sku", "at", "quantity"),
    "metrics": ("ts",),
}
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "orders": ("updated_at", "paid_at", "shipped_at", "last_tracking_at", "sku", "quantity"),
    "refunds": ("state",),
    "reviews": (),
    "stock": ("price",),
    "metrics": (),
}
TIME_FIELDS = frozenset({"created_at", "updated_at", "paid_at", "shipped_at", "last_tracking_at", "at", "ts"})
DEFAULT_CURSOR = {"orders": "updated_at", "refunds": "created_at", "reviews": "created_at", "stock": "at", "metrics": "ts"}
LINE_FIELDS = ("sku", "quantity", "amount")


class StreamConfig(BaseModel):
    """One endpoint and how its records become entities (or, for ``metrics``, canonical points)."""

    model_config = _STRICT

    kind: Kind
    name: str | None = Field(default=None, description="metrics streams only; entity streams are named by kind")
    path: str = Field(description="endpoint path, relative to base_url")
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str] = Field(default_factory=dict, description="constant query parameters")
    body: dict[str, Any] | None = Field(default=None, description="POST: constant JSON body (paging goes in the query)")
    records: str = Field(default="", description="dotted path to the records array; '' = the body")
    pagination: Pagination = Field(default_factory=NoPaging)
    incremental: Incremental | None = None
    time_format: TimeFormat = "iso"
    time_zone: str = "UTC"
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    metrics: dict[str, FieldSpec] = Field(default_factory=dict, description="metrics: canonical metric → value")
    hours: int = Field(default=1, ge=1, le=24, description="metrics: hours each row covers (24 = daily rows)")
    lines: str | None = Field(default=None, description="orders: dotted path of the order-lines array in a record")
    line_fields: dict[str, FieldSpec] = Field(default_factory=dict, description="orders: sku, quantity, amount")
    state_map: dict[str, str] = Field(default_factory=dict, description="orders/refunds: native state → standard")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)

    @property
    def stream_name(self) -> str:
        return self.name or self.kind

    @field_validator("state_map")
    @classmethod
    def _standard_states(cls, value: dict[str, str]) -> dict[str, str]:
        for native, state in value.items():
            if state not in ORDER_STATES:
                raise ValueError(f"state_map[{native!r}]: {state!r} is not a standard state ({' '.join(ORDER_STATES)})")
        return value

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> StreamConfig:
        where = f"{self.kind} stream {self.path!r}"
        missing = [f for f in REQUIRED_FIELDS[self.kind] if f not in self.fields]
        if missing:
            raise ValueError(f"{where}: fields.{missing[0]} is required")
        allowed = set(REQUIRED_FIELDS[self.kind]) | set(OPTIONAL_FIELDS[self.kind])
        unknown = sorted(set(self.fields) - allowed)
        if unknown:
            raise ValueError(f"{where}: fields.{unknown[0]} is not a {self.kind} field (known: {', '.join(sorted(allowed))})")
        if self.kind == "metrics" and not self.metrics:
            raise ValueError(f"{where}: metrics needs at least one 'metric: path'")
        if self.kind != "metrics" and (self.metrics or self.name):
            raise ValueError(f"{where}: 'metrics' and 'name' are for metrics streams")
        if self.kind == "orders" and not self.state_map:
            raise ValueError(f"{where}: state_map is required (native state → {'/'.join(ORDER_STATES)})")
        bad_line = sorted(set(self.line_fields) - set(LINE_FIELDS))
        if bad_line:
            raise ValueError(f"{where}: line_fields.{bad_line[0]} is not a line field ({', '.join(LINE_FIELDS)})")
        if self.lines and not {"sku", "quantity"} <= set(self.line_fields):
            raise ValueError(f"{where}: line_fields.sku and line_fields.quantity are required with lines")
        cursor = self.cursor_field()
        if cursor is not None and (cursor not in self.fields or cursor not in TIME_FIELDS):
            raise ValueError(f"{where}: incremental.cursor {cursor!r} must be one of its mapped time fields")
        return self

    def cursor_field(self) -> str | None:
        """The field holding each record's change time (orders without updated_at: created_at)."""
        if self.incremental is None:
            return None
        if self.incremental.cursor:
            return self.incremental.cursor
        default = DEFAULT_CURSOR[self.kind]
        return "created_at" if self.kind == "orders" and default not in self.fields else default


class GenericConfig(BaseModel):
    """One store read from an arbitrary HTTP/JSON API; ``app_secret`` is encrypted at rest, never logged.

    ``app_secret`` is named like the marketplaces' (and aggregators' such as 聚水潭/旺店通) app secret;
    it is whatever the chosen auth needs: the bearer token, the API key or the HMAC signing key."""

    model_config = _STRICT

    store: str = Field(description="ShopSentinel store id this connection feeds")
    base_url: str = Field(description="API root, e.g. https://api.example.com")
    start: datetime = Field(description="where the first sync begins (timezone-aware)")
    app_secret: SecretStr | None = Field(default=None, description="bearer token, API key or HMAC signing key")
    auth: Auth = Field(default_factory=NoAuth)
    headers: dict[str, str] = Field(default_factory=dict, description="constant extra headers (no secrets)")
    streams: list[StreamConfig] = Field(min_length=1)
    requests_per_second: float | None = Field(default=None, gt=0, description="client-side pacing")
    max_retries: int = Field(default=5, ge=0, le=20, description="resends on 429/5xx/dropped connections")
    backoff_seconds: float = Field(default=1.0, ge=0, description="first backoff on 5xx and drops (doubles)")
    max_retry_after_seconds: float = Field(default=300.0, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _structured_text(cls, data: Any) -> Any:
        """A credentials form sends text: ``auth``, ``streams`` and ``headers`` may be YAML/JSON strings."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name in ("auth", "streams", "headers"):
            if isinstance(out.get(name), str):
                try:
                    out[name] = yaml.safe_load(out[name])
                except yaml.YAMLError as exc:
                    mark = getattr(exc, "problem_mark", None)
                    where = f" (line {mark.line + 1})" if mark is not None else ""
                    raise ValueError(f"{name}: not valid YAML/JSON{where}") from None
        return out

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start needs a time zone (Z or an offset)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GenericConfig:
        if self.auth.type != "none" and self.app_secret is None:
            raise ValueError(f"auth {self.auth.type} needs 'app_secret'")
        names = [s.stream_name for s in self.streams]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(f"streams: two streams named {duplicate!r} (give metrics streams a distinct name)")
        return self
