"""Held-out phrase infills: which 4 bars of which track the model and the baselines refill.

training/heldout.py draws 1-2-bar tasks fitted to one window step of a given model; the
comparison with baselines (training/compare.py) needs tasks that do not depend on the model, so
that two models (today's and the next) and the baselines are scored on the very same bars. A
task here is what a DAW user asks for when a phrase of a part is wrong: 4 consecutive bars of one
track, the whole piece sent as context.

- The track is the piece's median-density pitched track (notes per bar over the piece; ties and
  an even count go to the lower one, then the lower track index): not always the busiest part and
  not the sparsest, and never drums, whose pitch classes mean nothing.
- The bars: SPAN consecutive bars the language can encode, with CONTEXT encodable bars (or the
  piece's edge) on each side; the track has notes in the hole, somewhere in the CONTEXT bars
  before it and somewhere in the CONTEXT bars after it, so the request is to refill a phrase
  of a part that plays around it, and "repeat the bar before" and "the track's own other bars"
  have material to copy.
- Pieces are taken in a seeded random order, one task per piece per pass (a second pass only
  when there are fewer usable pieces than tasks), the hole drawn uniformly among the places
  that qualify; the same seed and the same held-out pieces give the same tasks on any machine.

Held-out pieces: POP909's test split (`pop909.split_of`, the songs training never sees) and the
classical corpus cache's test split (a partial cache gives fewer pieces, not an error). The
`*-valid` splits draw the same kind of tasks from the validation pieces: decoding choices (the
sampling priors' strengths) are tuned there, so the test splits stay a measurement.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from midigen.server.language.piece import Bar, Note, Piece
from midigen.server.language.vocab import Vocabulary
from training import corpus
from training.masks import usable_bars

SPAN = 4  # bars refilled per task
CONTEXT = 4  # bars each side that must be encodable and hold some of the track's notes
SPLITS = ("pop909-test", "classical-test", "pop909-valid", "classical-valid")  # tune on *-valid
TICKS = 12  # ticks per quarter of the token language (language.json), for bar membership


@dataclass(frozen=True)
class PhraseTask:
    """Refill bars first..last (0-based, inclusive) of source track `track` of `piece`."""

    work: str  # "pop909/NNN" or a corpus work id
    piece: Piece
    track: int
    first: int
    last: int

    @property
    def bars(self) -> tuple[int, ...]:
        return tuple(range(self.first, self.last + 1))

    @property
    def span(self) -> tuple[float, float]:
        """The hole in quarters: from the first bar's start to the last bar's end."""
        grid = self.piece.bars()
        return grid[self.first].start, grid[self.last].end

    @property
    def collection(self) -> str:
        return corpus.collection_of(self.work)

    def original(self) -> list[Note]:
        """The track's notes that start in the hole (what the generators replace)."""
        return notes_in(self.piece.tracks[self.track].notes, *self.span)

    def outside(self) -> list[Note]:
        """The track's notes that start outside the hole (what every generator may look at)."""
        lo, hi = self.span
        return [n for n in self.piece.tracks[self.track].notes if not _inside(n, lo, hi)]

    def refilled(self, notes: Sequence[Note]) -> Piece:
        """A copy of the piece with the hole's notes replaced by `notes`."""
        piece = copy.deepcopy(self.piece)
        piece.tracks[self.track].notes = sorted(self.outside() + list(notes))
        return piece


def continuation(task: PhraseTask) -> PhraseTask:
    """The same phrase as the end of a piece that stops where it starts: a DAW user pressing
    continue on one part, with the other parts as context before it (as the REAPER scripts send
    it). Every track keeps its notes that start before the hole, cut at the hole's start as a
    clip ends there; the task's track keeps its hole notes too (the original the generators
    are scored against, cut at the hole's end); nothing after the hole is left. So the
    baselines and the server's measured controls see only the bars before, unlike an infill,
    whose controls the server measures from the selected bars themselves."""
    lo, hi = task.span
    piece = task.piece.copy()
    piece.length = hi
    for i, track in enumerate(piece.tracks):
        kept = [replace(n, duration=min(n.duration, lo - n.start))
                for n in track.notes if tick(n.start) < tick(lo)]  # fmt: skip
        hole = task.original() if i == task.track else []
        track.notes = sorted(kept + [replace(n, duration=min(n.duration, hi - n.start))
                                     for n in hole])  # fmt: skip
    return PhraseTask(task.work, piece, task.track, task.first, task.last)


