from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midigen.server.language.windows import Selection, Step, plan


def test_infill_two_chunks_centered():
    steps = plan(8, 3, [Selection(1, 2, 5)], "infill", window=4, max_tracks=4)
    assert steps == [
        Step(bars=(1, 2, 3, 4), tracks=(1, 0, 2), fill=((1, 2), (1, 3))),
        Step(bars=(3, 4, 5, 6), tracks=(1, 0, 2), fill=((1, 4), (1, 5))),
    ]
    assert [s.holes() for s in steps] == [[(0, 1), (0, 2)], [(0, 1), (0, 2)]]


def test_infill_clamps_at_piece_edges():
    first, last = plan(8, 1, [Selection(0, 0, 7)], "infill", window=4, max_tracks=1)[::3]
    assert first.bars == (0, 1, 2, 3) and first.fill == ((0, 0), (0, 1))
    assert last.bars == (4, 5, 6, 7) and last.fill == ((0, 6), (0, 7))


def test_infill_short_piece_shrinks_window():
    (step,) = plan(3, 1, [Selection(0, 1, 1)], "infill", window=8, max_tracks=1)
    assert step.bars == (0, 1, 2) and step.holes() == [(0, 1)]


def test_infill_gaps_never_stretch_a_chunk():
    sel = [Selection(0, 0, 2), Selection(0, 6, 7)]
    steps = plan(10, 1, sel, "infill", window=4, max_tracks=1)
    assert [s.fill for s in steps] == [((0, 0), (0, 1)), ((0, 2),), ((0, 6), (0, 7))]


def test_continue_six_bars():
    steps = plan(8, 2, [Selection(0, 8, 13)], "continue", window=4, max_tracks=4, new_bars=6)
    assert [s.bars for s in steps] == [(6, 7, 8, 9), (8, 9, 10, 11), (10, 11, 12, 13)]
    assert all(s.tracks == (0, 1) and s.holes() == [(0, 2), (0, 3)] for s in steps)


def test_continue_from_empty_piece():
    steps = plan(0, 1, [Selection(0, 0, 2)], "continue", window=4, max_tracks=1, new_bars=3)
    assert [(s.bars, s.fill) for s in steps] == [((0, 1), ((0, 0), (0, 1))), ((0, 1, 2), ((0, 2),))]


def test_continue_leaves_later_groups_out_of_context():
    sel = [Selection(0, 4, 5), Selection(1, 4, 5)]
    steps = plan(4, 3, sel, "continue", window=4, max_tracks=3, tracks_per_step=1, new_bars=2)
    assert [(s.bars, s.tracks) for s in steps] == [
        ((2, 3, 4, 5), (0, 2)),
        ((2, 3, 4, 5), (1, 0, 2)),
    ]


def test_loop_w4_ends_with_wrap_bar():
    steps = plan(8, 1, [Selection(0, 2, 5)], "loop", window=4, max_tracks=1)
    assert steps == [
        Step(bars=(1, 2, 3, 4), tracks=(0,), fill=((0, 2), (0, 3))),
        Step(bars=(3, 4, 5, 2), tracks=(0,), fill=((0, 4), (0, 5))),
    ]
    assert steps[1].holes() == [(0, 1), (0, 2)]


def test_loop_wrap_bar_wins_over_context_before():
    steps = plan(8, 1, [Selection(0, 0, 5)], "loop", window=4, max_tracks=1, bars_per_step=3)
    assert [s.bars for s in steps] == [(0, 1, 2, 3), (3, 4, 5, 0)]


def test_loop_w8_single_step_sees_wrap():
    (step,) = plan(8, 1, [Selection(0, 2, 5)], "loop", window=8, max_tracks=1)
    assert step.bars == (0, 1, 2, 3, 4, 5, 2)  # bars after the loop are never used
    assert step.holes() == [(0, 2), (0, 3), (0, 4), (0, 5)]


def test_loop_at_piece_start_holes_use_the_real_bar_not_the_wrap():
    (step,) = plan(4, 1, [Selection(0, 0, 3)], "loop", window=8, max_tracks=1)
    assert step.bars == (0, 1, 2, 3, 0)
    assert step.holes() == [(0, 0), (0, 1), (0, 2), (0, 3)]


def test_multitrack_groups_and_track_cap():
    sel = [Selection(t, 0, 1) for t in (0, 2, 4)]
    (step,) = plan(4, 5, sel, "infill", window=4, max_tracks=3)
    assert step.tracks == (0, 2, 4) and len(step.fill) == 6  # no room left for context
    steps = plan(4, 5, sel, "infill", window=4, max_tracks=3, tracks_per_step=2)
    assert [(s.tracks, s.fill) for s in steps] == [
        ((0, 2, 1), ((0, 0), (0, 1), (2, 0), (2, 1))),
        ((4, 0, 1), ((4, 0), (4, 1))),
    ]
    assert steps[0].bars == (0, 1, 2, 3)


