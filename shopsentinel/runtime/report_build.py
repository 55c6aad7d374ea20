"""Build the HTML report: re-assemble each alerting store's panel and chart its alerts."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from shopsentinel.catalog import default_catalog
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.report import chart_for, write_report
from shopsentinel.detect.rules import RulePack
from shopsentinel.ingest.clean import clean
from shopsentinel.ingest.reader import find_metrics_file, read_calendar, read_metrics
from shopsentinel.runtime.backtest import HOUR, BacktestResult

MAX_CHARTS = 400


def build_report(directory: Path, result: BacktestResult, rules: RulePack, path: Path) -> None:
    catalog = default_catalog()
    events = result.events
    calendar = read_calendar(directory / "calendar.csv") if (directory / "calendar.csv").exists() else []
    metrics_path = find_metrics_file(directory)
    wanted = sorted({e.store for e in events[:MAX_CHARTS]})
    frame = read_metrics(metrics_path, stores=wanted) if wanted else None
    charts: dict[int, str] = {}
    if frame is not None:
        data_start = frame.select(pl.col("ts").min()).item().replace(minute=0, second=0, microsecond=0)
        hours = int((result.end - data_start) // HOUR)
        for store in wanted:
            infos = [s for s in result.stores if s.store == store]
            sub, _ = clean(frame.filter(pl.col("store") == store), catalog)
            panel = build_panel(sub, infos, calendar, catalog, start=data_start, hours=hours)
            for i, e in enumerate(events[:MAX_CHARTS]):
                if e.store == store and e.kind == "business":
                    charts[i] = chart_for(e, panel, rules, catalog)
    write_report(path, events, charts)
