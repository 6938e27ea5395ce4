"""The window plan: the ordered generation steps that fill a selection, like MIDI-GPT's
bars_per_step / tracks_per_step. Pure integer arithmetic, so it is cheap to test exhaustively.

The model sees W consecutive bars of up to T tracks; each (track, bar) cell is context (its current
notes) or a hole the model fills. Indices are 0-based (the CLI converts the user's 1-based bars).

Modes (the "bar sequence" is what windows are cut from; a bar's position in it is its index):
- infill: the selected cells are regenerated; bars lie in [0, n_bars). Sequence: 0..n_bars-1.
- continue: `new_bars` N bars are appended; every selection must be exactly n_bars..n_bars+N-1 (it
  only names the tracks to write; unselected tracks stay silent there). A step's sequence ends at
  its chunk's last bar, so no window shows an empty future bar as fake context. For the same
  reason, selected tracks of later track groups (still empty in this chunk) are left out of the
  step's context tracks.
- loop: all selections share the loop range [L, L+N) inside the piece. Sequence: 0..L+N-1, then
  a wrap bar = L again (bar L's content at that step), so the filled bars lead back into the loop's
  start. Later bars are unused. The last chunk's windows end with the wrap bar whenever it fits,
  which is required (last chunk < W bars) when the loop takes several chunks.

Steps: the union of the selected bars is tiled in order into chunks spanning at most
bars_per_step bars (default max(1, W // 2)); the selected tracks are split, in source order, into
groups of tracks_per_step (default min(#selected tracks, T)). Steps go chunk by chunk in time order
and, inside a chunk, group by group, so all tracks of earlier bars exist before later bars are
written. Chunks are shared by all groups (not tiled per group) to keep that ordering simple.
A step fills exactly its group's selected cells inside its chunk.

Window: length min(W, len(sequence)); after the chunk min(available, (length - chunk) // 2) bars,
the rest before it (clamped at the sequence start, then extended after). Tracks: the step's fill
tracks, then the other tracks in source order as context, capped at T in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Mode = Literal["infill", "continue", "loop"]
MODES = ("infill", "continue", "loop")
MAX_NEW_BARS = 64  # bars one continue may add: the CLI's and the protocol's limit


@dataclass(frozen=True)
class Selection:
    """One track's inclusive bar range; a selection is a list of these (disjoint per track)."""

    track: int
    first_bar: int
    last_bar: int


@dataclass(frozen=True)
class Step:
    """One model call. `fill` is in source indices because the engine writes results back into
    the piece; `holes()` gives the same cells in window coordinates for the token encoder."""

    bars: tuple[int, ...]  # bar indices of the (extended) piece; in loop mode may end with L again
    tracks: tuple[int, ...]  # source tracks in window order: fill tracks first, then context
    fill: tuple[tuple[int, int], ...]  # (track, bar) holes in generation order: by track, then bar

    def holes(self) -> list[tuple[int, int]]:
        """(track position, bar position) per hole. A hole's bar is never the wrap bar, and the
        wrap bar is always last, so a bar's first occurrence in `bars` is the right one."""
        return [(self.tracks.index(t), self.bars.index(b)) for t, b in self.fill]


