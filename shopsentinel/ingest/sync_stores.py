"""Sync every registered store: decrypt its Config, build its connector, run the engine, and
store rotated tokens again encrypted (TOP, JOS and PDD spend a refresh token on every refresh,
so a token that is not persisted locks the store out at the next run).

Shared-stock groups (库存同步失败 is checked only inside them) are declared next to the stores they
name, from a small CSV (:func:`read_stock_groups`, :func:`declare_stock_groups`)::

    group,platform,store,sku,tolerance,lag_hours,reference
    羽绒服-黑M,tmall,tm-1,SKU-001,2,2,
    羽绒服-黑M,jd,jd-1,100012345,2,2,
    羽绒服-黑M,erp,wms,HX-BLK-M,2,2,yes

``tolerance`` (units, default 0) and ``lag_hours`` (default 2) are per group (the first non-empty
value wins); ``reference`` marks the ERP's figure, which every other member is compared with.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import InputError, ShopSentinelError
from shopsentinel.core.secrets import SecretBox
from shopsentinel.ingest.sync import Sleep, SyncEngine, SyncReport
from shopsentinel.ingest.sync_state import StockGroup, StockMember, StoreRecord, SyncDB
from shopsentinel.sources.kit import Tokens
from shopsentinel.sources.registry import (
    StateOverrides,
    build_source,
    earliest_start,
    entry,
    history_start,
    open_config,
    seal_config,
)


class TokenSaver:
    """``on_tokens`` callback: seal the new tokens into the store's stored Config."""

    def __init__(self, db: SyncDB, box: SecretBox, platform: str, store: str) -> None:
        self.db, self.box, self.platform, self.store = db, box, platform, store
        self.saved = 0

    def __call__(self, tokens: Tokens) -> None:
        current = self.db.store(self.platform, self.store)
        if current is None:
            return
        fresh = {"access_token": tokens.access_token.get_secret_value()}
        if tokens.refresh_token is not None:
            fresh["refresh_token"] = tokens.refresh_token.get_secret_value()
        sealed = self.box.seal_fields(fresh, list(fresh))
        self.db.put_store(replace(current, config={**current.config, **sealed}))
        self.saved += 1


async def sync_registered(
    db: SyncDB, box: SecretBox, *, clock: Clock, sleep: Sleep = asyncio.sleep,
    overrides: StateOverrides | None = None, only: list[tuple[str, str]] | None = None,
) -> list[SyncReport]:
    """One sync per registered store (all, or the ``(platform, store)`` pairs in ``only``)."""
    engine = SyncEngine(db, clock=clock, sleep=sleep, overrides=overrides)
    reports: list[SyncReport] = []
    for record in db.stores():
        if only is not None and (record.platform, record.store) not in only:
            continue
        reports.append(await _sync_one(db, box, engine, record, clock, sleep))
    return reports


def register_store(
    db: SyncDB, box: SecretBox, platform: str, store: str, timezone: str, fields: Mapping[str, Any], *, now: datetime
) -> StoreRecord:
    """Connect a store: its Config sealed, its history from ``fields["start"]`` — or, without one, as
    far back as the platform allows (history on connect: baselines are warm on day one). A start
    older than the platform keeps is moved up to its limit (before it the platform returns nothing,
    which would read as hours of zero orders)."""
    given = fields.get("start")
    if isinstance(given, str) and given:
        given = datetime.fromisoformat(given.replace("Z", "+00:00"))
    if isinstance(given, datetime) and given.tzinfo is None:
        raise InputError("start needs a time zone", field="start")
    start = earliest_start(platform, given, now) if isinstance(given, datetime) else history_start(platform, now)
    config = entry(platform).config_model(**{**fields, "store": store, "start": start})
    record = StoreRecord(platform, store, timezone, start, seal_config(platform, config, box))
    db.put_store(record)
    return record


def _first_sync_start(db: SyncDB, record: StoreRecord, config: Any, now: datetime) -> tuple[StoreRecord, Any]:
    """Before a store's first read, a start older than the platform's history is moved up to it
    (Config and record, so hours the platform cannot show are not written as zeros)."""
    if db.cursors(record.platform, record.store) or not isinstance(getattr(config, "start", None), datetime):
        return record, config
    limit = history_start(record.platform, now)
    if record.start.astimezone(UTC) >= limit and config.start.astimezone(UTC) >= limit:
        return record, config
    record = replace(record, start=max(record.start.astimezone(UTC), limit))
    current = db.store(record.platform, record.store)
    if current is not None:
        db.put_store(replace(current, start=record.start))
    start = max(config.start.astimezone(UTC), limit)
    return record, config.model_copy(update={"start": start})


