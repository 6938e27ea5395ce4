"""Prompt tokens for one window step: what the model is shown and asked, per variation.

A step's prompt is its window of the variation's piece (which holds the bars earlier steps
wrote), the holes to fill, and per fill track the controls: the request's fields over values
measured from the original bars. Next to the tokens, the decoder needs what the prompt does not
say: the original notes of each hole (a retry compares with them), the notes ringing into the
window from earlier bars (the grammar's polyphony limit counts them), the note-count band
that keeps each fill track within one density level of its request, and the onset positions and
pitch classes around each hole that the sampling priors lean on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..language import controls as ctl
from ..language.grid import GridNote, Window, window_from_piece
from ..language.piece import Piece
from ..language.tokens import encode
from ..language.vocab import Vocabulary
from ..language.windows import Step


@dataclass
class StepPrompt:
    tokens: list[int]
    originals: dict[tuple[int, int], list[GridNote]]  # (window track, window bar) -> notes
    wants_notes: dict[int, bool]  # window track -> its density asks for notes
    bands: dict[int, tuple[int, int | None]]  # window track -> notes per bar (lo, hi or None)
    ring_in: list[tuple[int, int]]  # (window track, ticks) sounding into the window
    rhythms: dict[tuple[int, int], np.ndarray | None]  # hole -> onset share per in-bar tick
    harmonies: dict[int, np.ndarray | None]  # fill track -> weight per pitch class around it
    kits: dict[tuple[int, int], np.ndarray | None]  # drum hole -> key share per tick (+ any tick)


def build(vocab: Vocabulary, piece: Piece, step: Step, request: object) -> StepPrompt:
    """The step's prompt for one variation's piece (`request` is a generation.Request)."""
    window = window_from_piece(
        piece, vocab, step.bars, step.tracks, request.velocity, request.microtiming
    )
    holes = step.holes()
    controls = step_controls(vocab, window, step, holes, request)
    tokens = encode(window, vocab, holes, controls, request.velocity, request.microtiming, False)
    bands = {
        t: density_band(vocab, c.density, window.tracks[t].is_drum)
        for t, c in enumerate(controls)
        if c is not None and c.density is not None
    }
    return StepPrompt(
        tokens,
        {(t, b): window.tracks[t].bars[b] for t, b in holes},
        {t: (c.density or 1) > 1 for t, c in enumerate(controls) if c},
        bands,
        ringing_in(vocab, piece, step, sum(window.bar_ticks(vocab))),
        rhythms(window, vocab, holes),
        harmonies(window, holes),
        kits(window, vocab, holes),
    )


def rhythms(window: Window, vocab: Vocabulary, holes: list[tuple[int, int]]
            ) -> dict[tuple[int, int], np.ndarray | None]:  # fmt: skip
    """Per hole, its track's rhythm around it: for each in-bar tick, the share of the track's
    context bars in the window (same length, with notes) that have an onset there; None where
    there are none. Pop parts repeat their rhythm bar to bar, and the decoder leans on this to
    keep it (decoding.StepDecoder._priors). The window, not the whole track: tried on held-out
    POP909 (validation split), the track's bars within 8 of the hole did no better (0.85 of
    onsets on the original's positions, against 0.86), the nearest bars say the most."""
    ticks = window.bar_ticks(vocab)
    out: dict[tuple[int, int], np.ndarray | None] = {}
    for t, b in holes:
        near = _context_bars(window, ticks, holes, t, b)
        out[(t, b)] = _onset_share(near, ticks[b]) if near else None
    return out


def kits(window: Window, vocab: Vocabulary, holes: list[tuple[int, int]]
         ) -> dict[tuple[int, int], np.ndarray | None]:  # fmt: skip
    """Per drum hole, which keys its track's context bars (as for `rhythms`) play where: row t
    of the (ticks + 1, 128) array is the share of those bars with each key at tick t, the last
    row the share with each key anywhere in the bar. Why: the model never saw drums (no drum
    data offline) and picks kit pieces at random; a groove is which piece hits on which
    position, and the decoder leans each hit's key toward what the bars around play at that
    position (decoding.StepDecoder._priors). None for pitched tracks or with no such bars."""
    ticks = window.bar_ticks(vocab)
    out: dict[tuple[int, int], np.ndarray | None] = {}
    for t, b in holes:
        near = _context_bars(window, ticks, holes, t, b)
        if not window.tracks[t].is_drum or not near:
            out[(t, b)] = None
            continue
        share = np.zeros((ticks[b] + 1, 128))
        for notes in near:
            hit = np.zeros((ticks[b] + 1, 128), bool)
            for n in notes:
                hit[n.tick, n.pitch] = hit[-1, n.pitch] = True
            share += hit
        out[(t, b)] = share / len(near)
    return out


