"""Augmentations of a training window: transposition and instrument swaps.

Users' DAW tracks come in every key and with every GM program, the corpus in a few keys and a
handful of programs; these widen what the model sees without inventing music.
"""

from __future__ import annotations

import numpy as np

from midigen.server.language.grid import Window

# Programs that make no sense as a swap target for a melodic part (timpani, orchestra hit) and
# whole families that are percussion or sound effects: those tracks keep their program.
NO_SWAP = {47, 55}
NO_SWAP_FAMILIES = {14, 15}  # 112-119 percussive, 120-127 sound effects


def transpose(window: Window, shift: int) -> None:
    """Shift every non-drum note by `shift` semitones in place (drum keys are instruments)."""
    if shift == 0:
        return
    for track in window.tracks:
        if not track.is_drum:
            track.bars = [[n._replace(pitch=n.pitch + shift) for n in bar] for bar in track.bars]


def transpose_range(window: Window, limit: int) -> tuple[int, int]:
    """The shifts within +-limit that keep every melodic note inside MIDI 0..127."""
    pitches = [n.pitch for t in window.tracks if not t.is_drum for bar in t.bars for n in bar]
    if not pitches:
        return 0, 0
    return max(-limit, -min(pitches)), min(limit, 127 - max(pitches))


def swap_program(program: int, rng: np.random.Generator) -> int:
    """Another program of the same GM family (program // 8), so a violin part may come out as a
    viola or cello: users' tracks use every program, the corpus only a handful."""
    family = program // 8
    if family in NO_SWAP_FAMILIES or program in NO_SWAP:
        return program
    choices = [p for p in range(family * 8, family * 8 + 8) if p not in NO_SWAP and p != program]
    return int(rng.choice(choices)) if choices else program
