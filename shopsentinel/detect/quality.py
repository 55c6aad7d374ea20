"""Data alerts (``kind: data``): stores or metrics that stop reporting, and quarantined points.

These never reach business rules; they tell people their data cannot be trusted right now,
which is exactly what stops a connector outage from being read as a traffic crash.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np

from shopsentinel.catalog import default_catalog
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import PLATFORM_NAMES_ZH, Severity
from shopsentinel.detect.episodes import episodes
from shopsentinel.detect.panel import Panel
from shopsentinel.ingest.clean import Finding

STORE_SILENT_HOURS = 3
METRIC_SILENT_MIN_HOURS = 3


def _data_alert(
    rule: str, severity: Severity, platform: str, store: str, sku: str, metric: str,
    start: datetime, end: datetime | None, zh: str, en: str, **extra: object,
) -> AlertEvent:
    """A ``kind: data`` alert; data alerts always concern the data category."""
    return AlertEvent(
        rule=rule, severity=severity, kind="data", category="data", platform=platform, store=store,
        sku=sku, metric=metric, start=start, end=end, message=zh, message_en=en, **extra,  # type: ignore[arg-type]
    )


def _where_zh(platform: str, store: str, sku: str = "") -> str:
    return f"{PLATFORM_NAMES_ZH.get(platform, platform)} {store}{' SKU ' + sku if sku else ''}"


_NAMES = default_catalog()


def _metric_zh(metric: str) -> str:
    return f"{_NAMES.get(metric).name_zh}({metric})" if metric in _NAMES else metric


def silent_store_alerts(panel: Panel) -> list[AlertEvent]:
    observed = panel.observed if panel.observed is not None else np.zeros((panel.hours, 0), dtype=bool)
    started = np.maximum.accumulate(observed, axis=0)
    out: list[AlertEvent] = []
    for ep in episodes(~observed & started, observed, started, for_steps=STORE_SILENT_HOURS, keep_steps=1):
        store = panel.stores[ep.column]
        first_missing = ep.start - STORE_SILENT_HOURS + 1
        since = panel.time_at(first_missing)
        out.append(
            _data_alert(
                "data.store_silent", Severity.CRITICAL, store.platform, store.store, "", "data_freshness",
                panel.time_at(ep.start), panel.time_at(ep.end) if ep.end is not None else None,
                f"【严重】{_where_zh(store.platform, store.store)}：数据同步中断，自 {since:%Y-%m-%d %H:%M} UTC 起未收到任何数据（业务规则已暂停判断，缺口不按 0 计算）",
                f"[critical] {store.platform} {store.store}: data stopped arriving at {since:%Y-%m-%d %H:%M} UTC (business rules paused; gaps are not read as zero)",
                value=float(STORE_SILENT_HOURS), notify=["运营负责人"],
            )
        )
    return out


def silent_metric_alerts(panel: Panel) -> list[AlertEvent]:
    """A metric (or SKU series) that stops while its store keeps reporting other data."""
    observed = panel.observed if panel.observed is not None else np.zeros((panel.hours, 0), dtype=bool)
    out: list[AlertEvent] = []
    for name, matrix in panel.metrics.items():
        if matrix.width == 0:
            continue
        present = ~np.isnan(matrix.values)
        store_up = observed[:, matrix.store_index]
        started = np.maximum.accumulate(present, axis=0)
        regular = matrix.cadence_hours <= 1.5
        if not regular.any():
            continue
        missing = ~present & store_up & started
        known = store_up & started
        need = max(METRIC_SILENT_MIN_HOURS, 3)
        for ep in episodes(missing[:, regular], present[:, regular], known[:, regular], for_steps=need, keep_steps=1):
            col = int(np.nonzero(regular)[0][ep.column])
            store = panel.stores[int(matrix.store_index[col])]
            sku = matrix.skus[col]
            where = f"{store.platform} {store.store}{' SKU ' + sku if sku else ''}"
            where_zh = _where_zh(store.platform, store.store, sku)
            out.append(
                _data_alert(
                    "data.metric_silent", Severity.WARNING, store.platform, store.store, sku, name,
                    panel.time_at(ep.start), panel.time_at(ep.end) if ep.end is not None else None,
                    f"【警告】{where_zh}：指标 {_metric_zh(name)} 已停止上报（店铺其他数据正常）",
                    f"[warning] {where}: metric {name} stopped reporting while the store's other data arrives",
                    notify=["运营负责人"],
                )
            )
    return out


def finding_alerts(findings: list[Finding]) -> list[AlertEvent]:
    """Quarantined points become data alerts, one per series and day."""
    grouped: dict[tuple[str, str, str, str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        if f.kind not in ("impossible", "conflict"):
            continue
        ts = f.ts if isinstance(f.ts, datetime) else datetime.fromisoformat(str(f.ts))
        grouped[(f.platform, f.store, f.sku, f.metric, ts.strftime("%Y-%m-%d") + f.kind)].append(f)
    out: list[AlertEvent] = []
    for (platform, store, sku, metric, _), items in grouped.items():
        first = items[0]
        ts = first.ts if isinstance(first.ts, datetime) else datetime.fromisoformat(str(first.ts))
        ts = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        rule = "data.impossible_value" if first.kind == "impossible" else "data.conflicting_duplicate"
        label_zh = "异常数值已隔离" if first.kind == "impossible" else "重复数据取值冲突"
        where = f"{platform} {store}{' SKU ' + sku if sku else ''}"
        out.append(
            _data_alert(
                rule, Severity.WARNING if first.kind == "impossible" else Severity.INFO, platform, store, sku, metric,
                ts, ts + timedelta(hours=1),
                f"【数据质量】{_where_zh(platform, store, sku)}：{_metric_zh(metric)} {label_zh}（{len(items)} 个点，第 {first.line} 行：{first.detail}），未用于业务规则",
                f"[data quality] {where}: {metric} — {len(items)} point(s) quarantined (line {first.line}: {first.detail}); not used by business rules",
                value=first.value,
            )
        )
    return out
