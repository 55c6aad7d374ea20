"""Declarative mapping: JSON records → entities (or canonical metric points), by dotted paths.

Paths are a small JSONPath subset: ``data.list``, ``items[0].sku``, ``stats.visitors``; ``""``
(or ``$``) is the value itself. A value that is missing or has the wrong type raises
:class:`MappingError` naming the stream, the record's index on its page and the path, so a
store owner can fix the config without reading code.

>>> lookup({"items": [{"sku": "A-1"}]}, "items[0].sku")
'A-1'
>>> convert(1234, FieldSpec(path="x", unit="fen_to_yuan"))
12.34
>>> parse_time("2026-11-01 10:00:00", "%Y-%m-%d %H:%M:%S", "Asia/Shanghai").isoformat()
'2026-11-01T02:00:00+00:00'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from shopsentinel.core.errors import SourceError
from shopsentinel.sources.base import Order, OrderLine, Refund, Review, StockSnapshot
from shopsentinel.sources.generic.config import TIME_FIELDS, FieldSpec, StreamConfig
from shopsentinel.sources.kit import Keyed, TrafficPoint, iso_z

_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)$")
_INDEX = re.compile(r"\[(\d+)\]")
_MISSING = object()
UNIT_FACTORS = {"fen_to_yuan": 0.01, "cents_to_units": 0.01, "percent_to_ratio": 0.01, "ms_to_seconds": 0.001}


class MappingError(SourceError):
    """A record does not fit the configured mapping; names the record and the path."""

    def __init__(self, stream: str, index: int | None, path: str, reason: str, *, page: int | None = None) -> None:
        where = f"record {index}" if index is not None else "response"
        if page is not None:
            where = f"page {page}, {where}"
        super().__init__(f"generic {stream}: {where}: path {path!r}: {reason}")
        self.stream, self.index, self.path, self.reason, self.page = stream, index, path, reason, page


@lru_cache(maxsize=512)
def parse_path(path: str) -> tuple[str | int, ...]:
    """``"items[0].sku"`` → ``("items", 0, "sku")``; raises ValueError on malformed paths."""
    text = path.strip()
    if text in ("", "$"):
        return ()
    if text.startswith("$."):
        text = text[2:]
    steps: list[str | int] = []
    for segment in text.split("."):
        match = _SEGMENT.match(segment)
        if match is None or (not match.group(1) and not match.group(2)):
            raise ValueError(f"malformed path {path!r} at {segment!r}")
        if match.group(1):
            steps.append(match.group(1))
        steps.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return tuple(steps)


def lookup(value: Any, path: str, default: Any = _MISSING) -> Any:
    """The value at ``path``; ``KeyError`` naming the first step that is absent (unless ``default``)."""
    current = value
    for step in parse_path(path):
        if isinstance(step, int):
            ok = isinstance(current, list) and -len(current) <= step < len(current)
        else:
            ok = isinstance(current, dict) and step in current
        if not ok:
            if default is not _MISSING:
                return default
            raise KeyError(f"[{step}]" if isinstance(step, int) else step)
        current = current[step]
    return current


def convert(raw: Any, spec: FieldSpec) -> float:
    """A number from a JSON value (numbers or numeric strings), unit-converted and scaled."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"{raw!r} is not a number")
    number = float(raw)  # ValueError on non-numeric strings
    factor = UNIT_FACTORS[spec.unit] if spec.unit else 1.0
    return round(number * factor * spec.scale, 10)


def parse_time(raw: Any, fmt: str, zone: str) -> datetime:
    """``iso`` (naive values are in ``zone``), ``epoch_s``, ``epoch_ms`` or a strftime pattern."""
    if fmt in ("epoch_s", "epoch_ms"):
        if isinstance(raw, bool) or raw in (None, ""):
            raise ValueError(f"{raw!r} is not an epoch time")
        seconds = float(raw) / (1000 if fmt == "epoch_ms" else 1)
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a time string")
    text = raw.strip()
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00")) if fmt == "iso" else datetime.strptime(text, fmt)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(UTC)