async def _sync_one(
    db: SyncDB, box: SecretBox, engine: SyncEngine, record: StoreRecord, clock: Clock, sleep: Sleep
) -> SyncReport:
    try:
        config = open_config(record.platform, record.config, box)
    except (ShopSentinelError, ValueError) as exc:  # wrong key, or a Config the connector no longer accepts
        error = f"cannot open stored config: {type(exc).__name__}"
        db.record_failure(record.platform, record.store, clock.now(), error)
        return SyncReport(record.platform, record.store, clock.now(), error=error)
    record, config = _first_sync_start(db, record, config, clock.now())
    source = build_source(record.platform, config, clock=clock, sleep=sleep,
                          on_tokens=TokenSaver(db, box, record.platform, record.store))
    try:
        return await engine.sync_store(record, source)
    finally:
        await source.aclose()


_YES = {"1", "true", "yes", "y", "是", "erp"}


class StockGroupFileError(InputError):
    """A bad shared-stock CSV: Chinese first, then English, each naming file, line and column."""

    def __init__(self, zh: str, en: str, *, file: Path, line: int, field: str | None = None) -> None:
        super().__init__(en, file=str(file), line=line, field=field)
        column_zh = f"「{field}」列" if field is not None else ""
        column_en = f", column {field!r}" if field is not None else ""
        self.args = (f"共享库存组文件 {file} 第 {line} 行{column_zh}：{zh} / {file}, line {line}{column_en}: {en}",)


def _number(cells: dict[str, str], column: str, path: Path, line: int) -> float:
    try:
        number = float(cells[column])
    except ValueError:
        raise StockGroupFileError(f"「{cells[column]}」不是数字", f"not a number: {cells[column]!r}",
                                  file=path, line=line, field=column) from None
    if number < 0 or number != number:
        raise StockGroupFileError(f"不能为负数（填的是 {cells[column]}）", f"must not be negative: {cells[column]!r}",
                                  file=path, line=line, field=column)
    return number


def read_stock_groups(path: Path) -> list[StockGroup]:
    """The shared-stock groups of a CSV (see the module docstring). A bad cell raises
    :class:`StockGroupFileError`, naming file, line and column in Chinese, then in English."""
    groups: dict[str, dict[str, object]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"group", "platform", "store", "sku"} - set(reader.fieldnames or [])
        if missing:
            names = ", ".join(sorted(missing))
            raise StockGroupFileError(f"表头缺少列：{names}", f"missing column(s): {names}", file=path, line=1)
        for line, row in enumerate(reader, start=2):
            cells = {k: (v or "").strip() for k, v in row.items() if k}
            for column in ("group", "platform", "store", "sku"):
                if not cells.get(column):
                    raise StockGroupFileError("不能为空", "empty value", file=path, line=line, field=column)
            spec = groups.setdefault(cells["group"], {"members": [], "tolerance": None, "lag_hours": None})
            for column in ("tolerance", "lag_hours"):
                if cells.get(column) and spec[column] is None:
                    spec[column] = _number(cells, column, path, line)
            members = spec["members"]
            assert isinstance(members, list)
            members.append(StockMember(cells["platform"], cells["store"], cells["sku"],
                                       cells.get("reference", "").lower() in _YES))
    out = []
    for name, spec in groups.items():
        members = spec["members"]
        assert isinstance(members, list)
        tolerance, lag = spec["tolerance"], spec["lag_hours"]
        out.append(StockGroup(name, tuple(sorted(members, key=lambda m: (m.platform, m.store, m.sku))), float(tolerance) if isinstance(tolerance, float) else 0.0,
                              float(lag) if isinstance(lag, float) else 2.0))
    return out


def declare_stock_groups(db: SyncDB, groups: list[StockGroup]) -> None:
    """Store the groups in the sync database (a redeclared group replaces its members)."""
    for group in groups:
        db.put_stock_group(group)
