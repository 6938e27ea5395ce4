"""Quantization of a piece onto the token grid: the exact form the token language round-trips.

A `Window` is what the model sees: W consecutive bars (each with its time signature) of a few
tracks, every note snapped to 12 ticks per quarter, its duration snapped to a duration token, its
velocity to a bin and (optionally) its onset deviation to a microtiming step. `encode(window)` and
`decode` are exact inverses on this form, so "lossless on the grid" means
`decode(encode(window_from_piece(p))) == window_from_piece(p)`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

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


def velocity_bin(vocab: Vocabulary, velocity: int) -> int:
    return min(vocab.velocity_bins - 1, max(0, velocity) * vocab.velocity_bins // 128)


def bin_velocity(vocab: Vocabulary, vbin: int) -> int:
    """The MIDI velocity a bin decodes to: the middle of the bin."""
    width = 128 // vocab.velocity_bins
    return min(127, vbin * width + width // 2)


def default_velocity_bin(vocab: Vocabulary) -> int:
    """Bin used for every note when velocity is switched off (MIDI velocity 80)."""
    return velocity_bin(vocab, 80)


def snap_duration(vocab: Vocabulary, ticks: int, limit: int) -> int:
    """Nearest duration token value (ties go to the shorter), never longer than `limit` ticks."""
    durs = vocab.durations
    fit = bisect.bisect_right(durs, max(limit, durs[0]))  # durations that end inside the window
    i = bisect.bisect_left(durs, ticks, 0, fit)
    if i == fit:
        return durs[fit - 1]
    if i == 0 or durs[i] == ticks:
        return durs[i]
    below, above = durs[i - 1], durs[i]
    return above if above - ticks < ticks - below else below


def check_bar(vocab: Vocabulary, bar: Bar) -> str:
    """The bar's signature as a token value; unsupported or cut-short bars are an error."""
    ts = str(bar.time_signature)
    if ts not in vocab.time_signatures:
        raise LanguageError(
            f"bar {bar.index + 1} is in {ts}, which the language does not support "
            f"(supported: {' '.join(vocab.time_signatures)})"
        )
    if not bar.regular:
        raise LanguageError(
            f"bar {bar.index + 1} is {bar.length:g} quarters long but its signature {ts} "
            f"needs {bar.time_signature.quarters:g} (a signature change cuts it short)"
        )
    return ts


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
    previous bar's signature). Notes belong to the bar their snapped onset falls in; durations
    are clipped at the window end; notes sounding into the window from earlier bars are dropped.
    """
    grid = piece.bars()
    bars = list(range(len(grid))) if bars is None else list(bars)
    tracks = list(range(len(piece.tracks))) if tracks is None else list(tracks)
    tpq, steps = vocab.ticks_per_quarter, vocab.mt_steps
    sigs: list[str] = []
    for b in bars:
        if b < 0:
            raise LanguageError(f"bar index {b} is negative")
        sigs.append(check_bar(vocab, grid[b]) if b < len(grid) else (sigs or ["4/4"])[-1])
    ticks = [vocab.bar_ticks(ts) for ts in sigs]
    window_end = sum(ticks)
    window_start = {}  # source bar -> window positions (a wrap bar repeats one)
    for pos, b in enumerate(bars):
        window_start.setdefault(b, []).append(pos)
    starts = [0]
    for n in ticks[:-1]:
        starts.append(starts[-1] + n)
    # Absolute tick of every source bar line, to place each snapped onset in its bar.
    grid_starts = [round(bar.start * tpq) for bar in grid]
    default_vbin = default_velocity_bin(vocab)
    out = Window(sigs)
    for ti in tracks:
        track = piece.tracks[ti]
        cells: list[dict[tuple[int, int], GridNote]] = [{} for _ in bars]
        for note in track.notes:
            sub = int(note.start * tpq * steps + 0.5)
            tick_abs = (sub + steps // 2) // steps if microtiming else int(note.start * tpq + 0.5)
            offset = sub - tick_abs * steps if microtiming else 0
            b = bisect.bisect_right(grid_starts, tick_abs) - 1
            if b < 0 or b not in window_start:
                continue
            if tick_abs - grid_starts[b] >= ticks[window_start[b][0]]:
                continue  # in the padding after the piece's last bar line
            vbin = velocity_bin(vocab, note.velocity) if velocity else default_vbin
            for pos in window_start[b]:
                tick = tick_abs - grid_starts[b]
                limit = window_end - starts[pos] - tick
                dur = snap_duration(vocab, int(note.duration * tpq + 0.5), limit)
                old = cells[pos].get((tick, note.pitch))
                if old is not None:  # a doubled note: keep one, longest and loudest
                    dur, vbin = max(dur, old.duration), max(vbin, old.velocity)
                cells[pos][(tick, note.pitch)] = GridNote(tick, note.pitch, dur, vbin, offset)
        out.tracks.append(
            WindowTrack(
                track.program,
                track.is_drum,
                [sorted(c.values()) for c in cells],
                track.name,
            )
        )
    return out


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
