"""Registers: the lowest and highest pitch a generated part may use, a hard limit of the grammar.

A bass line that wanders up to MIDI 96 or a drum part on key 125 is the first thing a musician
deletes. The user may set `pitch_min` / `pitch_max` per track; a bound left unset ("any") is
measured, so an unconstrained request still stays where the part lives:

- from the track's own notes outside the selected bars, widened by MARGIN semitones each way
  (a line may step a little past what the context shows, not an octave);
- for a track with no notes outside the selection, the instrument's usual range (USUAL_RANGES,
  by General MIDI family);
- drums: the General MIDI drum keys 35-81, widened to any other keys the track itself uses
  (a kit mapped elsewhere keeps its own keys).

A measured bound never contradicts a set one: with only `pitch_min` set above the measured top,
the top becomes an octave above it (and the other way round). Setting both with min > max is an
error.
"""

from __future__ import annotations

from collections.abc import Iterable

from .piece import Note, Track

MARGIN = 3  # semitones beyond the track's own range outside the selection
GM_DRUM_KEYS = (35, 81)
# usual written range per GM family (program // 8): piano, chromatic percussion, organ, guitar,
# bass, strings, ensemble, brass, reed, pipe, synth lead, synth pad, synth effects, ethnic,
# percussive, sound effects
USUAL_RANGES = (
    (21, 108), (48, 96), (36, 96), (40, 88), (28, 60), (36, 100), (36, 96), (34, 84),
    (40, 84), (55, 96), (48, 96), (36, 96), (36, 96), (48, 88), (36, 84), (36, 96),
)  # fmt: skip


class RegisterError(ValueError):
    """A pitch range the user asked for that cannot hold (out of 0..127, or min > max)."""


def validate(pitch_min: int | None, pitch_max: int | None) -> None:
    for name, value in (("pitch_min", pitch_min), ("pitch_max", pitch_max)):
        if value is not None and not 0 <= value <= 127:
            raise RegisterError(f"{name} must be a MIDI note 0..127, got {value}")
    if pitch_min is not None and pitch_max is not None and pitch_min > pitch_max:
        raise RegisterError(f"pitch_min {pitch_min} is above pitch_max {pitch_max}")


def measured(track: Track, outside: Iterable[Note]) -> tuple[int, int]:
    """The range "any" stands for, from the track's notes outside the selection."""
    pitches = [n.pitch for n in outside]
    if track.is_drum:
        lo, hi = GM_DRUM_KEYS
        return (min([lo, *pitches]), max([hi, *pitches]))
    if not pitches:
        return USUAL_RANGES[(track.program % 128) // 8]
    return (max(0, min(pitches) - MARGIN), min(127, max(pitches) + MARGIN))


def resolve(
    track: Track, outside: Iterable[Note], pitch_min: int | None, pitch_max: int | None
) -> tuple[int, int]:
    """The (low, high) limit, inclusive, for one track: set bounds as given, unset ones measured."""
    validate(pitch_min, pitch_max)
    lo, hi = measured(track, outside)
    lo = lo if pitch_min is None else pitch_min
    hi = hi if pitch_max is None else pitch_max
    if lo > hi:  # one bound set beyond the measured other: the set one wins, an octave open
        if pitch_max is None:
            hi = min(127, lo + 12)
        else:
            lo = max(0, hi - 12)
    return lo, hi
