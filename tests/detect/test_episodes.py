"""episodes(): pending → firing after ``for_steps``, resolved after ``keep_steps`` clear steps,
flapping pages once, unknown steps neither fire nor resolve."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shopsentinel.detect.episodes import Episode, episodes

F, C, N, U = "F", "C", "N", "U"  # fire, clear, neither, unknown


def mats(steps: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fire = np.array([s == F for s in steps])[:, None]
    clear = np.array([s == C for s in steps])[:, None]
    known = np.array([s != U for s in steps])[:, None]
    return fire, clear, known


def run(steps: str, for_steps: int, keep_steps: int) -> list[tuple[int, int | None]]:
    fire, clear, known = mats(steps)
    return [(e.start, e.end) for e in episodes(fire, clear, known, for_steps=for_steps, keep_steps=keep_steps)]


def reference(fire: list[bool], clear: list[bool], known: list[bool], for_steps: int, keep_steps: int) -> list[tuple[int, int | None]]:
    """The lifecycle as a plain loop over time (one column)."""
    for_steps, keep_steps = max(1, for_steps), max(1, keep_steps)
    out: list[tuple[int, int | None]] = []
    firing = False
    run_fire = run_clear = 0
    start = -1
    for t, (f, c, k) in enumerate(zip(fire, clear, known, strict=True)):
        if not k:
            continue  # no data: nothing advances, nothing resets
        f_hit = f
        c_hit = c and not f
        if not firing:
            run_fire = run_fire + 1 if f_hit else 0
            if run_fire >= for_steps:
                firing, start, run_clear = True, t, 0
        else:
            run_clear = run_clear + 1 if c_hit else 0
            if run_clear >= keep_steps:
                out.append((start, t))
                firing, run_fire = False, 0
    if firing:
        out.append((start, None))
    return out


def test_pending_then_firing_after_for_steps() -> None:
    assert run("NNFFFCNNNN", 3, 1) == [(4, 5)]
    assert run("NNFFFNNNNN", 3, 1) == [(4, None)]  # "neither" is not clear enough to resolve
    assert run("NNFFNNNNNN", 3, 1) == []  # pending never became firing
    assert run("FC", 1, 1) == [(0, 1)]


def test_resolves_after_keep_steps_clear_steps() -> None:
    assert run("FFCCCN", 1, 3) == [(0, 4)]
    assert run("FFCCNCCC", 1, 3) == [(0, 7)]  # "neither" resets the clear count
    assert run("FFCC", 1, 3) == [(0, None)]  # still firing at the end


def test_flapping_does_not_create_a_second_episode() -> None:
    assert run("FFCFCFCFCFFCCCN", 2, 3) == [(1, 13)]


def test_new_episode_after_resolution() -> None:
    assert run("FFCCFF", 2, 2) == [(1, 3), (5, None)]


def test_unknown_steps_neither_fire_nor_resolve() -> None:
    assert run("FUUFUF", 3, 1) == [(5, None)]  # the fire count survives the gap
    assert run("FFUUUUUU", 1, 1) == [(0, None)]  # a gap never resolves
    assert run("FCUUUU", 1, 2) == [(0, None)]
    assert run("FCUC", 1, 2) == [(0, 3)]
    assert run("UUUU", 1, 1) == []


def test_fire_wins_over_clear_and_requires_known() -> None:
    fire = np.array([[True], [True], [False]])
    clear = np.array([[True], [True], [True]])
    known = np.array([[True], [True], [True]])
    assert episodes(fire, clear, known, for_steps=1, keep_steps=1) == [Episode(0, 0, 2)]
    known_false = np.zeros((3, 1), dtype=bool)
    assert episodes(fire, clear, known_false, for_steps=1, keep_steps=1) == []


def test_columns_are_independent() -> None:
    a, b = "FFCCN", "NNFFF"
    fire = np.concatenate([mats(a)[0], mats(b)[0]], axis=1)
    clear = np.concatenate([mats(a)[1], mats(b)[1]], axis=1)
    known = np.concatenate([mats(a)[2], mats(b)[2]], axis=1)
    got = sorted((e.column, e.start, e.end) for e in episodes(fire, clear, known, for_steps=2, keep_steps=2))
    assert got == [(0, 1, 3), (1, 3, None)]


def test_zero_steps_count_as_one() -> None:
    assert run("NFC", 0, 0) == [(1, 2)]


step_codes = st.lists(st.sampled_from([F, C, N, U]), min_size=1, max_size=60).map("".join)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(steps=step_codes, for_steps=st.integers(0, 5), keep_steps=st.integers(0, 5))
def test_matches_reference_loop(steps: str, for_steps: int, keep_steps: int) -> None:
    fire, clear, known = mats(steps)
    want = reference(list(fire[:, 0]), list(clear[:, 0]), list(known[:, 0]), for_steps, keep_steps)
    assert run(steps, for_steps, keep_steps) == want


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    data=st.data(),
    width=st.integers(1, 4),
    length=st.integers(1, 40),
    for_steps=st.integers(1, 4),
    keep_steps=st.integers(1, 4),
)
def test_matches_reference_with_overlapping_fire_and_clear(
    data: st.DataObject, width: int, length: int, for_steps: int, keep_steps: int
) -> None:
    """Any boolean matrices (fire and clear may both be set: fire wins), many columns at once."""
    bools = st.lists(st.lists(st.booleans(), min_size=width, max_size=width), min_size=length, max_size=length)
    fire = np.array(data.draw(bools), dtype=bool)
    clear = np.array(data.draw(bools), dtype=bool)
    known = np.array(data.draw(bools), dtype=bool)
    got = sorted((e.column, e.start, e.end if e.end is not None else -1)
                 for e in episodes(fire, clear, known, for_steps=for_steps, keep_steps=keep_steps))
    want = sorted(
        (col, s, e if e is not None else -1)
        for col in range(width)
        for s, e in reference(list(fire[:, col] & known[:, col]), list(clear[:, col]), list(known[:, col]), for_steps, keep_steps)
    )
    assert got == want
    for _, s, e in got:  # invariants: one firing, resolution strictly after it
        assert e == -1 or e > s
