"""The music data model every other module speaks: piece -> tracks -> notes, plus the bar grid.

Times are in quarter notes from the start of the piece (floats), as a DAW's clip would report them,
so nothing here depends on a MIDI file's resolution or on the token grid. Quantization to the grid
belongs to the token language (`language.quantize`), not to the data model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Tolerance for float comparisons of times in quarter notes (far below one 1/96 quarter).
EPS = 1e-6


@dataclass(frozen=True, order=True)
class Note:
    """A note; ordering is by start then pitch so sorted notes read like a score."""

    start: float  # quarter notes from the piece start
    pitch: int  # MIDI 0-127
    duration: float  # quarter notes, > 0
    velocity: int = 80  # MIDI 1-127

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class Track:
    program: int = 0  # General MIDI program 0-127 (for drums: the kit program)
    is_drum: bool = False
    name: str = ""
    notes: list[Note] = field(default_factory=list)
    # (MIDI track index, channel) the track was read from, so a result can be written back into
    # the user's file as an edit (midiedit.py); None for pieces that come from elsewhere.
    source: tuple[int, int] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TimeSignature:
    numerator: int
    denominator: int

    @property
    def quarters(self) -> float:
        """Length of one bar in quarter notes."""
        return self.numerator * 4.0 / self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class Bar:
    index: int
    start: float
    length: float  # quarters; shorter than notated when a signature change cuts the bar
    time_signature: TimeSignature

    @property
    def end(self) -> float:
        return self.start + self.length

    @property
    def regular(self) -> bool:
        """True when the bar is as long as its time signature says."""
        return abs(self.length - self.time_signature.quarters) < EPS


@dataclass
class Piece:
    """A multitrack piece with its tempo and time-signature maps.

    `time_signatures` and `tempos` are (time in quarters, value) change lists sorted by time; an
    empty time-signature list means 4/4 throughout and an empty tempo list means 120 BPM. `length`
    (quarters) fixes the number of bars when the piece ends in silence; otherwise the bar grid
    stops at the end of the last note.
    """

    tracks: list[Track] = field(default_factory=list)
    time_signatures: list[tuple[float, TimeSignature]] = field(default_factory=list)
    tempos: list[tuple[float, float]] = field(default_factory=list)  # (time, BPM)
    length: float | None = None

    @property
    def end(self) -> float:
        """Time where the piece ends: `length` if set, else the last note-off."""
        last = max((n.end for t in self.tracks for n in t.notes), default=0.0)
        return max(self.length or 0.0, last)

    def bars(self) -> list[Bar]:
        return bar_grid(self.time_signatures, self.end)

    def copy(self) -> Piece:
        """A copy whose tracks and change lists can be changed without touching this piece.
        Notes and signatures are immutable, so they are shared: a generation copies the piece
        per variation before its first bar, and copy.deepcopy of every note took 1.5-5 ms per copy
        of the benchmark's 250-note piece."""
        return Piece(
            [replace(t, notes=list(t.notes)) for t in self.tracks],
            list(self.time_signatures),
            list(self.tempos),
            self.length,
        )

    def tempo_at(self, time: float) -> float:
        bpm = 120.0
        for t, value in self.tempos:
            if t > time + EPS:
                break
            bpm = value
        return bpm


def bar_grid(time_signatures: list[tuple[float, TimeSignature]], end: float) -> list[Bar]:
    """Bars from time 0 covering [0, end); always at least one bar.

    A time-signature change that falls inside a bar (files do this after pickups or edits) cuts
    that bar short and starts a new bar at the change, the way a DAW shows it; the cut bar is
    marked irregular so the language module can reject it instead of mangling it.
    """
    changes = sorted(time_signatures, key=lambda c: c[0])
    if not changes or changes[0][0] > EPS:
        changes = [(0.0, TimeSignature(4, 4)), *changes]
    bars: list[Bar] = []
    for i, (change_time, ts) in enumerate(changes):
        if bars and change_time >= end - EPS:
            break
        next_change = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
        t = change_time
        while t < next_change - EPS and (t < end - EPS or not bars):
            length = min(ts.quarters, next_change - t)
            bars.append(Bar(len(bars), t, length, ts))
            t += length
    return bars