def test_steps_go_in_time_order_then_group_order():
    sel = [Selection(0, 0, 3), Selection(1, 2, 5)]
    steps = plan(8, 2, sel, "infill", window=4, max_tracks=2, tracks_per_step=1)
    assert [s.fill for s in steps] == [
        ((0, 0), (0, 1)),
        ((0, 2), (0, 3)),
        ((1, 2), (1, 3)),
        ((1, 4), (1, 5)),
    ]
    assert [s.tracks for s in steps] == [(0, 1), (0, 1), (1, 0), (1, 0)]


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((8, 2, [Selection(2, 0, 1)], "infill"), {}, "track 2 out of range"),
        ((8, 2, [Selection(0, 3, 1)], "infill"), {}, "first_bar 3 > last_bar 1"),
        ((8, 2, [Selection(0, 6, 8)], "infill"), {}, "bar 8 out of range"),
        ((8, 2, [Selection(0, -1, 1)], "infill"), {}, "bar -1 out of range"),
        ((8, 2, [], "infill"), {}, "empty selection"),
        ((8, 2, [Selection(0, 0, 3), Selection(0, 3, 4)], "infill"), {}, "overlap at bar 3"),
        ((8, 2, [Selection(0, 0, 1)], "infill"), {"window": 0}, "window"),
        ((8, 2, [Selection(0, 0, 1)], "infill"), {"tracks_per_step": 3}, "tracks_per_step"),
        ((8, 2, [Selection(0, 0, 1)], "infill"), {"bars_per_step": 5}, "bars_per_step"),
        ((8, 2, [Selection(0, 0, 1)], "infill"), {"new_bars": 2}, "new_bars only"),
        ((8, 2, [Selection(0, 0, 1)], "remix"), {}, "unknown mode"),
        ((8, 2, [Selection(0, 8, 9)], "continue"), {}, "new_bars >= 1"),
        ((8, 2, [Selection(0, 8, 9)], "continue"), {"new_bars": 3}, "writes bars 8..10"),
        ((8, 2, [Selection(0, 4, 9)], "loop"), {}, "past the 8-bar piece"),
        ((8, 2, [Selection(0, 0, 3), Selection(1, 0, 2)], "loop"), {}, "same bar range"),
        ((8, 2, [Selection(0, 0, 7)], "loop"), {"bars_per_step": 4}, "wrap bar"),
    ],
)
def test_validation(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plan(*args, **{"window": 4, "max_tracks": 2, **kwargs})


def _runs(bars):
    """Maximal runs of consecutive bars, as (first, last) pairs."""
    runs = []
    for b in sorted(bars):
        if runs and b == runs[-1][1] + 1:
            runs[-1][1] = b
        else:
            runs.append([b, b])
    return [tuple(r) for r in runs]


@st.composite
def requests(draw):
    mode = draw(st.sampled_from(["infill", "continue", "loop"]))
    n_tracks = draw(st.integers(1, 5))
    window = draw(st.integers(1, 8))
    max_tracks = draw(st.integers(1, 5))
    tracks = draw(st.sets(st.integers(0, n_tracks - 1), min_size=1))
    new_bars = 0
    if mode == "infill":
        n_bars = draw(st.integers(1, 16))
        sel = [
            Selection(t, a, b)
            for t in sorted(tracks)
            for a, b in _runs(draw(st.sets(st.integers(0, n_bars - 1), min_size=1)))
        ]
    elif mode == "continue":
        n_bars, new_bars = draw(st.integers(0, 10)), draw(st.integers(1, 10))
        sel = [Selection(t, n_bars, n_bars + new_bars - 1) for t in tracks]
    else:
        n_bars = draw(st.integers(1, 16))
        length = 1 if window == 1 else draw(st.integers(1, n_bars))
        start = draw(st.integers(0, n_bars - length))
        sel = [Selection(t, start, start + length - 1) for t in tracks]
    bps = draw(st.none() | st.integers(1, max(1, window - (mode == "loop"))))
    tps = draw(st.none() | st.integers(1, max_tracks))
    return (n_bars, n_tracks, sel, mode, window, max_tracks, bps, tps, new_bars)


@settings(max_examples=200, deadline=None)
@given(requests())
def test_plan_invariants(request):
    n_bars, n_tracks, sel, mode, window, max_tracks, bps, tps, new_bars = request
    steps = plan(*request)
    cells = {(s.track, b) for s in sel for b in range(s.first_bar, s.last_bar + 1)}
    assert Counter(c for s in steps for c in s.fill) == Counter(cells)  # each cell exactly once
    selected = {s.track for s in sel}
    done = set()
    for step in steps:
        assert 1 <= len(step.bars) <= window and len(step.tracks) <= max_tracks
        assert len(set(step.tracks)) == len(step.tracks)
        assert all(0 <= t < n_tracks for t in step.tracks)
        holes = step.holes()
        assert holes == sorted(holes)  # by track in window order, then bar
        fill_tracks = sorted({p for p, _ in holes})
        assert fill_tracks == list(range(len(fill_tracks)))  # fill tracks come first
        bar_span = [b for _, b in step.fill]
        assert max(bar_span) - min(bar_span) < (bps or max(1, window // 2))
        wrap = mode == "loop" and step.bars[-2:] == (sel[0].last_bar, sel[0].first_bar)
        real = step.bars[:-1] if wrap else step.bars
        assert list(real) == list(range(real[0], real[0] + len(real)))  # consecutive
        if mode == "continue":  # nothing in view is an empty cell that a later step will write
            for t in step.tracks:
                for b in step.bars:
                    if b >= n_bars and t in selected:
                        assert (t, b) in done or (t, b) in step.fill
            assert len(step.bars) == min(window, max(bar_span) + 1)
        if mode == "infill":
            assert len(step.bars) == min(window, n_bars)
        done.update(step.fill)
    if mode == "loop":
        loop_start, loop_end = sel[0].first_bar, sel[0].last_bar + 1
        assert all(b < loop_end for s in steps for b in s.bars)
        assert len(steps[0].bars) == min(window, loop_end + 1)
        last_chunk = [s for s in steps if any(b == loop_end - 1 for _, b in s.fill)]
        if min(b for s in last_chunk for _, b in s.fill) > loop_start:  # loop needs several chunks
            assert all(s.bars[-2:] == (loop_end - 1, loop_start) for s in last_chunk)
