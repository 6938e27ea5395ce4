"""Hypothesis strategies for windows on the token grid, shared by the language and grammar tests."""

from hypothesis import strategies as st

from midigen.server.language import vocab as vocab_mod
from midigen.server.language.controls import Controls
from midigen.server.language.grid import GridNote, Window, WindowTrack, default_velocity_bin

VOCAB = vocab_mod.default()


@st.composite
def windows(draw, max_bars=5, max_tracks=4, max_notes=12, velocity=None, microtiming=None):
    """A random window (notes exactly on the grid) with the flags it was drawn for."""
    v = VOCAB
    vel_on = draw(st.booleans()) if velocity is None else velocity
    mt_on = draw(st.booleans()) if microtiming is None else microtiming
    sigs = draw(st.lists(st.sampled_from(v.time_signatures), min_size=1, max_size=max_bars))
    ticks = [v.bar_ticks(s) for s in sigs]
    end = sum(ticks)
    offsets = [0, *v["mt"].values] if mt_on else [0]
    tracks = []
    for _ in range(draw(st.integers(1, max_tracks))):
        bars, start = [], 0
        for n in ticks:
            cells = {}
            for _ in range(draw(st.integers(0, max_notes))):
                tick = draw(st.integers(0, n - 1))
                pitch = draw(st.integers(0, 127))
                fits = [d for d in v.durations if d <= end - start - tick]
                vel = draw(st.integers(0, v.velocity_bins - 1)) if vel_on else None
                cells[tick, pitch] = GridNote(
                    tick,
                    pitch,
                    draw(st.sampled_from(fits)),
                    default_velocity_bin(v) if vel is None else vel,
                    # nothing can sound before the window starts
                    draw(st.sampled_from([o for o in offsets if o >= 0 or start + tick > 0])),
                )
            bars.append(sorted(cells.values()))
            start += n
        tracks.append(WindowTrack(draw(st.integers(0, 127)), draw(st.booleans()), bars))
    return Window(sigs, tracks), vel_on, mt_on


@st.composite
def holes_for(draw, window):
    cells = [(t, b) for t in range(len(window.tracks)) for b in range(len(window.time_signatures))]
    return draw(st.lists(st.sampled_from(cells), unique=True, max_size=len(cells)))


@st.composite
def requests(draw):
    """Controls a user could ask for, hard limits included (None = any)."""
    opt = lambda s: st.one_of(st.none(), s)  # noqa: E731
    lo = draw(opt(st.integers(0, 5)))
    hi = draw(opt(st.integers(lo or 0, 5)))
    pmax = draw(opt(st.integers(1, 10)))
    pmin = draw(opt(st.integers(1, pmax or 10)))
    return Controls(draw(opt(st.integers(1, 10))), pmin, pmax, lo, hi)
