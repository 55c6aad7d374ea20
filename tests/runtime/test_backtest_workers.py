"""The backtest's worker processes change nothing but the time: the same alerts, in the same order,
whether the shards run in this process or in spawned workers, and whether the workers start before
the metrics file is read (stores.csv lists several stores) or after it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shopsentinel.runtime.backtest import run_backtest
from shopsentinel.sim.fleet import FleetSpec, generate_fleet, write_fleet


def lines(directory: Path, workers: int) -> list[str]:
    result = run_backtest(directory, workers=workers)
    return [json.dumps(line, ensure_ascii=False) for event in result.events for line in event.lines()]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fleet")
    write_fleet(generate_fleet(FleetSpec(stores=3, days=28, seed=11)), target)
    return target


def test_workers_give_the_alerts_of_one_process(fleet: Path, tmp_path: Path) -> None:
    alone = lines(fleet, workers=1)
    assert len(alone) > 0
    assert lines(fleet, workers=2) == alone  # stores.csv lists 3 stores: the workers start before the read
    unlisted = tmp_path / "unlisted"
    shutil.copytree(fleet, unlisted)
    (unlisted / "stores.csv").unlink()  # no store list: the workers start once the file has been read
    assert lines(unlisted, workers=2) == lines(unlisted, workers=1)
