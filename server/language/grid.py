"""Quantization of a piece onto the token grid: the exact form the token language round-trips.

A `Window` is what the model sees: W consecutive bars (each with its time signature) of a few
tracks, every note snapped to 12 ticks per quarter, its duration snapped to a duration token, its
velocity to a bin and (optionally) its onset deviation to a microtiming step. `encode(window)` and
`decode` are exact inverses on this form, so "lossless on the grid" means
`decode(encode(window_from_piece(p))) == window_from_piece(p)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .meters import describe, shown_meter
from .piece import Bar, Note, Piece, TimeSignature, Track
from .vocab import Vocabulary


class LanguageError(ValueError):
    """Input the token language cannot represent, or a token sequence it cannot read."""


class GridNote(NamedTuple):
    """A note on the grid. A tuple (not a dataclass) because decoding makes thousands of them
    per call and tuple construction is several times cheaper; order is (tick, pitch, ...)."""

    tick: int  # onset inside its bar, 0 <= tick < bar ticks
    pitch: int
    duration: int  # ticks; always one of the vocabulary's duration values
    velocity: int  # velocity bin
    offset: int = 0  # microtiming, in 1/mt_steps of a tick (0 when microtiming is off)


@dataclass
class WindowTrack:
    program: int
    is_drum: bool
    bars: list[list[GridNote]]  # one sorted note list per window bar
    name: str = field(default="", compare=False)  # not part of the language


@dataclass
class Window:
    time_signatures: list[str]  # one per bar, e.g. "6/8"
    tracks: list[WindowTrack] = field(default_factory=list)

    def bar_ticks(self, vocab: Vocabulary) -> list[int]:
        return [vocab.bar_ticks(ts) for ts in self.time_signatures]

    def bar_starts(self, vocab: Vocabulary) -> list[int]:
        starts, t = [], 0
        for n in self.bar_ticks(vocab):
            starts.append(t)
            t += n
        return starts


def velocity_bin(vocab: Vocabulary, velocity: int | np.ndarray) -> int | np.ndarray:
    """Bin of a MIDI velocity (or of an array of them)."""
    bins = vocab.velocity_bins
    return np.minimum(bins - 1, np.maximum(0, velocity) * bins // 128)


def bin_velocity(vocab: Vocabulary, vbin: int) -> int:
    """The MIDI velocity a bin decodes to: the middle of the bin."""
    width = 128 // vocab.velocity_bins
    return min(127, vbin * width + width // 2)


def default_velocity_bin(vocab: Vocabulary) -> int:
    """Bin used for every note when velocity is switched off (MIDI velocity 80)."""
    return int(velocity_bin(vocab, 80))


def check_writable(vocab: Vocabulary, bar: Bar) -> str:
    """The meter a *selected* bar is written in; a bar no meter of the language fits exactly
    is an error naming it (as context it would still be shown, see meters.py)."""
    shown = shown_meter(vocab, bar)
    if not shown.exact:
        raise LanguageError(
            f"{describe(bar)} cannot be generated: the model's language has no meter of "
            f"{bar.length:g} quarters (it has {' '.join(vocab.time_signatures)}); "
            "select other bars (this one can stay as context)"
        )
    return shown.meter


def check_selection(piece: Piece, vocab: Vocabulary, cells: Iterable[tuple[int, int]]) -> None:
    """Refuse a selection of (track, bar) cells (0-based) holding a bar the model cannot write,
    naming the first such selected bar; bars past the piece's end are new bars in the last
    bar's meter."""
    grid = piece.bars()
    last = grid[-1].time_signature
    for b in sorted({b for _, b in cells}):
        check_writable(vocab, grid[b] if b < len(grid) else Bar(b, 0.0, last.quarters, last))


def window_from_piece(
    piece: Piece,
    vocab: Vocabulary,
    bars: Sequence[int] | None = None,
    tracks: Sequence[int] | None = None,
    velocity: bool = True,
    microtiming: bool = False,
) -> Window:
    """Cut and quantize a window: `bars` are source bar indices (0-based, in window order; a bar
    may repeat, e.g. a loop's wrap bar; an index past the last bar is a new empty bar in the
    previous bar's signature). Each bar is shown in the meter meters.py gives it, so any meter
    can be context. Notes belong to the bar their snapped onset falls in; durations are clipped
    at the window end; notes sounding into the window from earlier bars are dropped.
    """
    grid = piece.bars()
    bars = list(range(len(grid))) if bars is None else list(bars)
    tracks = list(range(len(piece.tracks))) if tracks is None else list(tracks)
    sigs: list[str] = []
    for b in bars:
        if b < 0:
            raise LanguageError(f"bar index {b} is negative")
        sigs.append(shown_meter(vocab, grid[b]).meter if b < len(grid) else (sigs or ["4/4"])[-1])
    ticks = [vocab.bar_ticks(ts) for ts in sigs]
    # Window position of each source bar; a repeated bar (a loop's wrap) gets a second pass.
    passes: list[dict[int, int]] = [{}]
    for pos, b in enumerate(bars):
        for mapping in passes:
            if b not in mapping:
                mapping[b] = pos
                break
        else:
            passes.append({b: pos})
    # Bar lines snap as onsets do (half up), so a note on a bar line is always on its first tick.
    starts = np.array([bar.start for bar in grid]) * vocab.ticks_per_quarter
    grid_starts = np.floor(starts + 0.5).astype(np.int64)
    out = Window(sigs)
    for ti in tracks:
        track = piece.tracks[ti]
        cells: list[list[GridNote]] = [[] for _ in bars]
        for mapping in passes:
            _quantize(vocab, track.notes, grid_starts, mapping, ticks, cells, velocity, microtiming)
        out.tracks.append(WindowTrack(track.program, track.is_drum, cells, track.name))
    return out


