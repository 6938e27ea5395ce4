"""Baselines a model must beat: what a musician gets without it, in a few lines each.

Each baseline refills a task's hole (training/phrase_tasks.py) from what the model is also given
-- the piece with the hole's own notes set aside -- and returns the notes it writes, in quarters
from the piece start. Randomness comes from the generator passed in, so a seed fixes the result.

- `repeat_previous`: the bar before the hole, copied into every bar of it. Pop repeats itself,
  so this is the bar to beat: a model that cannot match it is worse than a copy-paste.
- `random_in_range`: notes at random in the track's own range -- uniform pitches between the
  lowest and highest pitch the track plays outside the hole, onsets on a 16th-note grid, per bar
  as many notes as the track's mean over its bars with notes outside the hole (the fraction
  drawn, so the expected count is the mean), durations and velocities drawn from the track's
  own notes. What "plausible numbers, no music" scores.
- `other_bars`: for each bar of the hole, a random bar of the same track outside the hole that
  has notes (of the same length when there is one), copied in. The part's own material, in the
  wrong order.

Notes copied from a bar keep their offset in it and their length, cut at the hole's end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from midigen.server.language.piece import EPS, Bar, Note
from training.phrase_tasks import PhraseTask, notes_in, notes_per_bar

SIXTEENTH = 0.25  # quarters

Baseline = Callable[[PhraseTask, np.random.Generator], list[Note]]


def _copy_bar(notes: Sequence[Note], source: Bar, target: Bar, end: float) -> list[Note]:
    """The notes starting in `source`, moved to `target`; those past its length dropped, each
    cut at `end` (the hole's end)."""
    out = []
    for n in notes_in(notes, source.start, source.end):
        start = target.start + (n.start - source.start)
        if start < target.end - EPS:
            out.append(replace(n, start=start, duration=min(n.duration, end - start)))
    return out


def repeat_previous(task: PhraseTask, rng: np.random.Generator) -> list[Note]:
    """The bar before the hole in every bar of the hole (see the module doc)."""
    grid = task.piece.bars()
    notes, end = task.piece.tracks[task.track].notes, task.span[1]
    source = grid[task.first - 1]
    return [n for b in task.bars for n in _copy_bar(notes, source, grid[b], end)]


def random_in_range(task: PhraseTask, rng: np.random.Generator) -> list[Note]:
    """Random notes in the track's range, as many per bar as it plays (see the module doc)."""
    grid = task.piece.bars()
    outside = task.outside()
    pitches = [n.pitch for n in outside]
    low, high = min(pitches), max(pitches)
    counts = np.delete(notes_per_bar(outside, grid), list(task.bars))
    mean = float(counts[counts > 0].mean())
    out = []
    for b in task.bars:
        bar = grid[b]
        k = int(mean) + int(rng.random() < mean - int(mean))
        slots = max(1, round(bar.length / SIXTEENTH))
        for slot in np.sort(rng.integers(0, slots, size=k)):
            model = outside[int(rng.integers(len(outside)))]
            start = bar.start + slot * SIXTEENTH
            duration = min(model.duration, task.span[1] - start)
            out.append(Note(start, int(rng.integers(low, high + 1)), duration, model.velocity))
    return out


def other_bars(task: PhraseTask, rng: np.random.Generator) -> list[Note]:
    """Random other bars of the track with notes, copied in (see the module doc)."""
    grid = task.piece.bars()
    notes, end = task.piece.tracks[task.track].notes, task.span[1]
    counts = notes_per_bar(notes, grid)
    candidates = [b for b in range(len(grid)) if counts[b] and b not in task.bars]
    out = []
    for b in task.bars:
        target = grid[b]
        same = [c for c in candidates if abs(grid[c].length - target.length) < EPS]
        source = grid[int(rng.choice(same or candidates))]
        out += _copy_bar(notes, source, target, end)
    return out


BASELINES: dict[str, Baseline] = {
    "repeat the bar before": repeat_previous,
    "random notes in range": random_in_range,
    "own other bars": other_bars,
}
