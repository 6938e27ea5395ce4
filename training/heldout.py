"""Held-out infill tasks for the generation evaluations: which bars of which track to refill.

The evaluations (training/adherence.py, training/plausibility.py, training/pianorolls.py) must
ask the model what a DAW user would ask the server: the whole piece is sent, one track's 1-2
consecutive bars are selected, and `generation.generate()` plans the window around them. So a
task here is (piece, track, bars) plus the window step the server's planner places around them,
chosen so that the step is what generation will really run:

- every bar of the window is one the language can encode (supported signature, not cut short);
- the track is melodic (music21's corpus has no drums; pitch classes of drum keys mean nothing)
  and plays somewhere in the window, so the request is to continue a part, not to invent one;
- the prompt fits the model's context in the window the planner places (W bars, fewer only in
  a piece shorter than W); generation would otherwise fall back to a narrower window than the
  one measured here.

Tasks are drawn from held-out works only (the corpus cache's test split), one per work in a
seeded random order (more passes only when there are fewer works than tasks), so the same seed
gives the same tasks on any machine with the same cache.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from midigen.server.engine.generation import (
    FILL_RESERVE,
    BarDone,
    Done,
    Request,
    generate,
    step_prompts,
)
from midigen.server.engine.sampling import SamplingOptions
from midigen.server.engine.session import Engine
from midigen.server.language import controls as ctl
from midigen.server.language.grid import WindowTrack, window_from_piece
from midigen.server.language.piece import EPS, Note, Piece, Track
from midigen.server.language.tokens import decode
from midigen.server.language.vocab import Vocabulary
from midigen.server.language.windows import Selection, Step, plan
from training import corpus
from training.dataset import usable_bars


@dataclass(frozen=True)
class Task:
    """One held-out infill: refill `bars` (0-based, consecutive) of source track `track`."""

    work: str  # corpus work id (or a file name for pieces given in memory)
    piece: Piece
    track: int
    bars: tuple[int, ...]
    step: Step  # the one window step generation runs for it

    @property
    def selection(self) -> list[Selection]:
        return [Selection(self.track, self.bars[0], self.bars[-1])]

    @property
    def hole_bars(self) -> list[int]:
        """The selected bars as window bar positions (the fill track is window track 0)."""
        return [self.step.bars.index(b) for b in self.bars]

    @property
    def collection(self) -> str:
        return corpus.collection_of(self.work)


def heldout_pieces(
    cache: Path | str = corpus.DEFAULT_CACHE, split: str = "test"
) -> list[tuple[str, Piece]]:
    """(work id, piece) of every cached work of the split, in work-id order."""
    items = list(corpus.load_cached_items(cache, split))
    if not items:
        raise FileNotFoundError(
            f"no {split} works in {cache}; run python -m training.corpus prepare first"
        )
    return items


def choose_tasks(
    engine: Engine,
    items: Sequence[tuple[str, Piece]],
    n: int,
    seed: int = 0,
    spans: Sequence[int] = (1, 2),
    collections: Iterable[str] | None = None,
) -> list[Task]:
    """Up to n tasks, one per work per pass in a seeded random order; a span (bars selected) is
    drawn from `spans` per task. `collections` keeps only works whose id starts with one of them."""
    if collections is not None:
        prefixes = tuple(collections)
        items = [(w, p) for w, p in items if w.startswith(prefixes)]
    rng = np.random.default_rng(seed)
    tasks: list[Task] = []
    for _ in range(max(1, -(-n // max(1, len(items)))) + 2):
        for i in rng.permutation(len(items)):
            if len(tasks) >= n:
                return tasks
            work, piece = items[i]
            task = _task(engine, work, piece, int(rng.choice(spans)), rng)
            if task is not None:
                tasks.append(task)
    return tasks


def _task(
    engine: Engine, work: str, piece: Piece, span: int, rng: np.random.Generator, tries: int = 8
) -> Task | None:
    ok = usable_bars(piece, engine.vocab)
    tracks = [t for t, track in enumerate(piece.tracks) if not track.is_drum and track.notes]
    if len(ok) < span or not tracks:
        return None
    grid = piece.bars()
    for _ in range(tries):
        first = int(rng.integers(0, len(ok) - span + 1))
        bars = tuple(range(first, first + span))
        track = int(rng.choice(tracks))
        step = _single_step(engine, len(grid), len(piece.tracks), track, bars)
        if step is None or not ok[list(step.bars)].all():
            continue
        lo, hi = grid[step.bars[0]].start, grid[step.bars[-1]].end
        if not any(lo - EPS <= n.start < hi - EPS for n in piece.tracks[track].notes):
            continue
        task = Task(work, piece, track, bars, step)
        if _fits(engine, task):
            return task
    return None


def _single_step(
    engine: Engine, n_bars: int, n_tracks: int, track: int, bars: tuple[int, ...]
) -> Step | None:
    steps = plan(
        n_bars,
        n_tracks,
        [Selection(track, bars[0], bars[-1])],
        "infill",
        engine.window_bars,
        engine.max_tracks,
    )
    return steps[0] if len(steps) == 1 else None


def _fits(engine: Engine, task: Task) -> bool:
    """True when generation will run the task's step with the full window (see module doc)."""
    prompts = step_prompts(engine, task.piece, Request("infill", task.selection))
    window = decode(prompts[0], engine.vocab).window
    room = engine.context_length - FILL_RESERVE * len(task.bars)
    return (
        len(prompts) == 1
        and len(window.time_signatures) == len(task.step.bars)
        and len(prompts[0]) <= room
    )


