"""Per-track controls (density, polyphony, note duration), measured from notes.

One function, `measure`, computes them both when training data is tokenized and when the server
builds a prompt, so a control value means the same thing to the model and to the user. Definitions
are in docs/language.md; the thresholds come from the language document (`vocab.document`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .grid import WindowTrack
from .vocab import ANY, Vocabulary


@dataclass(frozen=True)
class Controls:
    """A track's controls; None means "any" (the model chooses)."""

    density: int | None = None  # 1..10
    poly_min: int | None = None  # 1..10
    poly_max: int | None = None  # 1..10, a hard limit when generating
    dur_min: int | None = None  # duration class 0 (32nd) .. 5 (whole), a hard limit
    dur_max: int | None = None

    def values(self) -> tuple[int | str, ...]:
        """Token values in header order (density, poly_min, poly_max, dur_min, dur_max)."""
        return tuple(ANY if v is None else v for v in self.as_tuple())

    def as_tuple(self) -> tuple[int | None, ...]:
        return (self.density, self.poly_min, self.poly_max, self.dur_min, self.dur_max)

    def validate(self, vocab: Vocabulary) -> Controls:
        """Raise ValueError naming the control that is out of range or inconsistent."""
        levels = vocab.document["density_levels"]
        poly = vocab.document["polyphony_levels"]
        classes = len(vocab.document["duration_classes"])
        limits = {"density": levels, "poly_min": poly, "poly_max": poly}
        for name, top in limits.items():
            v = getattr(self, name)
            if v is not None and not 1 <= v <= top:
                raise ValueError(f"{name} must be 1..{top} or any, got {v}")
        for name in ("dur_min", "dur_max"):
            v = getattr(self, name)
            if v is not None and not 0 <= v < classes:
                raise ValueError(f"{name} must be 0..{classes - 1} or any, got {v}")
        if None not in (self.poly_min, self.poly_max) and self.poly_min > self.poly_max:
            raise ValueError(f"poly_min {self.poly_min} is above poly_max {self.poly_max}")
        if None not in (self.dur_min, self.dur_max) and self.dur_min > self.dur_max:
            raise ValueError(f"dur_min {self.dur_min} is above dur_max {self.dur_max}")
        return self


def duration_class(ticks: int, ticks_per_quarter: int = 12, classes: int = 6) -> int:
    """log2 class of a duration: 0 below a 16th, 1 a 16th, 2 an 8th, 3 a quarter, 4 a half,
    5 a whole note or longer (a 32nd is 1.5 ticks, so class k starts at 1.5 * 2**k ticks)."""
    thirty_second = ticks_per_quarter / 8
    return max(0, min(classes - 1, int(math.floor(math.log2(ticks / thirty_second) + 1e-9))))


def density_level(vocab: Vocabulary, notes_per_bar: float, is_drum: bool) -> int:
    thresholds = vocab.document["density_thresholds"]["drum" if is_drum else "melodic"]
    return 1 + sum(notes_per_bar >= t for t in thresholds)


def _spans(track: WindowTrack, bar_ticks: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Absolute start ticks, durations and bar numbers of all the track's notes, as arrays."""
    starts, durations, bars, offset = [], [], [], 0
    for b, (n, notes) in enumerate(zip(bar_ticks, track.bars)):
        starts += [offset + note.tick for note in notes]
        durations += [note.duration for note in notes]
        bars += [b] * len(notes)
        offset += n
    return (
        np.array(starts, dtype=np.int64),
        np.array(durations, dtype=np.int64),
        np.array(bars, dtype=np.int64),
    )


def _coverage(starts: np.ndarray, durations: np.ndarray, total: int) -> np.ndarray:
    """How many of the spans cover each tick (a difference array, clipped at `total`)."""
    ends = np.minimum(starts + durations, total)
    delta = np.bincount(starts, minlength=total + 1) - np.bincount(ends, minlength=total + 1)
    return np.cumsum(delta[:total])


def sounding_counts(track: WindowTrack, bar_ticks: Sequence[int]) -> np.ndarray:
    """Number of the track's notes sounding at every tick of the window.

    Both `measure` and the grammar count this way, so the polyphony the model was trained on is
    exactly the polyphony the grammar's hard limit bounds.
    """
    starts, durations, _ = _spans(track, bar_ticks)
    return _coverage(starts, durations, int(sum(bar_ticks)))


def measure(
    vocab: Vocabulary, track: WindowTrack, bar_ticks: Sequence[int], bars: Sequence[int]
) -> Controls:
    """Controls of `track` over the window bars `bars` (the bars the model writes for it).

    Density: mean note onsets per bar, binned by the corpus quantiles. Polyphony: over the ticks
    of those bars and of their notes' full length where at least one of the track's notes sounds
    (notes ringing in from other bars count), the low percentile and the maximum, clamped to
    1..10 -- the same ticks and counts the grammar's hard limit looks at. Durations: classes of the
    shortest and longest note starting in those bars. With no notes, all but density are "any".
    """
    bars = sorted(set(bars))
    if not bars:
        return Controls()
    starts, durations, note_bars = _spans(track, bar_ticks)
    mine = np.isin(note_bars, bars)
    density = density_level(vocab, int(mine.sum()) / len(bars), track.is_drum)
    if not mine.any():
        return Controls(density=density)
    total = int(sum(bar_ticks))
    counts = _coverage(starts, durations, total)
    if len(bars) == len(bar_ticks):
        region = np.ones(total, dtype=bool)
    else:  # the described bars, plus wherever their notes ring on
        region = _coverage(starts[mine], durations[mine], total) > 0
        edges = np.cumsum([0, *bar_ticks])
        for b in bars:
            region[edges[b] : edges[b + 1]] = True
    sounding = np.sort(counts[region & (counts > 0)])
    top = vocab.document["polyphony_levels"]
    low_pct, high_pct = vocab.document["polyphony_percentiles"]
    last = len(sounding) - 1  # numpy's "lower" / "higher" percentile methods, without the cost
    poly_min = int(sounding[int(math.floor(last * low_pct / 100))])
    poly_max = int(sounding[int(math.ceil(last * high_pct / 100))])
    tpq = vocab.ticks_per_quarter
    classes = len(vocab.document["duration_classes"])
    lengths = durations[mine]  # classes rise with length: two calls suffice
    durs = [duration_class(int(d), tpq, classes) for d in (lengths.min(), lengths.max())]
    return Controls(
        density=density,
        poly_min=min(top, max(1, poly_min)),
        poly_max=min(top, max(1, poly_max)),
        dur_min=durs[0],
        dur_max=durs[1],
    )