def format_time(moment: datetime, fmt: str, zone: str) -> str:
    """How a window bound is sent as a query parameter (the inverse of :func:`parse_time`)."""
    if fmt == "epoch_s":
        return str(int(moment.timestamp()))
    if fmt == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    if fmt == "iso":
        return iso_z(moment)
    return moment.astimezone(ZoneInfo(zone)).strftime(fmt)


class RecordMapper:
    """Turns one stream's records into :class:`Keyed` items for :func:`read_incremental`."""

    def __init__(self, stream: StreamConfig) -> None:
        self.stream = stream
        self.name = stream.stream_name
        self.cursor_field = stream.cursor_field()

    def records(self, body: Any, page: int | None = None) -> list[Any]:
        """The records array of one response body."""
        try:
            found = lookup(body, self.stream.records)
        except KeyError as exc:
            raise MappingError(self.name, None, self.stream.records, f"records not found (missing {exc})",
                               page=page) from None
        if found is None:
            return []
        if not isinstance(found, list):
            raise MappingError(self.name, None, self.stream.records,
                               f"records: expected an array, got {type(found).__name__}", page=page)
        return found

    def keyed(self, records: list[Any], page: int | None = None) -> list[Keyed]:
        """Every record of one page as keyed items; errors name the page and the record's index on it."""
        out: list[Keyed] = []
        for index, record in enumerate(records):
            try:
                out.extend(self._one(record, index))
            except MappingError as exc:
                if page is None:
                    raise
                raise MappingError(exc.stream, exc.index, exc.path, exc.reason, page=page) from None
        return out

    # ------------------------------------------------------------ values

    def _raw(self, record: Any, name: str, spec: FieldSpec, index: int, where: str = "fields") -> Any:
        if spec.const is not None:
            return spec.const
        path = spec.path or ""
        try:
            value = lookup(record, path)
        except KeyError as exc:
            if spec.optional:
                return None
            raise MappingError(self.name, index, path, f"not found (missing {exc}) for {where}.{name}") from None
        if value is None and not spec.optional:
            raise MappingError(self.name, index, path, f"is null for {where}.{name} (mark it optional?)")
        return value

    def _value(self, record: Any, name: str, index: int, *, specs: dict[str, FieldSpec] | None = None,
               where: str = "fields") -> Any:
        """A field's value: None when an optional field is absent, a time for time fields, else raw."""
        table = self.stream.fields if specs is None else specs
        spec = table.get(name)
        if spec is None:
            return None
        raw = self._raw(record, name, spec, index, where)
        if raw is None or (raw in ("", 0, "0") and name in TIME_FIELDS and spec.optional):
            return None
        if name in TIME_FIELDS:
            try:
                return parse_time(raw, spec.format or self.stream.time_format, spec.zone or self.stream.time_zone)
            except (ValueError, TypeError, OverflowError) as exc:
                raise MappingError(self.name, index, spec.path or "const", f"{where}.{name}: bad time {raw!r}: {exc}") from None
        return raw

    def _number(self, record: Any, name: str, index: int, *, specs: dict[str, FieldSpec] | None = None,
                where: str = "fields") -> float | None:
        table = self.stream.fields if specs is None else specs
        raw = self._value(record, name, index, specs=specs, where=where)
        if raw is None:
            return None
        try:
            return convert(raw, table[name])
        except (ValueError, TypeError) as exc:
            raise MappingError(self.name, index, table[name].path or "const", f"{where}.{name}: {exc}") from None

    def _text(self, record: Any, name: str, index: int) -> str:
        raw = self._value(record, name, index)
        return "" if raw is None else str(raw)

    def _time(self, record: Any, name: str, index: int) -> datetime:
        moment = self._value(record, name, index)
        if not isinstance(moment, datetime):
            raise MappingError(self.name, index, self.stream.fields[name].path or "const", f"fields.{name} is required")
        return moment

    def _state(self, record: Any, index: int) -> tuple[str, str]:
        native = self._text(record, "state", index)
        if native not in self.stream.state_map:
            path = self.stream.fields["state"].path or "const"
            raise MappingError(self.name, index, path, f"state {native!r} is not in state_map")
        return self.stream.state_map[native], native

    # ------------------------------------------------------------ kinds

    def _keyed(self, key: str, item: Any, record: Any, index: int, extra: str = "") -> Keyed:
        changed = self._value(record, self.cursor_field, index) if self.cursor_field else None
        if self.cursor_field == "updated_at" and changed is None:
            changed = self._value(record, "created_at", index)
        if isinstance(changed, datetime):
            return Keyed(key, iso_z(changed) + (f"|{extra}" if extra else ""), changed, item)
        return Keyed(key, repr(item), None, item)

    def _one(self, record: Any, index: int) -> list[Keyed]:
        kind = self.stream.kind
        if kind == "orders":
            return [self._order(record, index)]
        if kind == "refunds":
            refund_id = self._text(record, "id", index)
            state = self._text(record, "state", index)
            refund = Refund(refund_id, self._text(record, "order_id", index), self._time(record, "created_at", index),
                            self._number(record, "amount", index) or 0.0, self.stream.state_map.get(state, state))
            return [self._keyed(refund_id, refund, record, index)]
        if kind == "reviews":
            review_id = self._text(record, "id", index)
            stars = self._number(record, "stars", index)
            review = Review(review_id, self._text(record, "order_id", index), self._time(record, "created_at", index),
                            int(stars or 0))
            return [self._keyed(review_id, review, record, index)]
        if kind == "stock":
            sku, at = self._text(record, "sku", index), self._time(record, "at", index)
            snap = StockSnapshot(sku, at, int(self._number(record, "quantity", index) or 0),
                                 self._number(record, "price", index))
            return [self._keyed(f"{sku}@{iso_z(at)}", snap, record, index)]
        hour = self._time(record, "ts", index)
        out = []
        for metric in self.stream.metrics:
            value = self._number(record, metric, index, specs=self.stream.metrics, where="metrics")
            if value is None:
                continue
            point = TrafficPoint(metric, value, hour, self.stream.hours)
            out.append(self._keyed(f"{metric}@{iso_z(hour)}", point, record, index, extra=repr(value)))
        return out

    def _order(self, record: Any, index: int) -> Keyed:
        order_id = self._text(record, "id", index)
        status, native = self._state(record, index)
        lines: tuple[OrderLine, ...] = ()
        if self.stream.lines:
            raw_lines = lookup(record, self.stream.lines, None)
            if raw_lines is not None and not isinstance(raw_lines, list):
                raise MappingError(self.name, index, self.stream.lines, "lines: expected an array")
            specs = self.stream.line_fields
            lines = tuple(
                OrderLine(
                    str(self._value(line, "sku", index, specs=specs, where="line_fields")),
                    int(self._number(line, "quantity", index, specs=specs, where="line_fields") or 0),
                    self._number(line, "amount", index, specs=specs, where="line_fields") or 0.0,
                )
                for line in raw_lines or []
            )
        elif "sku" in self.stream.fields:
            quantity = self._number(record, "quantity", index)
            amount = self._number(record, "amount", index) or 0.0
            lines = (OrderLine(self._text(record, "sku", index), int(quantity if quantity is not None else 1), amount),)
        order = Order(
            order_id=order_id, created_at=self._time(record, "created_at", index), status=status,
            amount=self._number(record, "amount", index) or 0.0, paid_at=self._value(record, "paid_at", index),
            updated_at=self._value(record, "updated_at", index), shipped_at=self._value(record, "shipped_at", index),
            last_tracking_at=self._value(record, "last_tracking_at", index), lines=lines, native_status=native,
        )
        return self._keyed(order_id, order, record, index)
