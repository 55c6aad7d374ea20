"""Data alerts (``kind: data``): stores or store-level streams that stop reporting, and quarantined points.

These never reach business rules; they tell people their data cannot be trusted right now,
which is exactly what stops a connector outage from being read as a traffic crash.

What silence means (issue 13): counts and amounts (flows: orders, units sold, refunds …) are 0 for
an hour nothing happened — the sync path writes those zeros — and snapshots (stock, price, DSR)
hold until they change, so a price that did not move or a SKU that sold nothing is never
"stopped reporting". Per-SKU silence is not a data alert at all.

* :func:`silent_store_alerts` — the backtest's view: every historic whole-store outage of
  ``hours`` (default :data:`STORE_SILENT_HOURS`, 2) closed hours or more is one alert — for a store
  that reports hourly; one that reports daily (an export) is silent after two missed reports
  (:func:`silence_tolerance`, from its cadence before the gap).
* :func:`live_silent_store_alerts` — the live service's view: freshness judged at the live edge
  only (the panel ends at the service clock's last closed hour). A store that was fresh at the
  previous evaluation and has now been silent for ``hours`` fires; a gap in the past (filled by a
  backfill, or before the store was ever live) raises nothing; an open alert resolves as soon as
  fresh data arrives.
* :func:`silent_metric_alerts` — a store-level flow that always had data and stops while the
  store's other data keeps arriving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from shopsentinel.catalog import default_catalog
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.settings import STORE_SILENT_HOURS
from shopsentinel.core.types import PLATFORM_NAMES_ZH, Severity
from shopsentinel.detect.episodes import episodes
from shopsentinel.detect.panel import Panel
from shopsentinel.ingest.clean import Finding

METRIC_SILENT_MIN_HOURS = 3
# A store-level stream "always had data" when it was present in at least this share of the hours
# its store reported before the gap.
METRIC_ALWAYS_PRESENT = 0.95
STORE_SILENT_RULE = "data.store_silent"
METRIC_SILENT_RULE = "data.metric_silent"
BEIJING = ZoneInfo("Asia/Shanghai")
HOUR = timedelta(hours=1)
StoreKey = tuple[str, str]


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


def beijing(moment: datetime) -> str:
    """``2026-11-01 18:00`` in Beijing time (the messages' time zone, as DingTalk shows it)."""
    return f"{moment.astimezone(BEIJING):%Y-%m-%d %H:%M}"


_NAMES = default_catalog()


def _metric_zh(metric: str) -> str:
    return f"{_NAMES.get(metric).name_zh}({metric})" if metric in _NAMES else metric


def _is_flow(metric: str) -> bool:
    """Counts and amounts per hour (0 when nothing happened); snapshots and levels hold instead."""
    return metric in _NAMES and _NAMES.get(metric).aggregation == "sum"


def _store_silent(platform: str, store: str, since: datetime, hours: int, start: datetime,
                  end: datetime | None) -> AlertEvent:
    where = _where_zh(platform, store)
    return _data_alert(
        STORE_SILENT_RULE, Severity.CRITICAL, platform, store, "", "data_freshness", start, end,
        f"【严重】{where}：数据中断，从北京时间 {beijing(since)} 起已连续 {hours} 小时以上没有收到这家店的任何数据。"
        f"请检查店铺授权、同步任务或推送脚本；中断期间业务规则暂停判断，缺口不会按 0 计算。",
        f"[critical] {platform} {store}: no data at all from this store for {hours}+ hours, since {beijing(since)} "
        f"Beijing time. Check the shop authorization, the sync job or the push script; business rules are paused "
        f"for the gap, which is not read as zero.",
        value=float(hours), notify=["运营负责人"],
    )


# A store's reporting cadence: the median gap between its last CADENCE_POINTS reporting hours before a
# silence. A store that reports every hour is silent after ``hours`` without data; one that reports once
# a day (a daily export) only after it missed two reports in a row (2 × its cadence).
CADENCE_POINTS = 24
CADENCE_MIN_POINTS = 2  # one gap already tells: a store's first report alone does not
MISSED_REPORTS = 2


def silence_tolerance(seen_before: np.ndarray, hours: int) -> int:
    """Closed hours without any data after which a store is silent: ``hours`` for a store that reports
    hourly, ``MISSED_REPORTS`` × its usual gap for one that reports less often.

    >>> silence_tolerance(np.arange(0, 100), 2), silence_tolerance(np.arange(0, 240, 24), 2)
    (2, 48)
    >>> silence_tolerance(np.array([0, 24]), 2), silence_tolerance(np.array([5]), 2)  # one report: no cadence yet
    (48, 2)
    """
    hours = max(1, int(hours))
    recent = seen_before[-CADENCE_POINTS:]
    if recent.size < CADENCE_MIN_POINTS:
        return hours
    cadence = int(np.median(np.diff(recent)))
    return max(hours, MISSED_REPORTS * cadence) if cadence > 1 else hours


def silent_store_alerts(panel: Panel, hours: int = STORE_SILENT_HOURS) -> list[AlertEvent]:
    """Every whole-store outage in the panel (the backtest's view): ``hours`` closed hours or more
    without any data for a store that reports hourly, two missed reports for one that reports less
    often (:func:`silence_tolerance`, from the reports before the gap only)."""
    hours = max(1, int(hours))
    observed = panel.observed if panel.observed is not None else np.zeros((panel.hours, 0), dtype=bool)
    out: list[AlertEvent] = []
    for column, store in enumerate(panel.stores):
        seen = np.nonzero(observed[:, column])[0]
        if seen.size == 0:
            continue
        gaps = np.nonzero(np.diff(np.append(seen, panel.hours)) > 1)[0]  # reports followed by silence
        for g in gaps:
            begin = int(seen[g]) + 1  # the first silent hour
            after = int(seen[g + 1]) if g + 1 < seen.size else panel.hours
            tolerance = silence_tolerance(seen[: g + 1], hours)
            if after - begin < tolerance:
                continue
            out.append(_store_silent(store.platform, store.store, panel.time_at(begin), tolerance,
                                     panel.time_at(begin + tolerance - 1),
                                     panel.time_at(after) if after < panel.hours else None))
    return out


def live_silent_store_alerts(
    panel: Panel, *, hours: int, previous_end: Mapping[StoreKey, datetime | None],
    open_since: Mapping[StoreKey, datetime],
) -> list[AlertEvent]:
    """Freshness at the live edge; the panel's last hour is the last closed hour of the service clock.

    ``previous_end``: per store, the end of its previous evaluation window (None: never evaluated);
    ``open_since``: per store, the start of its open ``data.store_silent`` alert. A store whose
    silence reached ``hours`` at or after its previous evaluation was fresh then, so it was live and
    now is not: one alert, starting at the hour the silence reached the tolerance. A longer silence
    found by a first evaluation, or the last stretch of a backfill, is a gap of the past: nothing.
    An open alert is kept while the silence lasts and resolved at the hour data is there again."""
    hours = max(1, int(hours))
    observed = panel.observed if panel.observed is not None else np.zeros((panel.hours, len(panel.stores)), dtype=bool)
    window_end = panel.time_at(panel.hours)
    out: list[AlertEvent] = []
    for column, store in enumerate(panel.stores):
        key = (store.platform, store.store)
        seen = np.nonzero(observed[:, column])[0] if panel.hours else np.zeros(0, dtype=int)
        last = int(seen[-1]) if seen.size else -1
        silent = panel.hours - 1 - last  # closed hours with no data at all, up to the live edge
        opened = open_since.get(key)
        since = panel.time_at(last + 1)
        tolerance = silence_tolerance(seen, hours)
        if silent >= tolerance:
            if opened is None:
                reached = panel.time_at(last + tolerance)
                previous = previous_end.get(key)
                if previous is None or reached < previous:
                    continue  # never seen fresh, or silent since before the previous evaluation: the past
                opened = reached
            out.append(_store_silent(store.platform, store.store, since, tolerance, opened, None))
        elif opened is not None:
            back = [int(i) for i in seen if panel.time_at(int(i)) >= opened]
            end = panel.time_at(back[0]) if back else window_end
            out.append(_store_silent(store.platform, store.store, since, tolerance, opened, max(end, opened + HOUR)))
    return out


def silent_metric_alerts(panel: Panel) -> list[AlertEvent]:
    """A store-level flow (orders, GMV, refunds, UV …) that always had data and stops while its store
    keeps reporting other data. Snapshots (stock, price, DSR) hold until they change and per-SKU
    series are sparse by nature: neither is ever "stopped reporting"."""
    observed = panel.observed if panel.observed is not None else np.zeros((panel.hours, 0), dtype=bool)
    out: list[AlertEvent] = []
    for name, matrix in panel.metrics.items():
        if matrix.width == 0 or not _is_flow(name):
            continue
        store_level = np.array([sku == "" for sku in matrix.skus], dtype=bool)
        regular = store_level & (matrix.cadence_hours <= 1.5)
        if not regular.any():
            continue
        present = ~np.isnan(matrix.values)
        store_up = observed[:, matrix.store_index]
        started = np.maximum.accumulate(present, axis=0)
        missing = ~present & store_up & started
        known = store_up & started
        need = max(METRIC_SILENT_MIN_HOURS, 3)
        columns = np.nonzero(regular)[0]
        for ep in episodes(missing[:, regular], present[:, regular], known[:, regular], for_steps=need, keep_steps=1):
            col = int(columns[ep.column])
            first_missing = ep.start - need + 1
            before = known[:first_missing, col]
            if not before.any() or present[:first_missing, col][before].mean() < METRIC_ALWAYS_PRESENT:
                continue  # a stream that comes and goes did not stop now
            store = panel.stores[int(matrix.store_index[col])]
            since = panel.time_at(first_missing)
            out.append(
                _data_alert(
                    METRIC_SILENT_RULE, Severity.WARNING, store.platform, store.store, "", name,
                    panel.time_at(ep.start), panel.time_at(ep.end) if ep.end is not None else None,
                    f"【警告】{_where_zh(store.platform, store.store)}：{_metric_zh(name)} 从北京时间 {beijing(since)} 起"
                    f"不再上报，店铺其他数据正常到达。请检查这一路数据的接口权限或报表任务；这段时间该指标不参与判断。",
                    f"[warning] {store.platform} {store.store}: {name} stopped arriving at {beijing(since)} Beijing time "
                    f"while the store's other data keeps coming. Check that stream's API permission or report job; "
                    f"the metric is not judged meanwhile.",
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
