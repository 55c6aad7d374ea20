"""User-defined (composite and custom) metrics from YAML (R2.3).

::

    metrics:
      - id: order_health
        name: {zh: 订单健康度, en: Order health}
        formula: "pay_conversion_rate * (1 - refund_rate)"
        unit: score
        level: strategic
        good_direction: up
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shopsentinel.catalog.formula import Formula
from shopsentinel.catalog.metrics import MetricDefinition
from shopsentinel.core.errors import CatalogError, InputError


class _Name(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: str
    en: str


class MetricSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: _Name
    definition: str = ""
    formula: str | None = None
    unit: str = ""
    kind: Literal["count", "money", "ratio", "gauge", "duration"] = "gauge"
    level: Literal["strategic", "operational", "basic"] = "operational"
    good_direction: Literal["up", "down", "neutral"] = "up"
    category: str = "custom"
    scope: Literal["store", "sku"] = "store"
    window_hours: int = Field(default=1, ge=1, le=24 * 31)

    def to_definition(self) -> MetricDefinition:
        if self.formula:
            Formula(self.formula)  # validates
        return MetricDefinition(
            id=self.id, name_zh=self.name.zh, name_en=self.name.en, definition=self.definition or (self.formula or ""),
            unit=self.unit, kind=self.kind, level=self.level, good_direction=self.good_direction, category=self.category,
            scope=self.scope, formula=self.formula, window_hours=self.window_hours, source="user",
        )


def parse_metric_file(text: str, source: str) -> list[MetricDefinition]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=source, line=mark.line + 1 if mark else None) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("metrics"), list):
        raise InputError("a metric file is a mapping with a 'metrics' list", file=source, line=1)
    out = []
    for i, item in enumerate(raw["metrics"]):
        try:
            out.append(MetricSpec.model_validate(item).to_definition())
        except ValidationError as exc:
            first = exc.errors()[0]
            label = item.get("id", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
            raise InputError(f"metric {label!r}: {first['msg']}", file=source, field=".".join(str(p) for p in first["loc"])) from None
        except CatalogError as exc:
            raise InputError(str(exc), file=source, field="formula") from None
    return out


def load_metric_file(path: Path | str) -> list[MetricDefinition]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return parse_metric_file(text, str(path))
