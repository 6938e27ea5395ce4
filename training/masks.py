"""Where a training window sits and what it leaves for the model to fill.

The mask kinds mirror the fills the server asks for (docs/language.md,
server/language/windows.py); see dataset.py for what each one means and how often it is drawn.
"""

from __future__ import annotations

import numpy as np

from midigen.server.language.piece import Piece
from midigen.server.language.vocab import Vocabulary

KINDS = ("none", "cells", "tracks", "bars", "continue", "loop")


def usable_bars(piece: Piece, vocab: Vocabulary) -> np.ndarray:
    """True for bars the language can encode (supported signature, not cut short)."""
    return np.array([b.regular and str(b.time_signature) in vocab.time_signatures
                     for b in piece.bars()], dtype=bool)  # fmt: skip


def _starts(ok: np.ndarray, length: int) -> np.ndarray:
    """First bars of the runs of `length` usable bars."""
    if len(ok) < length:
        return np.zeros(0, dtype=np.int64)
    run = np.convolve(ok.astype(np.int64), np.ones(length, dtype=np.int64), mode="valid")
    return np.flatnonzero(run == length)


def choose_bars(kind: str, ok: np.ndarray, window_bars: int, short_window: float,
                rng: np.random.Generator) -> tuple[list[int], list[int]] | None:  # fmt: skip
    """(window bars as source indices, source bars that are loop holes); None if none fit.

    A loop window is up to W - 1 bars ending at the loop's last bar, then the wrap bar (the
    loop's first bar again), as server/language/windows.py places the loop's last step. The holes
    are the loop's last step: 1 or 2 bars (W // 2 bars per step); the loop may be longer, its
    earlier bars being context written by earlier steps.
    """
    W = window_bars
    if kind == "loop":
        n = min(W - 1, int(ok.sum()))
        if W < 2 or n < 1:
            return None
        length = int(rng.integers(1, n + 1)) if rng.random() < short_window else n
        starts = _starts(ok, length)
        if not len(starts):
            return None
        first = int(rng.choice(starts))
        body = list(range(first, first + length))
        steps = max(1, W // 2)
        holes = int(rng.integers(1, min(steps, length) + 1))
        end = body[-1]
        loop_len = int(rng.integers(holes, holes + W + 1))  # the loop itself may reach further back
        wrap = end - loop_len + 1
        if wrap < 0 or not ok[wrap]:
            wrap = end - holes + 1  # a loop exactly as long as its last step
        return [*body, wrap], body[-holes:]
    length = min(W, len(ok))
    if length > 1 and rng.random() < short_window:
        length = int(rng.integers(1, length))
    for n in range(length, 0, -1):  # pieces with odd bars: take the longest run that fits
        starts = _starts(ok, n)
        if len(starts):
            first = int(rng.choice(starts))
            return list(range(first, first + n)), []
    return None


def choose_tracks(n: int, cap: int, rng: np.random.Generator, all_tracks: float) -> list[int]:
    """Source tracks in source order: all of them (up to cap) or a random subset."""
    k = min(n, cap) if rng.random() < all_tracks else int(rng.integers(1, min(n, cap) + 1))
    return sorted(rng.choice(n, size=k, replace=False).tolist())


def _some(n: int, rng: np.random.Generator) -> list[int]:
    """A non-empty random subset of range(n), small subsets as likely as large ones."""
    k = int(rng.integers(1, n + 1))
    return sorted(rng.choice(n, size=k, replace=False).tolist())


def choose_holes(kind: str, n_tracks: int, n_bars: int, loop_bars: list[int],
                 rng: np.random.Generator, W: int,
                 ) -> tuple[list[int], list[int], list[tuple[int, int]]]:  # fmt: skip
    """(tracks to fill, their hole bars, cell holes) for one mask kind, in window positions.

    Track-shaped kinds return the filled tracks so they can be moved to the front of the window,
    where the server puts the tracks it fills; `cells` returns scattered holes instead.
    """
    if kind == "none":
        return [], [], []
    if kind == "cells":
        p = rng.uniform(0.1, 0.5)
        cells = [(t, b) for t in range(n_tracks) for b in range(n_bars) if rng.random() < p]
        if not cells:
            cells = [(int(rng.integers(n_tracks)), int(rng.integers(n_bars)))]
        return [], [], cells
    tracks = _some(n_tracks, rng)
    if kind == "tracks":
        return tracks, list(range(n_bars)), []
    if kind == "bars":
        step = max(1, W // 2)
        span = int(rng.integers(1, min(step, n_bars) + 1))
        if n_bars > 1 and rng.random() < 0.2:
            span = int(rng.integers(1, n_bars + 1))
        first = int(rng.integers(0, n_bars - span + 1))
        return tracks, list(range(first, first + span)), []
    if kind == "continue":
        if rng.random() < 0.5:
            tracks = list(range(n_tracks))
        new = int(rng.integers(1, max(1, min(W // 2, n_bars - 1)) + 1))
        return tracks, list(range(n_bars - new, n_bars)), []
    if kind == "loop":
        if rng.random() < 0.5:
            tracks = list(range(n_tracks))
        return tracks, loop_bars, []
    raise ValueError(f"unknown mask kind {kind!r}")