@dataclass
class Infill:
    """One variation of a generated task, quantized as the model saw it: window track 0 is the
    filled track, in the task's piece (`original`) and after generation (`generated`)."""

    vocab: Vocabulary
    task: Task
    asked: ctl.Controls  # the fill track's controls in the prompt (requested over measured)
    original: WindowTrack
    generated: WindowTrack
    bar_ticks: list[int]
    ring_in: list[int]  # ticks of the window sounded by track notes that started before it
    events: list[BarDone]  # this variation's finished bars (notes in quarters)
    window_end: float  # quarters

    def counts(self) -> np.ndarray:
        """Sounding notes of the track per window tick, as the grammar's polyphony limit counts
        them: the window's notes plus the notes ringing in from before the window."""
        counts = ctl.sounding_counts(self.generated, self.bar_ticks)
        for ticks in self.ring_in:
            counts[:ticks] += 1
        return counts

    def measured(self) -> ctl.Controls:
        """The generated bars' controls, by the function that tokenizes the training data."""
        return ctl.measure(self.vocab, self.generated, self.bar_ticks, self.task.hole_bars)


def infill(
    engine: Engine,
    task: Task,
    controls: ctl.Controls | None,
    sampling: SamplingOptions,
    variations: int = 1,
    piece: Piece | None = None,
) -> tuple[list[Infill], Done]:
    """Run the task through `generation.generate()`, as the server runs a DAW selection:
    `controls` are the user's (None fields: measured from the selected bars by generation),
    `piece` replaces the task's piece as the input (e.g. `without_bars`)."""
    vocab = engine.vocab
    source = task.piece if piece is None else piece
    request = Request(
        "infill",
        task.selection,
        controls={task.track: controls or ctl.Controls()},
        variations=variations,
        sampling=sampling,
    )
    asked = decode(step_prompts(engine, source, request)[0], vocab).controls[0]
    events = list(generate(engine, source, request))
    done = events[-1]
    assert isinstance(done, Done)
    step = task.step
    before = window_from_piece(task.piece, vocab, step.bars, step.tracks)  # the true bars
    tpq, grid = vocab.ticks_per_quarter, task.piece.bars()
    start, end = grid[step.bars[0]].start, grid[step.bars[-1]].end
    out = []
    for v, result in enumerate(done.pieces):
        after = window_from_piece(result, vocab, step.bars, step.tracks)
        ring = [
            min(round(n.end * tpq), round(end * tpq)) - round(start * tpq)
            for n in result.tracks[task.track].notes
            if int(n.start * tpq + 0.5) < round(start * tpq) < round(n.end * tpq)
        ]
        mine = [e for e in events if isinstance(e, BarDone) and e.variation == v]
        out.append(
            Infill(
                vocab,
                task,
                asked,
                before.tracks[0],
                after.tracks[0],
                before.bar_ticks(vocab),
                ring,
                mine,
                end,
            )
        )
    return out, done


def without_bars(piece: Piece, track: int, bars: Sequence[int]) -> Piece:
    """A copy of the piece with the track's notes that start in `bars` removed (an empty DAW
    selection: the server then measures the controls from the track's other bars)."""
    grid = piece.bars()
    spans = [(grid[b].start, grid[b].end) for b in bars]
    out = copy.deepcopy(piece)
    out.tracks[track].notes = [
        n
        for n in out.tracks[track].notes
        if not any(lo - EPS <= n.start < hi - EPS for lo, hi in spans)
    ]
    return out


def excerpt(piece: Piece, first: int, last: int) -> Piece:
    """Bars first..last (inclusive, 0-based) as a piece of their own, for pictures: notes start
    in the range, times shifted to 0 and cut at its end."""
    grid = piece.bars()
    first, last = max(0, first), min(len(grid) - 1, last)
    lo, hi = grid[first].start, grid[last].end
    tracks = []
    for track in piece.tracks:
        notes = [
            Note(n.start - lo, n.pitch, min(n.end, hi) - n.start, n.velocity)
            for n in track.notes
            if lo - EPS <= n.start < hi - EPS
        ]
        tracks.append(Track(track.program, track.is_drum, track.name, notes))
    signatures, previous = [], None
    for bar in grid[first : last + 1]:
        if bar.time_signature != previous:
            signatures.append((bar.start - lo, bar.time_signature))
            previous = bar.time_signature
    return Piece(tracks, signatures, [(0.0, piece.tempo_at(lo))], length=hi - lo)


def run_record(tasks: Sequence[Task], options: SamplingOptions, seed: int, generations: int,
               seconds: float) -> dict:  # fmt: skip
    """What every generation evaluation reports about its run, beside its own numbers."""
    return {
        "tasks": len(tasks),
        "temperature": options.temperature,
        "top_p": options.top_p,
        "rhythm": options.rhythm,
        "harmony": options.harmony,
        "seed": seed,
        "collections": dict(Counter(t.collection for t in tasks).most_common()),
        "generations": generations,
        "seconds": round(seconds, 1),
        "seconds_per_task": round(seconds / max(1, len(tasks)), 3),
    }
