"""From per-hour conditions to alert episodes: one start and one end per problem.

A condition must hold for ``for_steps`` consecutive evaluations before an alert fires
(pending → firing) and must be clearly over for ``keep_steps`` consecutive evaluations before
it resolves (keep-firing with hysteresis), so a flapping metric pages once. Hours without data
neither advance nor reset either count: a gap never resolves or fires anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Episode:
    column: int
    start: int  # index at which the alert started firing
    end: int | None  # index at which it resolved; None while still firing at the end


def _counted_runs(hit: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Per column, how many known ``hit`` steps in a row end at each index (unknown steps are
    skipped, a known miss resets)."""
    steps = hit.shape[0]
    idx = np.arange(steps)[:, None]
    breaks = known & ~hit
    last_break = np.maximum.accumulate(np.where(breaks, idx, -1), axis=0)
    counted = np.cumsum(hit & known, axis=0)
    before = np.where(last_break >= 0, np.take_along_axis(counted, np.clip(last_break, 0, None), axis=0), 0)
    return np.where(hit & known, counted - before, 0)


def episodes(
    fire: np.ndarray,
    clear: np.ndarray,
    known: np.ndarray,
    *,
    for_steps: int,
    keep_steps: int,
) -> list[Episode]:
    """All firing episodes of every column of the ``T × S`` condition matrices."""
    for_steps, keep_steps = max(1, for_steps), max(1, keep_steps)
    fire = fire & known
    clear = clear & known & ~fire
    fire_runs = _counted_runs(fire, known)
    starts_at = fire_runs == for_steps
    columns = np.nonzero(starts_at.any(axis=0))[0]
    if columns.size == 0:
        return []
    clear_runs = _counted_runs(clear[:, columns], known[:, columns])
    ends_at = clear_runs == keep_steps
    out: list[Episode] = []
    for j, col in enumerate(columns):
        starts = np.nonzero(starts_at[:, col])[0]
        ends = np.nonzero(ends_at[:, j])[0]
        position = -1
        while True:
            k = np.searchsorted(starts, position, side="right")
            if k >= starts.size:
                break
            start = int(starts[k])
            e = np.searchsorted(ends, start, side="right")
            if e >= ends.size:
                out.append(Episode(int(col), start, None))
                break
            end = int(ends[e])
            out.append(Episode(int(col), start, end))
            position = end
    return out


@dataclass(frozen=True)
class Pending:
    column: int
    since: int  # index of the first step of the current run
    steps: int  # known firing steps so far (< for_steps)


def pending(fire: np.ndarray, known: np.ndarray, *, for_steps: int, firing_columns: set[int]) -> list[Pending]:
    """Columns whose condition holds at the last step but not yet for ``for_steps`` (pending → firing
    if it keeps holding). Columns already firing are left out; a gap at the last step is no news."""
    for_steps = max(1, for_steps)
    if fire.shape[0] == 0 or for_steps == 1:
        return []
    fire = fire & known
    runs = _counted_runs(fire, known)[-1]
    out: list[Pending] = []
    for col in np.nonzero((runs > 0) & (runs < for_steps))[0]:
        if int(col) in firing_columns:
            continue
        need, at = int(runs[col]), fire.shape[0] - 1
        while need > 0:  # walk back over the run (unknown steps are skipped, not counted)
            need -= int(fire[at, col])
            at -= 1 if need > 0 else 0
        out.append(Pending(int(col), at, int(runs[col])))
    return out

