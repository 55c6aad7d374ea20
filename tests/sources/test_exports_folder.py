"""The watched export folder: each file once, corrected files again, a bad file reported, not blocking."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from shopsentinel.core.clock import ManualClock
from shopsentinel.ingest.folder import import_folder
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exports"
NOW = datetime(2026, 11, 5, tzinfo=UTC)


def test_folder_imports_new_files_once_and_reports_bad_ones(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "tmall" / "tm-1").mkdir(parents=True)
    (inbox / "amazon" / "amz-1").mkdir(parents=True)
    shutil.copy(FIXTURES / "sycm_hourly.csv", inbox / "tmall" / "tm-1")
    shutil.copy(FIXTURES / "sycm_malformed.csv", inbox / "tmall" / "tm-1")
    shutil.copy(FIXTURES / "amazon_business_report.csv", inbox / "amazon" / "amz-1")
    clock = ManualClock(NOW)
    with SyncDB(":memory:") as db:
        db.put_store(StoreRecord("amazon", "amz-1", "America/Los_Angeles", NOW, {}))
        first = import_folder(db, inbox, clock=clock)
        second = import_folder(db, inbox, clock=clock)
        fixed = inbox / "tmall" / "tm-1" / "sycm_malformed.csv"
        fixed.write_text(fixed.read_text(encoding="utf-8").replace("¥1,2x4.00", "¥1,204.00"), encoding="utf-8")
        os.utime(fixed, (NOW.timestamp() + 60, NOW.timestamp() + 60))
        third = import_folder(db, inbox, clock=clock)
        amazon = db.points("amazon", "amz-1")
    assert sorted(Path(p).name for p in first.imported) == ["amazon_business_report.csv", "sycm_hourly.csv"]
    (bad,) = first.failed.values()
    assert "line 5" in bad and "支付金额" in bad
    assert second.imported == {} and second.failed == {} and second.skipped == 3  # the bad file waits until it changes
    assert list(third.imported) == [str(fixed)] and third.skipped == 2
    assert amazon["ts"].min() == datetime(2026, 11, 1, 7, tzinfo=UTC)  # the registered store's zone (PDT)