def plan(
    n_bars: int,
    n_tracks: int,
    selection: Sequence[Selection],
    mode: Mode,
    window: int,
    max_tracks: int,
    bars_per_step: int | None = None,
    tracks_per_step: int | None = None,
    new_bars: int = 0,
) -> list[Step]:
    """The ordered steps that fill every selected cell exactly once (see the module docstring)."""
    _validate(n_bars, n_tracks, selection, mode, window, max_tracks, new_bars)
    bps = max(1, window // 2) if bars_per_step is None else bars_per_step
    if not 1 <= bps <= window:
        raise ValueError(f"bars_per_step {bps} must be between 1 and the window ({window})")
    selected = sorted({s.track for s in selection})
    tps = min(len(selected), max_tracks) if tracks_per_step is None else tracks_per_step
    if not 1 <= tps <= max_tracks:
        raise ValueError(f"tracks_per_step {tps} must be between 1 and max_tracks ({max_tracks})")

    cells = {(s.track, b) for s in selection for b in range(s.first_bar, s.last_bar + 1)}
    groups = [selected[i : i + tps] for i in range(0, len(selected), tps)]
    chunks = _chunks(sorted({b for _, b in cells}), bps)
    if mode == "loop" and len(chunks) > 1 and len(chunks[-1]) >= window:
        raise ValueError(
            f"the loop needs several steps, so its last chunk ({len(chunks[-1])} bars) must be "
            f"shorter than the window ({window}) to leave room for the wrap bar; "
            "lower bars_per_step"
        )

    steps = []
    for i, chunk in enumerate(chunks):
        if mode == "infill":
            sequence = list(range(n_bars))
        elif mode == "continue":
            sequence = list(range(chunk[-1] + 1))
        else:  # loop: bars up to the loop's end, then the wrap bar
            sequence = list(range(chunks[-1][-1] + 1)) + [chunks[0][0]]
        wrap = mode == "loop" and i == len(chunks) - 1
        start, length = _place(len(sequence), chunk[0], chunk[-1], window, wrap)
        bars = tuple(sequence[start : start + length])
        for g, group in enumerate(groups):
            fill = tuple((t, b) for t in group for b in chunk if (t, b) in cells)
            if not fill:
                continue
            fill_tracks = [t for t in group if any(ft == t for ft, _ in fill)]
            pending = set(selected[(g + 1) * tps :]) if mode == "continue" else set()
            context = [t for t in range(n_tracks) if t not in fill_tracks and t not in pending]
            steps.append(Step(bars, tuple(fill_tracks + context)[:max_tracks], fill))
    return steps


def _chunks(bars: list[int], bars_per_step: int) -> list[list[int]]:
    """Greedy tiling: each chunk starts at the first untaken bar and takes the selected bars within
    bars_per_step of it, so gaps in the selection never stretch a chunk past the window."""
    chunks: list[list[int]] = []
    for b in bars:
        if chunks and b < chunks[-1][0] + bars_per_step:
            chunks[-1].append(b)
        else:
            chunks.append([b])
    return chunks


def _place(seq_len: int, first: int, last: int, window: int, wrap: bool) -> tuple[int, int]:
    """(start, length) of the window in the bar sequence; `wrap` forces the loop's wrap bar in."""
    length = min(window, seq_len)
    n = last - first + 1
    after = min(seq_len - 1 - last, (length - n) // 2)
    if wrap and length > n:
        after = 1  # the wrap bar is the only bar after the loop's last chunk
    before = min(first, length - n - after)
    return first - before, length


def _validate(
    n_bars: int,
    n_tracks: int,
    selection: Sequence[Selection],
    mode: str,
    window: int,
    max_tracks: int,
    new_bars: int,
) -> None:
    """Reject bad requests up front with a message a user (or the CLI) can act on."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if window < 1 or max_tracks < 1:
        raise ValueError(f"window ({window}) and max_tracks ({max_tracks}) must be >= 1")
    if n_bars < 0 or n_tracks < 1:
        raise ValueError(f"bad piece size: {n_bars} bars, {n_tracks} tracks")
    if not selection:
        raise ValueError("empty selection")
    if mode == "continue" and new_bars < 1:
        raise ValueError(f"continue needs new_bars >= 1, got {new_bars}")
    if mode != "continue" and new_bars != 0:
        raise ValueError(f"new_bars only applies to continue, not {mode}")
    for s in selection:
        if not 0 <= s.track < n_tracks:
            raise ValueError(f"track {s.track} out of range (piece has {n_tracks} tracks)")
        if s.first_bar > s.last_bar:
            raise ValueError(f"track {s.track}: first_bar {s.first_bar} > last_bar {s.last_bar}")
        if s.first_bar < 0:
            raise ValueError(f"track {s.track}: bar {s.first_bar} out of range")
        if mode == "continue" and (s.first_bar, s.last_bar) != (n_bars, n_bars + new_bars - 1):
            raise ValueError(
                f"track {s.track}: continue writes bars {n_bars}..{n_bars + new_bars - 1}, "
                f"not {s.first_bar}..{s.last_bar}"
            )
        if mode == "loop" and s.last_bar >= n_bars:
            raise ValueError(f"loop {s.first_bar}..{s.last_bar} runs past the {n_bars}-bar piece")
        if mode == "infill" and s.last_bar >= n_bars:
            raise ValueError(f"track {s.track}: bar {s.last_bar} out of range ({n_bars} bars)")
    if mode == "loop" and len({(s.first_bar, s.last_bar) for s in selection}) > 1:
        raise ValueError("loop selections must all share the same bar range (the loop)")
    ranges = sorted((s.track, s.first_bar, s.last_bar) for s in selection)
    for (t0, _, last0), (t1, first1, _) in zip(ranges, ranges[1:]):
        if t0 == t1 and first1 <= last0:
            raise ValueError(f"track {t0}: selections overlap at bar {first1}")
