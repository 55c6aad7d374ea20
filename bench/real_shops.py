"""Detection on three real shops: convert them to the backtest's folder format, backtest, score against our labels.

    .venv/bin/python bench/real_shops.py                          # all three shops, default rules
    .venv/bin/python bench/real_shops.py --shops takeaway         # one shop
    .venv/bin/python bench/real_shops.py --convert-only           # only write the backtest folders
    .venv/bin/python bench/real_shops.py --backtest-cmd "my-detector {data} --out {alerts}"

The data are read at run time from ``--data`` (default ``/work/shared/data/real``, see its README) and
never copied into the repository; the converted folders go to ``--workdir`` (default a temp folder).
The labels are ours: ``bench/data/real_labels.yaml`` holds every labelled real event with the evidence
we found in the data, the closures a shop owner would have entered in ``calendar.csv``, and the quiet
periods.

Conversions (one store each):

* ``taobao`` (Asia/Shanghai, hourly): the Tianchi UserBehavior head, last (cut) user dropped, only
  2017-11-25 .. 12-03 local time kept; uv = distinct users with any behaviour in the hour, pv = ``pv``
  behaviours, orders = ``buy`` behaviours. conversion_rate (orders / uv) is derived by the catalog.
* ``takeaway`` (Europe/London, hourly): orders = distinct order numbers in the hour, gmv = Σ quantity ×
  product price. Every hour from the first to the last trading day is written (0 when no order), except
  runs of at least ``GAP_DAYS`` whole days without a single order: those are holes in the record and get
  no points at all (what a connector that lost its data would deliver).
* ``cdnow`` (America/New_York, daily): orders = transactions of the day, gmv = Σ dollar value, one point
  per metric at local midnight.

Scoring per shop, business alerts of severity warning or worse (``state == firing``): an alert matches a
labelled event of the shop when its ts lies in [start − 1 h, end + slack] (slack 6 h for hourly shops as in
``shopsentinel.sim.scoring``, 1 day for the daily shop). Reported: unmatched alerts per week, which
``expect: alert`` events were caught, alerts inside quiet periods, and whether each ``expect: data`` event
(a hole in the record) got a data alert. Results go to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from rich.console import Console
from rich.table import Table

from shopsentinel.sim.scoring import MATCH_AFTER, MATCH_BEFORE, load_alerts, parse_ts

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path("/work/shared/data/real")
DEFAULT_LABELS = REPO / "bench/data/real_labels.yaml"
DEFAULT_BACKTEST = f"{REPO / '.venv/bin/shopsentinel'} backtest {{data}} --out {{alerts}} --quiet"
WARNING_OR_WORSE = frozenset({"warning", "critical", "fatal"})
GAP_DAYS = 7  # this many whole days without an order in a shop that trades daily = a hole in the record
POINT_COLUMNS = ("ts", "platform", "store", "metric", "value", "sku")


@dataclass(frozen=True)
class Shop:
    key: str
    platform: str
    store: str
    name: str
    timezone: str
    file: str
    step: timedelta  # cadence of the converted points


SHOPS: dict[str, Shop] = {
    "taobao": Shop("taobao", "taobao", "tb-userbehavior", "淘宝 UserBehavior 样本", "Asia/Shanghai",
                   "taobao_userbehavior_head.csv", timedelta(hours=1)),
    "takeaway": Shop("takeaway", "generic", "london-takeaway", "London takeaway", "Europe/London",
                     "takeaway_london_orders.csv", timedelta(hours=1)),
    "cdnow": Shop("cdnow", "generic", "cdnow", "CDNOW music store", "America/New_York",
                  "cdnow_master.txt", timedelta(days=1)),
}
TAOBAO_WINDOW = (date(2017, 11, 25), date(2017, 12, 4))  # local days [first, end)


# ----------------------------------------------------------------------------------------------------
# conversions: each returns a long frame (ts UTC datetime, metric, value); ``points`` adds the store columns


def _local_midnight_utc(day: date, tz: str) -> datetime:
    frame = pl.DataFrame({"d": [day]}).select(
        pl.col("d").cast(pl.Datetime("us")).dt.replace_time_zone(tz).dt.convert_time_zone("UTC"))
    return frame.item().replace(tzinfo=UTC)


def _hour_grid(start: datetime, end: datetime) -> pl.DataFrame:
    return pl.DataFrame({"ts": pl.datetime_range(start, end, "1h", closed="left", time_zone="UTC", eager=True)})


def _long(wide: pl.DataFrame, metrics: tuple[str, ...]) -> pl.DataFrame:
    return (wide.unpivot(index="ts", on=list(metrics), variable_name="metric", value_name="value")
            .with_columns(pl.col("value").cast(pl.Float64)).sort("ts", "metric"))


def convert_taobao(path: Path) -> pl.DataFrame:
    """Hourly uv, pv, orders of the Taobao UserBehavior head (see the module docstring)."""
    raw = pl.read_csv(path, has_header=False, new_columns=["user", "item", "category", "behavior", "unix_ts"],
                      schema_overrides={"user": pl.Int64, "unix_ts": pl.Int64})
    last_user = raw["user"][-1]
    raw = raw.filter(pl.col("user") != last_user)
    tz = SHOPS["taobao"].timezone
    start, end = (_local_midnight_utc(day, tz) for day in TAOBAO_WINDOW)
    events = (raw.with_columns(pl.from_epoch("unix_ts", time_unit="s").dt.replace_time_zone("UTC").alias("at"))
              .filter((pl.col("at") >= start) & (pl.col("at") < end))
              .with_columns(pl.col("at").dt.truncate("1h").alias("ts")))
    hourly = events.group_by("ts").agg(
        pl.col("user").n_unique().alias("uv"),
        (pl.col("behavior") == "pv").sum().alias("pv"),
        (pl.col("behavior") == "buy").sum().alias("orders"),
    )
    wide = _hour_grid(start, end).join(hourly, on="ts", how="left").fill_null(0)
    return _long(wide, ("uv", "pv", "orders"))


def read_takeaway_orders(path: Path) -> pl.DataFrame:
    """One row per order: order number, local and UTC time, GMV."""
    tz = SHOPS["takeaway"].timezone
    lines = pl.read_csv(path, schema_overrides={"OrderNumber": pl.Int64, "Quantity": pl.Float64,
                                                "ProductPrice": pl.Float64})
    orders = lines.group_by("OrderNumber").agg(
        pl.col("OrderDate").first(), (pl.col("Quantity") * pl.col("ProductPrice")).sum().alias("gmv"))
    local = pl.col("OrderDate").str.strptime(pl.Datetime("us"), "%d/%m/%Y %H:%M")
    return orders.with_columns(local.alias("local")).with_columns(
        pl.col("local").dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC").alias("at")
    ).with_columns(
        # a minute in the spring-forward hour does not exist: it was written on the old offset
        pl.when(pl.col("at").is_null())
        .then((pl.col("local") + pl.duration(hours=1)).dt.replace_time_zone(tz, ambiguous="earliest")
              .dt.convert_time_zone("UTC"))
        .otherwise(pl.col("at")).alias("at")
    ).sort("at")


def record_gaps(trading_days: list[date], min_days: int = GAP_DAYS) -> list[tuple[date, date]]:
    """Runs of at least ``min_days`` whole days without an order, as [first empty day, first day back)."""
    days = sorted(set(trading_days))
    return [(a + timedelta(days=1), b) for a, b in zip(days, days[1:], strict=False) if (b - a).days - 1 >= min_days]


def convert_takeaway(path: Path, min_gap_days: int = GAP_DAYS) -> pl.DataFrame:
    """Hourly orders and gmv of the London takeaway; holes in the record get no points."""
    tz = SHOPS["takeaway"].timezone
    orders = read_takeaway_orders(path)
    days = orders["local"].dt.date().to_list()
    start = _local_midnight_utc(min(days), tz)
    end = _local_midnight_utc(max(days) + timedelta(days=1), tz)
    hourly = (orders.with_columns(pl.col("at").dt.truncate("1h").alias("ts"))
              .group_by("ts").agg(pl.len().alias("orders"), pl.col("gmv").sum().round(2)))
    wide = _hour_grid(start, end).join(hourly, on="ts", how="left").fill_null(0)
    for first, back in record_gaps(days, min_gap_days):
        a, b = _local_midnight_utc(first, tz), _local_midnight_utc(back, tz)
        wide = wide.filter((pl.col("ts") < a) | (pl.col("ts") >= b))
    return _long(wide, ("orders", "gmv"))


def convert_cdnow(path: Path) -> pl.DataFrame:
    """Daily orders and gmv of CDNOW, one point per metric at local midnight."""
    rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if rows and not rows[0][0].isdigit():  # header line
        rows = rows[1:]
    frame = pl.DataFrame({"day": [r[1] for r in rows], "value": [float(r[3]) for r in rows]}).with_columns(
        pl.col("day").str.strptime(pl.Date, "%Y%m%d"))
    daily = frame.group_by("day").agg(pl.len().alias("orders"), pl.col("value").sum().round(2).alias("gmv"))
    tz = SHOPS["cdnow"].timezone
    days = pl.DataFrame({"day": pl.date_range(daily["day"].min(), daily["day"].max(), "1d", eager=True)})
    wide = days.join(daily, on="day", how="left").fill_null(0).with_columns(
        pl.col("day").cast(pl.Datetime("us")).dt.replace_time_zone(tz).dt.convert_time_zone("UTC").alias("ts")
    ).drop("day")
    return _long(wide, ("orders", "gmv"))


CONVERTERS: dict[str, Callable[[Path], pl.DataFrame]] = {
    "taobao": convert_taobao, "takeaway": convert_takeaway, "cdnow": convert_cdnow,
}


def points(shop: Shop, data_dir: Path) -> pl.DataFrame:
    """The shop's metric points in the metrics.csv contract (ts as ISO-8601 with Z)."""
    long = CONVERTERS[shop.key](data_dir / shop.file)
    return long.select(
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("ts"),
        pl.lit(shop.platform).alias("platform"), pl.lit(shop.store).alias("store"),
        "metric", "value", pl.lit("").alias("sku"),
    )