def harmonies(window: Window, holes: list[tuple[int, int]]) -> dict[int, np.ndarray | None]:
    """Per pitched fill track, the pitch classes around it: every pitched track's notes in the
    window's context cells, counted per class and scaled so the commonest is 1 (None for drums,
    or with no pitched notes around). The decoder leans on it to keep the key (`harmony`)."""
    counts = np.zeros(12)
    for t, track in enumerate(window.tracks):
        if not track.is_drum:
            for b, notes in enumerate(track.bars):
                if (t, b) not in holes:
                    np.add.at(counts, [n.pitch % 12 for n in notes], 1)
    share = counts / counts.max() if counts.any() else None
    return {t: None if window.tracks[t].is_drum else share for t in sorted({t for t, _ in holes})}


def _context_bars(window: Window, ticks: list[int], holes: list[tuple[int, int]], t: int,
                  b: int) -> list[list[GridNote]]:  # fmt: skip
    """Track t's bars in the window that the rhythm and kit priors read for hole (t, b): not
    holes, the hole's length, with notes."""
    bars = window.tracks[t].bars
    return [bars[c] for c in range(len(ticks))
            if (t, c) not in holes and ticks[c] == ticks[b] and bars[c]]  # fmt: skip


def _onset_share(bars: list[list[GridNote]], length: int) -> np.ndarray:
    share = np.zeros(length)
    for notes in bars:
        share[sorted({n.tick for n in notes})] += 1
    return share / len(bars)


def density_band(vocab: Vocabulary, level: int, is_drum: bool) -> tuple[int, int | None]:
    """Notes per bar whose density level is within one of `level`, as (lo, hi); hi is None when
    any number above lo qualifies. Bars inside the band keep the mean of several bars inside it
    too, since the level is a monotone function of notes per bar."""
    top = 256
    ok = [n for n in range(top) if abs(ctl.density_level(vocab, n, is_drum) - level) <= 1]
    if not ok:  # thresholds a custom language spaced wider than one note: no steering
        return 0, None
    return ok[0], (None if ok[-1] == top - 1 else ok[-1])


def step_controls(
    vocab: object, window: Window, step: Step, holes: list[tuple[int, int]], request: object
) -> list[ctl.Controls | None]:
    """Controls per window track: the request's fields over measured ones for fill tracks."""
    ticks = window.bar_ticks(vocab)
    out: list[ctl.Controls | None] = [None] * len(window.tracks)
    for t in sorted({t for t, _ in holes}):
        track = window.tracks[t]
        bars = [b for tt, b in holes if tt == t]
        if not any(track.bars[b] for b in bars):
            others = [b for b in range(len(ticks)) if b not in bars and track.bars[b]]
            bars = others or bars
        measured = ctl.measure(vocab, track, ticks, bars)
        user = request.controls.get(step.tracks[t], ctl.Controls())
        values = {
            f.name: getattr(user, f.name) if getattr(user, f.name) is not None
            else getattr(measured, f.name)
            for f in fields(ctl.Controls)
        }  # fmt: skip
        out[t] = _consistent(ctl.Controls(**values))
    return out


def _consistent(c: ctl.Controls) -> ctl.Controls:
    """A user bound may contradict a measured one (poly_max 2 over a measured poly_min 3):
    the user's value wins, the measured bound moves to meet it."""
    poly_min, dur_min = c.poly_min, c.dur_min
    if None not in (poly_min, c.poly_max) and poly_min > c.poly_max:
        poly_min = c.poly_max
    if None not in (dur_min, c.dur_max) and dur_min > c.dur_max:
        dur_min = c.dur_max
    return ctl.Controls(c.density, poly_min, c.poly_max, dur_min, c.dur_max)


def ringing_in(vocab: object, piece: Piece, step: Step, window_ticks: int) -> list:
    """(window track, ticks) for every note that starts before the window and sounds into it."""
    tpq = vocab.ticks_per_quarter
    start = round(piece.bars()[step.bars[0]].start * tpq)
    out = []
    for t, source in enumerate(step.tracks):
        for n in piece.tracks[source].notes:
            onset, end = int(n.start * tpq + 0.5), round(n.end * tpq)
            if onset < start < end:
                out.append((t, min(end - start, window_ticks)))
    return out
