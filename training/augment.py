"""Augmentations of training data: transposition, instrument swaps and re-barring.

Users' DAW tracks come in every key, with every GM program and in odd meters; the corpus is in a
few keys, a handful of programs and almost only 2, 3, 4 and 6 beats to the bar. These widen what
the model sees without inventing notes.
"""

from __future__ import annotations

import numpy as np

from midigen.server.language.grid import Window
from midigen.server.language.piece import Piece, TimeSignature

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


# Meters a whole piece may be re-barred into, by the denominator of its own single meter. The
# corpus has 32 bars of 7/4 and 4 of 11/8 in 15,000 works, too few to learn their ts: tokens.
REBAR = {2: ("7/4", "5/4"), 4: ("7/4", "5/4"), 8: ("11/8", "7/8", "5/8")}


def rebar(piece: Piece, rng: np.random.Generator) -> Piece:
    """`piece` with its bar lines redrawn in an odd meter of the same beat unit (4/4 -> 7/4,
    6/8 -> 11/8), notes untouched; the piece itself when it changes meter or has none to offer.

    The music then does not follow the new meter's accents, but a bar of 7/4 is 7 quarters of
    plausible music in the right register and density, which is what a user's 7/4 bar asks the
    model to write; without it the new tokens would stay as untrained as on the first step.
    """
    if len(piece.time_signatures) != 1 or piece.time_signatures[0][0] > 0:
        return piece
    ts = piece.time_signatures[0][1]
    choices = REBAR.get(ts.denominator)
    if not choices:
        return piece
    return in_meter(piece, choices[int(rng.integers(len(choices)))])


def in_meter(piece: Piece, meter: str) -> Piece:
    """`piece` barred in `meter` ("7/4") throughout, its notes, tempos and length untouched."""
    num, den = (int(x) for x in meter.split("/"))
    return Piece(piece.tracks, [(0.0, TimeSignature(num, den))], piece.tempos, piece.length)