# ----------------------------------------------------------------------------------------------------
# labels


@dataclass(frozen=True)
class Event:
    shop: str
    id: str
    type: str
    start: datetime
    end: datetime
    expect: str  # alert: should be caught | data: should get a data alert | optional: alerts welcome, not required
    evidence: str


@dataclass(frozen=True)
class Period:
    shop: str
    start: datetime
    end: datetime
    name: str
    kind: str = ""  # calendar kind (holiday, maintenance, promotion) for calendar entries
    evidence: str = ""


@dataclass
class Labels:
    events: list[Event] = field(default_factory=list)
    calendar: list[Period] = field(default_factory=list)
    quiet: list[Period] = field(default_factory=list)

    def for_shop(self, key: str) -> Labels:
        return Labels([e for e in self.events if e.shop == key], [c for c in self.calendar if c.shop == key],
                      [q for q in self.quiet if q.shop == key])


def _when(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else parse_ts(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"label time {value!r} needs a UTC offset")
    return moment.astimezone(UTC)


def load_labels(path: Path) -> Labels:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    events = [Event(shop=e["shop"], id=e["id"], type=e["type"], start=_when(e["start"]), end=_when(e["end"]),
                    expect=e.get("expect", "alert"), evidence=e.get("evidence", "")) for e in doc.get("events", [])]
    for event in events:
        if event.expect not in ("alert", "data", "optional"):
            raise ValueError(f"{event.id}: expect must be alert, data or optional")
        if event.end <= event.start:
            raise ValueError(f"{event.id}: end must be after start")
    calendar = [Period(c["shop"], _when(c["start"]), _when(c["end"]), c["name"], c.get("kind", "holiday"),
                       c.get("evidence", "")) for c in doc.get("calendar", [])]
    quiet = [Period(q["shop"], _when(q["start"]), _when(q["end"]), q.get("name", "quiet"), "",
                    q.get("evidence", "")) for q in doc.get("quiet", [])]
    return Labels(events, calendar, quiet)


def write_folder(shop: Shop, data_dir: Path, out: Path, labels: Labels) -> int:
    """metrics.csv, stores.csv and calendar.csv of one shop; returns the number of points."""
    out.mkdir(parents=True, exist_ok=True)
    frame = points(shop, data_dir)
    frame.write_csv(out / "metrics.csv")
    pl.DataFrame({"store": [shop.store], "platform": [shop.platform], "name": [shop.name],
                  "timezone": [shop.timezone]}).write_csv(out / "stores.csv")
    iso = "%Y-%m-%dT%H:%M:%SZ"
    calendar = pl.DataFrame(
        {"start": [c.start.strftime(iso) for c in labels.calendar], "end": [c.end.strftime(iso) for c in labels.calendar],
         "platform": [shop.platform] * len(labels.calendar), "store": [shop.store] * len(labels.calendar),
         "name": [c.name for c in labels.calendar], "kind": [c.kind for c in labels.calendar]},
        schema=dict.fromkeys(("start", "end", "platform", "store", "name", "kind"), pl.Utf8))
    calendar.write_csv(out / "calendar.csv")
    return frame.height


# ----------------------------------------------------------------------------------------------------
# scoring


@dataclass
class ShopReport:
    shop: str
    weeks: float
    points: int
    backtest_seconds: float
    business_alerts: int  # firing, warning or worse
    unmatched: int
    unmatched_per_week: float
    unmatched_by_rule: dict[str, int]
    unmatched_alerts: list[str]  # "ts severity rule" of each unmatched alert, for reading
    events_expected: int
    events_caught: int
    caught: list[str]
    missed: list[str]
    optional_events_with_alert: list[str]
    quiet_weeks: float
    quiet_alerts: int
    data_alerts: int
    data_alerts_outside_holes_per_week: float  # firing data alerts not within a day of a labelled hole
    data_events: int
    data_events_reported: list[str]
    data_events_silent: list[str]


def score_shop(alerts_path: Path, shop: Shop, labels: Labels, start: datetime, end: datetime) -> dict[str, Any]:
    """Score one shop's alerts (JSON lines) against its labels; see the module docstring."""
    slack = MATCH_AFTER if shop.step <= timedelta(hours=1) else shop.step
    rows = [json.loads(line) for line in alerts_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rule_of = [r.get("rule") or r.get("metric", "") for r in rows if r.get("state") == "firing"]
    fired = load_alerts(alerts_path)
    business = [(a, rule) for a, rule in zip(fired, rule_of, strict=True)
                if a.kind != "data" and a.severity in WARNING_OR_WORSE and a.store == shop.store]
    data = [a for a in fired if a.kind == "data" and a.store == shop.store]

    def inside(moment: datetime, lo: datetime, hi: datetime) -> bool:
        return lo <= moment <= hi

    caught: set[str] = set()
    unmatched_by_rule: dict[str, int] = {}
    unmatched: list[str] = []
    for alert, rule in business:
        hits = [e.id for e in labels.events if inside(alert.ts, e.start - MATCH_BEFORE, e.end + slack)]
        caught.update(hits)
        if not hits:
            unmatched.append(f"{alert.ts:%Y-%m-%dT%H:%MZ} {alert.severity} {rule}")
            unmatched_by_rule[rule] = unmatched_by_rule.get(rule, 0) + 1
    expected = [e for e in labels.events if e.expect == "alert"]
    data_events = [e for e in labels.events if e.expect == "data"]
    reported = [e.id for e in data_events if any(inside(a.ts, e.start, e.start + timedelta(days=1)) for a in data)]
    stray_data = sum(not any(inside(a.ts, e.start - MATCH_BEFORE, e.end + timedelta(days=1)) for e in data_events)
                     for a in data)
    quiet_alerts = sum(any(inside(a.ts, q.start, q.end) for q in labels.quiet) for a, _ in business)
    weeks = (end - start).total_seconds() / (7 * 86400)
    report = ShopReport(
        shop=shop.key, weeks=weeks, points=0, backtest_seconds=0.0, business_alerts=len(business),
        unmatched=len(unmatched), unmatched_per_week=len(unmatched) / weeks if weeks else 0.0,
        unmatched_by_rule=dict(sorted(unmatched_by_rule.items(), key=lambda kv: -kv[1])), unmatched_alerts=unmatched,
        events_expected=len(expected), events_caught=sum(e.id in caught for e in expected),
        caught=[e.id for e in expected if e.id in caught], missed=[e.id for e in expected if e.id not in caught],
        optional_events_with_alert=[e.id for e in labels.events if e.expect == "optional" and e.id in caught],
        quiet_weeks=sum((q.end - q.start).total_seconds() for q in labels.quiet) / (7 * 86400),
        quiet_alerts=quiet_alerts, data_alerts=len(data),
        data_alerts_outside_holes_per_week=stray_data / weeks if weeks else 0.0, data_events=len(data_events),
        data_events_reported=reported, data_events_silent=[e.id for e in data_events if e.id not in reported],
    )
    return asdict(report)


def backtest_env(code: Path | None) -> dict[str, str] | None:
    """Environment of the backtest: with ``code``, the ``shopsentinel`` package is imported from that folder
    (e.g. ``git archive HEAD shopsentinel | tar -x -C /tmp/head``) instead of the working tree."""
    if code is None:
        return None
    if not (code / "shopsentinel" / "__init__.py").exists():
        raise SystemExit(f"--code {code}: no shopsentinel package there")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH", "")]))}


def run_shop(shop: Shop, args: argparse.Namespace, labels: Labels, console: Console) -> dict[str, Any] | None:
    folder = args.workdir / shop.key
    began = time.perf_counter()
    n_points = write_folder(shop, args.data, folder, labels)
    frame = pl.read_csv(folder / "metrics.csv", columns=["ts"])
    start, end = parse_ts(frame["ts"].min()), parse_ts(frame["ts"].max()) + shop.step
    console.print(f"{shop.key}: {n_points:,} points ({start:%Y-%m-%d} .. {end:%Y-%m-%d}) written to {folder} "
                  f"in {time.perf_counter() - began:.1f}s")
    if args.convert_only:
        return None
    alerts = folder / "alerts.jsonl"
    alerts.unlink(missing_ok=True)
    command = shlex.split(args.backtest_cmd.format(data=folder, alerts=alerts))
    began = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, timeout=args.timeout, env=backtest_env(args.code))
    seconds = time.perf_counter() - began
    if completed.returncode != 0 or not alerts.exists():
        raise SystemExit(f"backtest failed (exit {completed.returncode}); command: {shlex.join(command)}")
    result = score_shop(alerts, shop, labels, start, end)
    result.update(points=n_points, backtest_seconds=round(seconds, 1), start=start.isoformat(), end=end.isoformat())
    return result


def _table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Default rules on real shops (business alerts of warning or worse)")
    for column in ("shop", "weeks", "alerts", "unmatched / week", "events caught", "quiet-period alerts",
                   "data holes reported", "other data alerts / week", "backtest s"):
        table.add_column(column, justify="left" if column == "shop" else "right")
    for key, r in results.items():
        table.add_row(key, f"{r['weeks']:.1f}", str(r["business_alerts"]), f"{r['unmatched_per_week']:.2f}",
                      f"{r['events_caught']}/{r['events_expected']}",
                      f"{r['quiet_alerts']} in {r['quiet_weeks']:.1f} wk",
                      f"{len(r['data_events_reported'])}/{r['data_events']}",
                      f"{r['data_alerts_outside_holes_per_week']:.2f}", f"{r['backtest_seconds']:.1f}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the real shops' files")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--shops", default=",".join(SHOPS), help=f"comma-separated, of {', '.join(SHOPS)}")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "shopsentinel-real-shops")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/real_shops.json")
    parser.add_argument("--backtest-cmd", default=DEFAULT_BACKTEST,
                        help="command template with {data} and {alerts} placeholders")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per backtest")
    parser.add_argument("--code", type=Path, default=None,
                        help="folder holding a shopsentinel package to backtest with instead of the working tree "
                             "(e.g. a `git archive HEAD shopsentinel` export, for before/after comparisons)")
    parser.add_argument("--convert-only", action="store_true", help="write the backtest folders and stop")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.shops.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SHOPS]
    if unknown:
        parser.error(f"unknown shop(s) {', '.join(unknown)}; choose from {', '.join(SHOPS)}")
    labels = load_labels(args.labels)
    console = Console(width=160)
    results: dict[str, dict[str, Any]] = {}
    for key in keys:
        result = run_shop(SHOPS[key], args, labels.for_shop(key), console)
        if result is not None:
            results[key] = result
            if result["missed"]:
                console.print(f"{key}: missed {', '.join(result['missed'])}")
            if result["unmatched_by_rule"]:
                top = ", ".join(f"{rule} ×{n}" for rule, n in list(result["unmatched_by_rule"].items())[:5])
                console.print(f"{key}: unmatched alerts by rule: {top}")
    if not results:
        return 0
    console.print(_table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"labels": str(args.labels), "code": str(args.code or REPO), "shops": results}, indent=2, ensure_ascii=False))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
