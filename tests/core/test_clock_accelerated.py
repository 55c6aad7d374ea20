"""The live demo's accelerated clock: still until started, then ``speed`` times the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shopsentinel.core.clock import AcceleratedClock

ORIGIN = datetime(2026, 11, 1, tzinfo=UTC)


def test_stands_still_until_started_then_runs_speed_times_faster() -> None:
    wall = [100.0]
    clock = AcceleratedClock(ORIGIN, speed=3600, monotonic=lambda: wall[0])
    wall[0] = 150.0
    assert clock.now() == ORIGIN
    clock.start()
    wall[0] = 152.5
    assert clock.now() == ORIGIN + timedelta(hours=2.5)
    clock.start()  # a second start changes nothing
    assert clock.now() == ORIGIN + timedelta(hours=2.5)
    assert clock.freeze() == ORIGIN + timedelta(hours=2.5)
    wall[0] = 500.0
    assert clock.now() == ORIGIN + timedelta(hours=2.5)  # frozen: the wall clock no longer moves it


def test_rejects_naive_origin_and_non_positive_speed() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AcceleratedClock(datetime(2026, 11, 1), speed=1)
    with pytest.raises(ValueError, match="positive"):
        AcceleratedClock(ORIGIN, speed=0)
