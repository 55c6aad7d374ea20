"""Data cleaning: duplicates, conflicting duplicates, missing and impossible values.

Nothing here guesses a value. Bad points are removed from what business rules see and kept as
:class:`Finding` records (data-quality findings) that become ``kind: data`` alerts. Checks use
only each point's past, so live ingestion and a backtest quarantine the same points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from shopsentinel.catalog import Catalog

KEY = ("ts", "platform", "store", "sku", "metric")
# A point this many times above the largest value of its series' previous month is not believable
# (a connector glitch, a unit bug). Promotions stay far below this.
FAR_OUTSIDE_FACTOR = 20.0
# Amounts (元) are different: one real order with a mistyped price or quantity (a giant order,
# 天价订单) can lift an hour's GMV far above anything the store has sold, and that is a business
# alert for the ``orders.giant_order`` rule, not dirt to hide. What cleaning cannot believe of an
# amount is a unit slip of a whole series (分 read as 元, ×100 or more): quarantine only from there.
MONEY_FAR_OUTSIDE_FACTOR = 100.0
HISTORY_DAYS = 30  # a month of history: restocks and promotions stay believable
BOUNDED = {"dsr": (0.0, 5.0)}


@dataclass
class Finding:
    kind: str  # duplicate | conflict | missing_value | impossible | far_outside
    platform: str
    store: str
    sku: str
    metric: str
    ts: object
    value: float | None
    detail: str
    line: int | None = None


@dataclass
class CleanReport:
    rows_in: int = 0
    rows_out: int = 0
    exact_duplicates: int = 0
    conflicts: int = 0
    missing_values: int = 0
    quarantined: int = 0
    findings: list[Finding] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "exact_duplicates": self.exact_duplicates,
            "conflicting_duplicates": self.conflicts,
            "missing_values": self.missing_values,
            "quarantined": self.quarantined,
        }


def _findings(df: pl.DataFrame, kind: str, detail: str | pl.Expr, limit: int | None = None) -> list[Finding]:
    if limit is not None:
        df = df.head(limit)
    detail_expr = pl.lit(detail) if isinstance(detail, str) else detail
    rows = df.with_columns(detail_expr.alias("_detail")).select(
        "platform", "store", "sku", "metric", "ts", "value", "_detail", pl.col("line") if "line" in df.columns else pl.lit(None).alias("line")
    )
    return [Finding(kind, p, s, k, m, t, v, d, ln) for p, s, k, m, t, v, d, ln in rows.iter_rows()]


def clean(metrics: pl.DataFrame, catalog: Catalog, *, max_findings_per_kind: int = 10_000) -> tuple[pl.DataFrame, CleanReport]:
    """Return the points business rules may see, and a report of what was removed and why."""
    report = CleanReport(rows_in=metrics.height)
    if "line" not in metrics.columns:
        metrics = metrics.with_row_index("line", offset=1).with_columns(pl.col("line").cast(pl.Int64))

    missing = metrics.filter(pl.col("value").is_null())
    report.missing_values = missing.height
    report.findings += _findings(missing, "missing_value", "empty value (not read as zero)", max_findings_per_kind)
    df = metrics.filter(pl.col("value").is_not_null())

    # The latest line of a point wins, whatever came before it (A, B, A keeps A).
    distinct = df.unique(subset=[*KEY, "value"], keep="last")
    report.exact_duplicates = df.height - distinct.height
    ordered = df if df.get_column("line").is_sorted() else df.sort("line")
    latest = ordered.unique(subset=list(KEY), keep="last", maintain_order=True)
    if latest.height < distinct.height:
        kept = latest.select(*KEY, pl.col("value").alias("_kept"), pl.col("line").alias("_kept_line"))
        dropped = (
            distinct.join(kept, on=list(KEY), how="inner")
            .filter(pl.col("value") != pl.col("_kept"))
            .sort("line")
        )
        report.conflicts = dropped.height
        report.findings += _findings(
            dropped, "conflict",
            pl.format("conflicting duplicate (line {} with value {} dropped; line {} of the same point kept)", pl.col("line"), pl.col("value"), pl.col("_kept_line")),
            max_findings_per_kind,
        )
    df = latest

    df, quarantined = quarantine_impossible(df, catalog)
    report.quarantined = quarantined.height
    report.findings += _findings(quarantined, "impossible", pl.col("_reason"), max_findings_per_kind)
    report.rows_out = df.height
    return df, report


def quarantine_impossible(df: pl.DataFrame, catalog: Catalog) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split off values that cannot be true: negative counts/stock/amounts, out-of-range
    gauges, and points of catalog metrics far outside their series' own recent history. A
    quarantined point is never history for the next one (two typos in a row are both caught).

    Custom metrics are never "far outside": nothing says what they can be, and a 20× spike of a
    custom KPI is exactly what the ``auto`` detector is there to report.
    """
    metric_names = df.get_column("metric").unique().to_list()
    non_negative = [m for m in metric_names if catalog.get(m).non_negative]
    custom = [m for m in metric_names if catalog.get(m).custom]
    money = [m for m in metric_names if catalog.get(m).kind == "money"]
    series = ["platform", "store", "sku", "metric"]
    checked = _check(df.with_columns(pl.lit(False).alias("_bad")), non_negative, custom, money)
    # Re-check only the series that had a quarantined point, without it in their history,
    # until nothing changes (a run of typos is caught whole).
    for _ in range(8):
        flagged = checked.filter(pl.col("_reason").is_not_null()).select(series).unique()
        if flagged.height == 0:
            break
        affected = checked.join(flagged, on=series, how="semi").with_columns(pl.col("_reason").is_not_null().alias("_bad"))
        rechecked = _check(affected, non_negative, custom, money)
        if rechecked.get_column("_reason").is_not_null().sum() == affected.get_column("_bad").sum():
            checked = pl.concat([checked.join(flagged, on=series, how="anti"), rechecked])
            break
        checked = pl.concat([checked.join(flagged, on=series, how="anti"), rechecked])
    bad = checked.filter(pl.col("_reason").is_not_null())
    good = checked.filter(pl.col("_reason").is_null()).drop("_recent_max", "_reason", "_bad")
    return good, bad.drop("_recent_max", "_bad")