def _quantize(
    vocab: Vocabulary,
    notes: list[Note],
    grid_starts: np.ndarray,
    mapping: dict[int, int],
    ticks: list[int],
    cells: list[list[GridNote]],
    velocity: bool,
    microtiming: bool,
) -> None:
    """Snap the notes of the source bars in `mapping` into their window positions' cells.

    Vectorised with numpy: the server quantizes a window for every generation step.
    """
    if not notes:
        return
    tpq, steps = vocab.ticks_per_quarter, vocab.mt_steps
    start = np.array([n.start for n in notes])
    sub = np.floor(start * (tpq * steps) + 0.5).astype(np.int64)
    if microtiming:
        tick_abs = (sub + steps // 2) // steps
        offset = sub - tick_abs * steps
    else:
        tick_abs = np.floor(start * tpq + 0.5).astype(np.int64)
        offset = np.zeros(len(notes), dtype=np.int64)
    src = np.searchsorted(grid_starts, tick_abs, side="right") - 1
    lookup = np.full(len(grid_starts) + 1, -1)
    for b, pos in mapping.items():
        if b < len(grid_starts):
            lookup[b] = pos
    pos = lookup[src]  # src is never -1: the first bar line is at tick 0
    ticks_arr = np.array(ticks)
    bar_start = np.concatenate([[0], np.cumsum(ticks_arr)[:-1]])
    tick = tick_abs - grid_starts[src]
    # Not in the padding after the end, nor past the end of a bar longer than its shown meter.
    keep = (pos >= 0) & (tick < ticks_arr[np.maximum(pos, 0)])
    if not keep.any():
        return
    pos, tick, offset, src_idx = pos[keep], tick[keep], offset[keep], np.flatnonzero(keep)
    pitch = np.array([notes[i].pitch for i in src_idx])
    length = np.array([notes[i].duration for i in src_idx])
    if velocity:
        vel = np.array([notes[i].velocity for i in src_idx])
        vbin = velocity_bin(vocab, vel)
    else:
        vbin = np.full(len(pos), default_velocity_bin(vocab))
    # Durations: nearest token value (ties to the shorter), then no longer than the window allows.
    durs = np.array(vocab.durations)
    want = np.maximum(1, np.floor(length * tpq + 0.5).astype(np.int64))
    limit = int(ticks_arr.sum()) - bar_start[pos] - tick
    i = np.searchsorted(durs, want)
    above = durs[np.minimum(i, len(durs) - 1)]
    below = durs[np.maximum(i - 1, 0)]
    dur = np.where((above - want < want - below) | (i == 0), above, below)
    dur = np.where(above == want, above, dur)
    dur = np.minimum(dur, durs[np.searchsorted(durs, limit, side="right") - 1])
    # Doubled notes (same bar, onset and pitch) merge: longest, loudest, earliest offset.
    order = np.lexsort((sub[keep], pitch, tick, pos))
    pos, tick, pitch, dur, vbin, offset = (x[order] for x in (pos, tick, pitch, dur, vbin, offset))
    first = np.ones(len(pos), dtype=bool)
    first[1:] = (pos[1:] != pos[:-1]) | (tick[1:] != tick[:-1]) | (pitch[1:] != pitch[:-1])
    groups = np.flatnonzero(first)
    dur = np.maximum.reduceat(dur, groups)
    vbin = np.maximum.reduceat(vbin, groups)
    rows = zip(
        *(x.tolist() for x in (pos[groups], tick[groups], pitch[groups], dur, vbin, offset[groups]))
    )
    for p, t, n, d, v, o in rows:
        cells[p].append(GridNote(t, n, d, v, o))


def window_to_piece(window: Window, vocab: Vocabulary, tempo: float = 120.0) -> Piece:
    """The window as a piece starting at time 0 (times exact multiples of the grid)."""
    tpq, steps = vocab.ticks_per_quarter, vocab.mt_steps
    starts = window.bar_starts(vocab)
    piece = Piece(tempos=[(0.0, tempo)])
    prev = None
    for start, ts in zip(starts, window.time_signatures):
        if ts != prev:
            num, den = (int(x) for x in ts.split("/"))
            piece.time_signatures.append((start / tpq, TimeSignature(num, den)))
            prev = ts
    piece.length = sum(window.bar_ticks(vocab)) / tpq
    for wt in window.tracks:
        track = Track(wt.program, wt.is_drum, wt.name)
        for start, notes in zip(starts, wt.bars):
            for n in notes:
                onset = max(0, (start + n.tick) * steps + n.offset) / (tpq * steps)
                velocity = bin_velocity(vocab, n.velocity)
                # a late microtimed note would ring past the window: end it at the window end
                duration = min(n.duration / tpq, piece.length - onset)
                track.notes.append(Note(onset, n.pitch, duration, velocity))
        track.notes.sort()
        piece.tracks.append(track)
    return piece