def tick(time: float) -> int:
    """A time on the token language's grid, rounded half-up as generation assigns notes to
    bars: a note played a hair before a bar line belongs to the bar after it."""
    return int(time * TICKS + 0.5)


def _inside(note: Note, lo: float, hi: float) -> bool:
    return tick(lo) <= tick(note.start) < tick(hi)


def notes_in(notes: Sequence[Note], lo: float, hi: float) -> list[Note]:
    """The notes starting in [lo, hi) quarters, sorted."""
    return sorted(n for n in notes if _inside(n, lo, hi))


def load_split(split: str, cache: Path | str = corpus.DEFAULT_CACHE) -> list[tuple[str, Piece]]:
    """(work id, piece) of every held-out piece of `split` (one of SPLITS), in id order."""
    source, _, part = split.partition("-")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if source == "pop909":
        from training import pop909  # reads the POP909 pickle: only when asked for

        songs = pop909.load()
        items = [(f"pop909/{s}", p) for s, p in sorted(songs.items())
                 if pop909.split_of(s) == part]  # fmt: skip
    else:
        items = list(corpus.load_cached_items(cache, part))
    if not items:
        raise FileNotFoundError(f"no held-out pieces for {split} (is the data prepared?)")
    return items


def median_density_track(piece: Piece) -> int | None:
    """Index of the pitched track at the median of notes per bar (lower median); None if no
    pitched track has notes."""
    bars = max(1, len(piece.bars()))
    tracks = [(len(t.notes) / bars, i) for i, t in enumerate(piece.tracks)
              if not t.is_drum and t.notes]  # fmt: skip
    if not tracks:
        return None
    return sorted(tracks)[(len(tracks) - 1) // 2][1]


def hole_starts(piece: Piece, track: int, vocab: Vocabulary, span: int = SPAN,
                context: int = CONTEXT) -> list[int]:  # fmt: skip
    """First bars of every hole of `span` bars that qualifies (see the module doc)."""
    grid = piece.bars()
    ok = usable_bars(piece, vocab)
    per_bar = notes_per_bar(piece.tracks[track].notes, grid)
    starts = []
    for first in range(1, len(grid) - span):
        last = first + span - 1
        lo, hi = max(0, first - context), min(len(grid), last + 1 + context)
        if not ok[lo:hi].all():
            continue
        if (
            per_bar[first : last + 1].sum()
            and per_bar[lo:first].sum()
            and per_bar[last + 1 : hi].sum()
        ):
            starts.append(first)
    return starts


def notes_per_bar(notes: Sequence[Note], grid: Sequence[Bar]) -> np.ndarray:
    """Onsets per bar of the grid, on the language's grid (notes past the last bar: none)."""
    starts = np.array([tick(b.start) for b in grid], dtype=np.int64)
    onsets = np.array([tick(n.start) for n in notes], dtype=np.int64)
    bars = np.searchsorted(starts, onsets, side="right") - 1
    inside = (bars >= 0) & (onsets < tick(grid[-1].end))
    return np.bincount(bars[inside], minlength=len(grid))[: len(grid)]


def choose(items: Sequence[tuple[str, Piece]], n: int, seed: int, vocab: Vocabulary,
           span: int = SPAN) -> list[PhraseTask]:  # fmt: skip
    """Up to n tasks, drawn as the module doc says."""
    rng = np.random.default_rng([seed, span])
    order = rng.permutation(len(items))
    tasks: list[PhraseTask] = []
    for _ in range(max(1, -(-n // max(1, len(items))))):
        for i in order:
            if len(tasks) >= n:
                return tasks
            work, piece = items[int(i)]
            track = median_density_track(piece)
            starts = [] if track is None else hole_starts(piece, track, vocab, span)
            if starts:
                first = int(rng.choice(starts))
                tasks.append(PhraseTask(work, piece, track, first, first + span - 1))
    return tasks