def _check(frame: pl.DataFrame, non_negative: list[str], custom: list[str], money: list[str]) -> pl.DataFrame:
    """Attach each point's "largest value of the previous month" (from daily maxima of the
    previous 30 days, quarantined points left out) and the reason it is impossible, if any."""
    series = ["platform", "store", "sku", "metric"]
    frame = frame.drop("_recent_max", "_reason", strict=False).with_columns(pl.col("ts").dt.truncate("1d").alias("_day"))
    daily = (
        frame.group_by([*series, "_day"])
        .agg(pl.when(pl.col("_bad")).then(None).otherwise(pl.col("value").abs()).max().alias("_day_max"))
        .sort([*series, "_day"])
        .with_columns(
            pl.col("_day_max").shift(1).rolling_max(window_size=HISTORY_DAYS, min_samples=1).over(series).alias("_recent_max")
        )
        .select([*series, "_day", "_recent_max"])
    )
    return (
        frame.join(daily, on=[*series, "_day"], how="left")
        .drop("_day")
        .with_columns(_reason(non_negative, custom, money).alias("_reason"))
    )


def _reason(non_negative: list[str], custom: list[str], money: list[str]) -> pl.Expr:
    reason: Any = pl.when(pl.col("metric").is_in(non_negative) & (pl.col("value") < 0)).then(
        pl.format("impossible negative value {}", pl.col("value"))
    )
    for metric, (low, high) in BOUNDED.items():
        reason = reason.when((pl.col("metric") == metric) & ((pl.col("value") < low) | (pl.col("value") > high))).then(
            pl.format("{} outside its range [{}, {}]", pl.col("value"), pl.lit(low), pl.lit(high))
        )
    # Only a series with a real past can be "far outside" it: a sparse refund amount whose last
    # month was all zeros has nothing to compare its first refund with.
    factor = pl.when(pl.col("metric").is_in(money)).then(pl.lit(MONEY_FAR_OUTSIDE_FACTOR)).otherwise(pl.lit(FAR_OUTSIDE_FACTOR))
    far = ~pl.col("metric").is_in(custom) & (pl.col("_recent_max") > 0) & (pl.col("value").abs() > factor * pl.max_horizontal(pl.col("_recent_max"), pl.lit(1.0)))
    reason = reason.when(far).then(
        pl.format("{} is more than {}× the largest value of the previous month ({})", pl.col("value"), factor.cast(pl.Int64), pl.col("_recent_max"))
    ).otherwise(None)
    return reason  # type: ignore[no-any-return]
