"""The file contracts: metrics.csv|parquet, stores.csv, calendar.csv and their error locations."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.core.errors import ImportFileError, InputError
from shopsentinel.ingest.clean import clean
from shopsentinel.ingest.reader import normalize_frame, parse_utc, read_calendar, read_metrics, read_stores

HEADER = "ts,platform,store,metric,value,sku\n"
GOOD = "2026-03-01T10:00:00Z,tmall,s1,uv,100,\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- parse_utc
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T18:00:00+08:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T05:30:00-04:30", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T02:00:00-08:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00.123456Z", datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-01T10:00:00.5+01:00", datetime(2026, 3, 1, 9, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-01T10:00+00:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01 10:00:00+00:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("  2026-03-01T10:00:00Z  ", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T00:30:00+08:00", datetime(2026, 2, 28, 16, 30, tzinfo=UTC)),
    ],
)
def test_parse_utc_accepts_z_offsets_and_fractions(text: str, expected: datetime) -> None:
    got = pl.DataFrame({"ts": [text]}).select(parse_utc(pl.col("ts"))).item()
    assert got == expected


@pytest.mark.parametrize("text", ["2026-03-01T10:00:00", "2026-03-01", "garbage", "", "10:00:00Z"])
def test_parse_utc_rejects_times_without_offset(text: str) -> None:
    assert pl.DataFrame({"ts": [text]}).select(parse_utc(pl.col("ts"))).item() is None


# --------------------------------------------------------------------------- metrics CSV
def test_read_metrics_canonical_frame(tmp_path: Path) -> None:
    path = write(
        tmp_path, "metrics.csv",
        HEADER
        + "2026-03-01T18:00:00+08:00, tmall , s1 ,uv,100,\n"
        + "2026-03-01T10:00:00Z,tmall,s1,stock,7.5,SKU-1\n",
    )
    frame = read_metrics(path)
    assert frame.columns == ["line", "ts", "platform", "store", "sku", "metric", "value"]
    assert frame.get_column("line").to_list() == [2, 3]
    assert frame.get_column("ts").to_list() == [datetime(2026, 3, 1, 10, tzinfo=UTC)] * 2
    assert frame.get_column("platform").to_list() == ["tmall", "tmall"]
    assert frame.get_column("store").to_list() == ["s1", "s1"]
    assert frame.get_column("sku").to_list() == ["", "SKU-1"]
    assert frame.get_column("value").to_list() == [100.0, 7.5]


def test_read_metrics_reads_every_timestamp_form_in_one_file(tmp_path: Path) -> None:
    """The usual form is parsed first on its own (fast); rows in the other accepted forms are still
    read, and a file all in the usual form gives the same instants."""
    mixed = write(
        tmp_path, "metrics.csv",
        HEADER
        + "2026-03-01T10:00:00Z,tmall,s1,uv,1,\n"
        + "2026-03-01T11:00+00:00,tmall,s1,uv,2,\n"
        + "2026-03-01 20:00:00+08:00,tmall,s1,uv,3,\n"
        + "2026-03-01T13:00:00.5Z,tmall,s1,uv,4,\n",
    )
    expected = [datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 1, 11, tzinfo=UTC),
                datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 1, 13, 0, 0, 500000, tzinfo=UTC)]
    assert read_metrics(mixed).get_column("ts").to_list() == expected
    usual = write(tmp_path, "usual.csv", HEADER + "".join(
        f"{t.strftime('%Y-%m-%dT%H:%M:%S')}{'.5' if t.microsecond else ''}Z,tmall,s1,uv,1,\n" for t in expected))
    assert read_metrics(usual).get_column("ts").to_list() == expected


def test_read_metrics_sku_column_is_optional(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.csv", "ts,platform,store,metric,value\n2026-03-01T10:00:00Z,jd,a,orders,3\n")
    frame = read_metrics(path)
    assert frame.get_column("sku").to_list() == [""]
    assert frame.get_column("value").to_list() == [3.0]


def test_read_metrics_empty_value_is_kept_as_missing_not_zero(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.csv", HEADER + GOOD + "2026-03-01T11:00:00Z,tmall,s1,uv,,\n")
    frame = read_metrics(path)
    assert frame.get_column("value").to_list() == [100.0, None]


@pytest.mark.parametrize(
    ("bad_row", "field", "needle"),
    [
        ("2026-03-01T10:00:00,tmall,s1,uv,5,", "ts", "2026-03-01T10:00:00"),
        ("yesterday,tmall,s1,uv,5,", "ts", "yesterday"),
        ("2026-03-01T10:00:00Z,tmall,s1,uv,abc,", "value", "abc"),
        ("2026-03-01T10:00:00Z,tmall,s1,uv,1e999,", "value", "1e999"),
        ("2026-03-01T10:00:00Z,tmall,s1,uv,12元,", "value", "12元"),
        ("2026-03-01T10:00:00Z,,s1,uv,5,", "platform", "platform"),
        ("2026-03-01T10:00:00Z,tmall,,uv,5,", "store", "store"),
        ("2026-03-01T10:00:00Z,tmall,s1,,5,", "metric", "metric"),
    ],
)
def test_read_metrics_error_names_file_line_and_column(tmp_path: Path, bad_row: str, field: str, needle: str) -> None:
    # header = line 1, two good rows = lines 2 and 3, the bad row is line 4
    path = write(tmp_path, "metrics.csv", HEADER + GOOD + GOOD.replace("10:00", "11:00") + bad_row + "\n" + GOOD.replace("10:00", "12:00"))
    with pytest.raises(ImportFileError) as info:
        read_metrics(path)
    err = info.value
    assert err.file == str(path)
    assert err.line == 4
    assert err.field == field
    text = str(err)
    assert str(path) in text and "line 4" in text and needle in text


def test_read_metrics_reports_first_bad_line_of_several(tmp_path: Path) -> None:
    rows = [GOOD.replace("10:00", f"{h:02d}:00") for h in range(10)]
    rows[6] = "2026-03-01T06:00:00Z,tmall,s1,uv,x,\n"  # line 8
    rows[8] = "2026-03-01T08:00:00Z,tmall,s1,uv,y,\n"  # line 10
    path = write(tmp_path, "metrics.csv", HEADER + "".join(rows))
    with pytest.raises(ImportFileError) as info:
        read_metrics(path)
    assert (info.value.line, info.value.field) == (8, "value")


def test_read_metrics_missing_column_is_reported_on_header_line(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.csv", "ts,platform,store,value\n2026-03-01T10:00:00Z,tmall,s1,5\n")
    with pytest.raises(ImportFileError) as info:
        read_metrics(path)
    assert info.value.line == 1
    assert info.value.field == "metric"
    assert "metric" in str(info.value)


def test_read_metrics_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError) as info:
        read_metrics(tmp_path / "nope.csv")
    assert info.value.file == str(tmp_path / "nope.csv")


def test_import_file_error_is_an_input_error() -> None:
    err = ImportFileError("bad", file="f.csv", line=3, field="value")
    assert isinstance(err, InputError)
    assert str(err) == "f.csv, line 3, column 'value': bad"


def test_read_metrics_store_filter(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.csv", HEADER + GOOD + "2026-03-01T10:00:00Z,tmall,s2,uv,7,\n")
    frame = read_metrics(path, stores=["s2"])
    assert frame.get_column("store").to_list() == ["s2"]
    assert frame.get_column("line").to_list() == [3]


def test_nan_text_value_never_reaches_clean_output(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.csv", HEADER + GOOD + "2026-03-01T11:00:00Z,tmall,s1,uv,nan,\n")
    try:
        frame = read_metrics(path)
    except ImportFileError as exc:  # rejecting it with a location is fine too
        assert (exc.line, exc.field) == (3, "value")
        return
    cleaned, report = clean(frame, default_catalog())
    assert not any(math.isnan(v) for v in cleaned.get_column("value").to_list())
    assert report.missing_values + report.quarantined == 1


# --------------------------------------------------------------------------- metrics Parquet
def test_parquet_with_typed_timestamps(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "ts": [datetime(2026, 3, 1, 18, tzinfo=UTC), datetime(2026, 3, 1, 19, tzinfo=UTC)],
        "platform": ["jd", "jd"], "store": ["a", "a"], "metric": ["uv", "uv"], "value": [1.0, 2.0], "sku": ["", ""],
    }).with_columns(pl.col("ts").dt.convert_time_zone("Asia/Shanghai"))
    path = tmp_path / "metrics.parquet"
    frame.write_parquet(path)
    out = read_metrics(path)
    assert out.get_column("ts").to_list() == [datetime(2026, 3, 1, 18, tzinfo=UTC), datetime(2026, 3, 1, 19, tzinfo=UTC)]
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    assert out.get_column("value").to_list() == [1.0, 2.0]


def test_parquet_naive_timestamps_are_utc(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "ts": [datetime(2026, 3, 1, 10)], "platform": ["jd"], "store": ["a"], "metric": ["uv"], "value": [1], "sku": [""],
    })
    path = tmp_path / "metrics.parquet"
    frame.write_parquet(path)
    assert read_metrics(path).get_column("ts").to_list() == [datetime(2026, 3, 1, 10, tzinfo=UTC)]


def test_parquet_with_string_timestamps_and_bad_row(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "ts": ["2026-03-01T18:00:00+08:00", "2026-03-01T11:00:00Z", "not a time"],
        "platform": ["jd"] * 3, "store": ["a"] * 3, "metric": ["uv"] * 3, "value": [1.0, 2.0, 3.0], "sku": [""] * 3,
    })
    path = tmp_path / "metrics.parquet"
    frame.head(2).write_parquet(path)
    out = read_metrics(path)
    assert out.get_column("ts").to_list() == [datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 1, 11, tzinfo=UTC)]
    frame.write_parquet(path)
    with pytest.raises(ImportFileError) as info:
        read_metrics(path)
    assert info.value.field == "ts"
    assert info.value.line == 3  # Parquet rows are numbered from 1
    assert info.value.file == str(path)


def test_corrupt_parquet_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.parquet", "this is not parquet")
    with pytest.raises(ImportFileError) as info:
        read_metrics(path)
    assert info.value.file == str(path)


# --------------------------------------------------------------------------- stores.csv
def test_read_stores_defaults_and_zones(tmp_path: Path) -> None:
    path = write(
        tmp_path, "stores.csv",
        "store,platform,name,timezone\n"
        "s1,tmall,旗舰店,Asia/Shanghai\n"
        "s2,shopify,,America/Los_Angeles\n"
        "s3,jd,,\n"
        "s4,amazon,,\n",
    )
    stores = read_stores(path)
    assert [(s.store, s.platform, s.name, s.timezone) for s in stores] == [
        ("s1", "tmall", "旗舰店", "Asia/Shanghai"),
        ("s2", "shopify", "s2", "America/Los_Angeles"),
        ("s3", "jd", "s3", "Asia/Shanghai"),
        ("s4", "amazon", "s4", "UTC"),
    ]
    assert str(stores[1].zone) == "America/Los_Angeles"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "PST8", "Asia/Shangai", "+08:00"])
def test_read_stores_bad_zone_reports_line_and_timezone(tmp_path: Path, zone: str) -> None:
    path = write(tmp_path, "stores.csv", f"store,platform,name,timezone\ns1,tmall,a,Asia/Shanghai\ns2,tmall,b,{zone}\n")
    with pytest.raises(ImportFileError) as info:
        read_stores(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 3, "timezone")
    assert zone in str(info.value)


def test_read_stores_duplicate_and_empty(tmp_path: Path) -> None:
    dup = write(tmp_path, "stores.csv", "store,platform,name,timezone\ns1,tmall,a,\ns2,tmall,b,\ns1,tmall,c,\n")
    with pytest.raises(ImportFileError) as info:
        read_stores(dup)
    assert (info.value.line, info.value.field) == (4, "store")
    empty = write(tmp_path, "stores2.csv", "store,platform,name,timezone\ns1,,a,\n")
    with pytest.raises(ImportFileError) as info:
        read_stores(empty)
    assert (info.value.line, info.value.field) == (2, "platform")


def test_same_store_id_on_two_platforms_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "stores.csv", "store,platform,name,timezone\nmain,tmall,,\nmain,jd,,\n")
    assert [(s.platform, s.store) for s in read_stores(path)] == [("tmall", "main"), ("jd", "main")]


# --------------------------------------------------------------------------- calendar.csv
def test_read_calendar_parses_events(tmp_path: Path) -> None:
    path = write(
        tmp_path, "calendar.csv",
        "start,end,platform,store,name,kind\n"
        "2026-11-10T16:00:00Z,2026-11-11T16:00:00Z,tmall,,双11,promotion\n"
        "2026-10-01T00:00:00+08:00,2026-10-08T00:00:00+08:00,,,国庆,holiday\n"
        "2026-09-01T02:00:00Z,2026-09-01T04:00:00Z,jd,s9,维护,\n",
    )
    events = read_calendar(path)
    assert [(e.name, e.kind, e.platform, e.store) for e in events] == [
        ("双11", "promotion", "tmall", ""), ("国庆", "holiday", "", ""), ("维护", "promotion", "jd", "s9"),
    ]
    assert events[1].start == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert events[0].applies_to("tmall", "anything") and not events[0].applies_to("jd", "x")
    assert events[1].applies_to("jd", "x")
    assert events[2].applies_to("jd", "s9") and not events[2].applies_to("jd", "s8")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("2026-11-10,2026-11-11T16:00:00Z,tmall,,x,promotion", "start"),
        ("2026-11-10T16:00:00Z,soon,tmall,,x,promotion", "end"),
        ("2026-11-10T16:00:00Z,2026-11-11T16:00:00Z,tmall,,x,party", "kind"),
        ("2026-11-11T16:00:00Z,2026-11-10T16:00:00Z,tmall,,x,promotion", "end"),
    ],
)
def test_read_calendar_errors(tmp_path: Path, row: str, field: str) -> None:
    path = write(
        tmp_path, "calendar.csv",
        "start,end,platform,store,name,kind\n2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,,,ok,holiday\n" + row + "\n",
    )
    with pytest.raises(ImportFileError) as info:
        read_calendar(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 3, field)


# --------------------------------------------------------------------------- normalize_frame, encodings
def test_normalize_frame_typed_columns(tmp_path: Path) -> None:
    raw = pl.DataFrame({
        "ts": [datetime(2026, 3, 1, 18, tzinfo=UTC), datetime(2026, 3, 1, 19, tzinfo=UTC)],
        "platform": ["jd", "jd"], "store": ["a", "a"], "metric": ["orders", "orders"], "value": [3, 4],
    }).with_columns(pl.col("ts").dt.convert_time_zone("Asia/Tokyo").dt.cast_time_unit("ns"))
    out = normalize_frame(raw, tmp_path / "x.parquet", line_offset=1)
    assert out.get_column("line").to_list() == [1, 2]
    assert out.get_column("ts").to_list() == [datetime(2026, 3, 1, 18, tzinfo=UTC), datetime(2026, 3, 1, 19, tzinfo=UTC)]
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    assert out.get_column("value").to_list() == [3.0, 4.0]
    assert out.get_column("sku").to_list() == ["", ""]


def test_normalize_frame_rejects_numeric_timestamps(tmp_path: Path) -> None:
    raw = pl.DataFrame({"ts": [1772359200], "platform": ["jd"], "store": ["a"], "metric": ["uv"], "value": [1.0]})
    with pytest.raises(ImportFileError) as info:
        normalize_frame(raw, tmp_path / "x.parquet", line_offset=1)
    assert info.value.field == "ts"


def test_parquet_store_filter_keeps_file_line_numbers(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "ts": [datetime(2026, 3, 1, h, tzinfo=UTC) for h in range(4)],
        "platform": ["jd"] * 4, "store": ["a", "b", "a", "b"], "metric": ["uv"] * 4, "value": [1.0, 2.0, 3.0, 4.0], "sku": [""] * 4,
    })
    path = tmp_path / "metrics.parquet"
    frame.write_parquet(path)
    out = read_metrics(path, stores=["b"])
    assert out.get_column("line").to_list() == [2, 4]
    assert out.get_column("value").to_list() == [2.0, 4.0]


def test_utf8_bom_and_crlf_exports(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_bytes(("\ufeff" + HEADER + GOOD + "2026-03-01T11:00:00Z,tmall,s1,uv,101,\n").replace("\n", "\r\n").encode("utf-8"))
    out = read_metrics(path)
    assert out.get_column("value").to_list() == [100.0, 101.0]
    assert out.get_column("line").to_list() == [2, 3]
    assert out.get_column("sku").to_list() == ["", ""]
