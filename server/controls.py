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


def _spans(track: WindowTrack, bar_ticks: Sequence[int], bars: Sequence[int]):
    """Absolute start ticks and durations of the notes starting in `bars`, as arrays."""
    offsets = np.cumsum([0, *bar_ticks])
    starts = [offsets[b] + n.tick for b in bars for n in track.bars[b]]
    durations = [n.duration for b in bars for n in track.bars[b]]
    return np.array(starts, dtype=np.int64), np.array(durations, dtype=np.int64)


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
    total = int(sum(bar_ticks))
    return _coverage(*_spans(track, bar_ticks, range(len(track.bars))), total)


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
    bars = list(bars)
    if not bars:
        return Controls()
    onsets = [note for b in bars for note in track.bars[b]]
    density = density_level(vocab, len(onsets) / len(bars), track.is_drum)
    if not onsets:
        return Controls(density=density)
    total = int(sum(bar_ticks))
    counts = sounding_counts(track, bar_ticks)
    offsets = np.cumsum([0, *bar_ticks])
    region = _coverage(*_spans(track, bar_ticks, bars), total) > 0  # where their notes ring
    for b in bars:
        region[offsets[b] : offsets[b + 1]] = True
    sounding = counts[region & (counts > 0)]
    top = vocab.document["polyphony_levels"]
    low_pct, high_pct = vocab.document["polyphony_percentiles"]
    poly_min = int(np.percentile(sounding, low_pct, method="lower"))
    poly_max = int(np.percentile(sounding, high_pct, method="higher"))
    tpq = vocab.ticks_per_quarter
    classes = len(vocab.document["duration_classes"])
    lengths = [n.duration for n in onsets]  # classes rise with length: two calls suffice
    durs = [duration_class(d, tpq, classes) for d in (min(lengths), max(lengths))]
    return Controls(
        density=density,
        poly_min=min(top, max(1, poly_min)),
        poly_max=min(top, max(1, poly_max)),
        dur_min=min(durs),
        dur_max=max(durs),
    )
