"""Generation requests: from a piece and a selection to a stream of finished bars.

`generate` plans the window steps (windows.plan), builds each step's prompt (language.encode),
runs the engine for all variations at once with the grammar masking every sample, and yields an
event for each bar as soon as its <fill_end> is sampled, so a caller (the CLI, or the server's
worker thread) can send it on before the rest is done. Each step writes its bars back into the
variation's own copy of the piece, so later steps see them as context.

Controls: a field left None in a request is measured from the original notes of the selected
bars (or, when those are empty, from the track's other bars in the window), so an unconstrained
request asks the model for "more of the same" rather than for an empty bar.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol

import numpy as np

from . import controls as ctl
from .engine import Engine
from .grammar import FilledBar, Grammar
from .grid import GridNote, LanguageError, Window, bin_velocity, window_from_piece
from .language import encode
from .piece import Note, Piece
from .sampling import SamplingOptions, generators, sample
from .windows import Mode, Selection, Step, plan

MAX_VARIATIONS = 16
FILL_RESERVE = 32  # context tokens a prompt must leave per hole for the step to be planned
RETRY_ROOM = 64  # retries only while at least this much context is left


class GenerationError(ValueError):
    """A request that cannot be generated (bad selection, too dense for the context)."""


class Cancel(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Request:
    mode: Mode
    selection: Sequence[Selection]  # 0-based source tracks and bars (see windows.py)
    new_bars: int = 0  # continue only
    controls: Mapping[int, ctl.Controls] = field(default_factory=dict)  # by source track
    velocity: bool = True
    microtiming: bool = False
    variations: int = 1
    sampling: SamplingOptions = SamplingOptions()
    bars_per_step: int | None = None
    tracks_per_step: int | None = None


@dataclass(frozen=True)
class BarDone:
    """One finished bar of one variation; notes are in quarters from the piece start."""

    variation: int
    track: int  # source track, 0-based
    bar: int  # source bar, 0-based
    start: float
    end: float
    notes: tuple[Note, ...]
    attempts: int  # 1 + the retries this bar took


@dataclass(frozen=True)
class Progress:
    step: int  # 0-based index of the window step starting now
    steps: int
    bars_done: int  # over all variations
    bars_total: int


@dataclass
class Done:
    pieces: list[Piece]  # one per variation, with every finished bar written in
    cancelled: bool
    seed: int
    tokens: int  # sampled tokens, retries included
    model_steps: int  # session runs (prefills + decode steps)
    model_ms: float
    total_ms: float
    first_bar_ms: float | None
    retries: int


Event = BarDone | Progress | Done


def generate(
    engine: Engine, piece: Piece, request: Request, cancel: Cancel | None = None
) -> Iterator[Event]:
    """Yield BarDone events as bars finish, Progress at every window step and one final Done.

    `cancel` is checked before every model step, so setting it stops generation within one
    step; the Done event then says cancelled and holds the bars finished so far."""
    t_start = time.perf_counter()
    vocab = engine.vocab
    options = request.sampling.validate()
    k = request.variations
    if not 1 <= k <= MAX_VARIATIONS:
        raise GenerationError(f"variations must be 1..{MAX_VARIATIONS}, got {k}")
    for track, c in request.controls.items():
        try:
            c.validate(vocab)
        except ValueError as e:
            raise GenerationError(f"track {track + 1}: {e}") from None
    work = _working_piece(piece, request)
    steps = _plan(engine, work, len(piece.bars()), request)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    rngs = generators(seed, k)
    pieces = [copy.deepcopy(work) for _ in range(k)]
    context_velocity = _context_velocities(piece, request.selection)
    bars_total = k * sum(len(s.fill) for s in steps)
    done = Done(pieces, False, seed, 0, 0, 0.0, 0.0, None, 0)
    model_s0, steps0 = engine.model_seconds, engine.steps
    for i, step in enumerate(steps):
        yield Progress(i, len(steps), k * sum(len(s.fill) for s in steps[:i]), bars_total)
        run = _StepRun(engine, pieces, step, request, rngs)
        for filled in run.bars(cancel, done):
            v, fb, attempts = filled
            event = _write_bar(vocab, pieces[v], v, step, fb, attempts, request, context_velocity)
            if done.first_bar_ms is None:
                done.first_bar_ms = (time.perf_counter() - t_start) * 1e3
            yield event
        if done.cancelled:
            break
    done.model_ms = (engine.model_seconds - model_s0) * 1e3
    done.model_steps = engine.steps - steps0
    done.total_ms = (time.perf_counter() - t_start) * 1e3
    yield done


def step_prompts(engine: Engine, piece: Piece, request: Request) -> list[list[int]]:
    """The prompt of every window step, built on the piece as given (before any step wrote its
    bars): for benchmarks and for looking at what the model is asked."""
    work = _working_piece(piece, request)
    steps = _plan(engine, work, len(piece.bars()), request)
    rngs = generators(0, 1)
    return [_StepRun(engine, [work], step, request, rngs).prompts[0] for step in steps]


class _StepRun:
    """One window step for all variations: prompts, batched decoding, budgets and retries."""

    def __init__(
        self,
        engine: Engine,
        pieces: list[Piece],
        step: Step,
        request: Request,
        rngs: list[np.random.Generator],
    ):
        vocab = self.vocab = engine.vocab
        self.engine, self.request, self.rngs = engine, request, rngs
        self.options = request.sampling
        holes = step.holes()
        self.prompts, self.originals, self.wants_notes, self.ring_in = [], [], [], []
        for p in pieces:
            window = window_from_piece(
                p, vocab, step.bars, step.tracks, request.velocity, request.microtiming
            )
            controls = _step_controls(vocab, window, step, holes, request)
            self.prompts.append(
                encode(window, vocab, holes, controls, request.velocity, request.microtiming, False)
            )
            self.originals.append({(t, b): window.tracks[t].bars[b] for t, b in holes})
            self.wants_notes.append({t: (c.density or 1) > 1 for t, c in enumerate(controls) if c})
            self.ring_in.append(_ringing_in(vocab, p, step, sum(window.bar_ticks(vocab))))
        self.grammars = [self._grammar(v) for v in range(len(pieces))]
        self.history: list[list[int]] = [[] for _ in pieces]
        self.fill, self.fill_end = vocab.special("<fill>"), vocab.special("<fill_end>")
        self.pos = vocab["pos"]

    def bars(self, cancel: Cancel | None, done: Done) -> Iterator[tuple[int, FilledBar, int]]:
        engine, options, k = self.engine, self.options, len(self.grammars)
        temperatures = np.full(k, options.temperature)
        attempts = np.ones(k, np.int64)
        bar_tokens = np.zeros(k, np.int64)
        marks: list[tuple[int, int, int, np.ndarray] | None] = [None] * k
        logits = engine.prefill(self.prompts)
        while True:
            if cancel is not None and cancel.is_set():
                done.cancelled = True
                return
            masks = [
                None if g.done else self._budget(g, bar_tokens[v])
                for v, g in enumerate(self.grammars)
            ]
            if all(m is None for m in masks):
                return
            tokens = sample(logits, masks, temperatures, options, self.rngs)
            feed = np.array([m is not None for m in masks])
            replay: dict[int, np.ndarray] = {}
            for v in np.flatnonzero(feed):
                tok = int(tokens[v])
                filled = self.grammars[v].advance(tok)
                self.history[v].append(tok)
                bar_tokens[v] += 1
                done.tokens += 1
                if filled is None:
                    continue
                if attempts[v] <= options.retries and self._retry(v, filled):
                    mark, kept, saved = marks[v]
                    engine.rewind(v, mark)
                    self._replay(v, kept)
                    feed[v], replay[v] = False, saved
                    attempts[v] += 1
                    temperatures[v] += options.retry_temperature
                    done.retries += 1
                else:
                    yield v, filled, int(attempts[v])
                    attempts[v], temperatures[v] = 1, options.temperature
                bar_tokens[v] = 0
            feed &= np.array([not g.done for g in self.grammars])
            if all(g.done for g in self.grammars):
                return
            if feed.any():
                logits = engine.step(tokens, feed)
            for v in np.flatnonzero(feed):
                if tokens[v] == self.fill:  # a bar starts: where a retry would come back to
                    marks[v] = (engine.mark(v), len(self.history[v]), logits[v].copy())
            for v, saved in replay.items():
                logits[v] = saved

    def _budget(self, grammar: Grammar, bar_tokens: int) -> np.ndarray:
        """The grammar's mask, narrowed to close the bar when it is over its token budget or
        the context is nearly full (a random or confused model could otherwise run on)."""
        m = grammar.mask()
        holes_left = len(grammar.holes) - grammar.hole - 1
        short = self.engine.room() <= 2 * holes_left + 8
        if grammar.current_hole is None or not (short or bar_tokens >= self.options.max_bar_tokens):
            return m
        if m[self.fill_end]:
            m[:] = False
            m[self.fill_end] = True
        else:  # mid-note: finish it (a few tokens) but start no new onset
            closing = m.copy()
            closing[self.pos.start : self.pos.stop] = False
            if closing.any():
                m = closing
        return m

    def _retry(self, v: int, filled: FilledBar) -> bool:
        """MIDI-GPT's rule: resample a bar identical to the original, or empty where the
        track's density asks for notes, while there is context left to do it."""
        if self.engine.room() < RETRY_ROOM:
            return False
        original = self.originals[v][(filled.track, filled.bar)]
        if not filled.notes:
            return self.wants_notes[v].get(filled.track, False)
        return bool(original) and list(filled.notes) == list(original)

    def _grammar(self, v: int) -> Grammar:
        """Row v's grammar, told about the notes that ring into the window from bars before it:
        the window drops them, but the polyphony limit must count them (a long note written by
        an earlier step would otherwise let a later step stack notes over it)."""
        grammar = Grammar(self.vocab, self.prompts[v])
        for t, ticks in self.ring_in[v]:
            grammar.ring_in(t, ticks)
        return grammar

    def _replay(self, v: int, kept: int) -> None:
        """Rebuild row v's grammar at the bar start (just after its <fill>) by replaying."""
        grammar = self._grammar(v)
        for tok in self.history[v][:kept]:
            grammar.advance(tok)
        self.grammars[v] = grammar
        del self.history[v][kept:]


def _working_piece(piece: Piece, request: Request) -> Piece:
    """A copy whose bar grid covers the bars a continuation adds."""
    work = copy.deepcopy(piece)
    if request.mode == "continue" and request.new_bars > 0:
        last = piece.bars()[-1]
        work.length = last.end + request.new_bars * last.time_signature.quarters
    return work


def _plan(engine: Engine, work: Piece, n_bars: int, request: Request) -> list[Step]:
    """The window plan, with the widest window (up to the model's) whose prompts leave room in
    the context for the fills; dense pieces fall back to fewer bars per window."""
    vocab = engine.vocab
    n_tracks = len(work.tracks)
    last_error = ""
    for window in range(engine.window_bars, 0, -1):
        try:
            steps = plan(
                n_bars, n_tracks, request.selection, request.mode, window, engine.max_tracks,
                None if request.bars_per_step is None else min(request.bars_per_step, window),
                request.tracks_per_step, request.new_bars,
            )  # fmt: skip
        except ValueError as e:
            raise GenerationError(str(e)) from None
        longest = 0
        for step in steps:
            w = window_from_piece(
                work, vocab, step.bars, step.tracks, request.velocity, request.microtiming
            )
            holes = step.holes()
            n = len(encode(w, vocab, holes, None, request.velocity, request.microtiming, False))
            longest = max(longest, n + FILL_RESERVE * len(holes))
        if longest <= engine.context_length:
            return steps
        last_error = f"{longest} tokens with {window}-bar windows"
    raise GenerationError(
        f"the selection is too dense for the model's {engine.context_length}-token context "
        f"({last_error}); select fewer tracks"
    )


def _step_controls(
    vocab: object, window: Window, step: Step, holes: list[tuple[int, int]], request: Request
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


def _ringing_in(vocab: object, piece: Piece, step: Step, window_ticks: int) -> list:
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


def _context_velocities(piece: Piece, selection: Sequence[Selection]) -> dict[int, int]:
    """Each track's mean velocity outside the selection (80 without notes): the velocity that
    notes generated with velocity off take."""
    bars = piece.bars()
    out = {}
    for s in selection:
        track = piece.tracks[s.track]
        lo = bars[s.first_bar].start if s.first_bar < len(bars) else float("inf")
        hi = bars[s.last_bar].end if s.last_bar < len(bars) else float("inf")
        vels = [n.velocity for n in track.notes if not lo <= n.start < hi]
        out[s.track] = round(sum(vels) / len(vels)) if vels else 80
    return out


def _write_bar(
    vocab: object,
    piece: Piece,
    variation: int,
    step: Step,
    filled: FilledBar,
    attempts: int,
    request: Request,
    context_velocity: dict[int, int],
) -> BarDone:
    """Replace the bar's notes in the variation's piece with the generated ones."""
    track, index = step.tracks[filled.track], step.bars[filled.bar]
    bar = piece.bars()[index]
    tpq, steps = vocab.ticks_per_quarter, vocab.mt_steps
    first, last = round(bar.start * tpq), round(bar.end * tpq)
    kept = [n for n in piece.tracks[track].notes if not first <= int(n.start * tpq + 0.5) < last]
    notes = tuple(_to_note(n, bar.start, tpq, steps, request, context_velocity[track], vocab)
                  for n in filled.notes)  # fmt: skip
    piece.tracks[track].notes = sorted(kept + list(notes))
    # plain ints: callers (the daemon's pydantic models) must not see numpy scalars
    return BarDone(int(variation), int(track), int(index), bar.start, bar.end, notes, attempts)


def _to_note(
    n: GridNote, start: float, tpq: int, steps: int, request: Request, velocity: int, vocab: object
) -> Note:
    onset = max(0.0, start + (n.tick * steps + n.offset) / (tpq * steps))
    vel = bin_velocity(vocab, n.velocity) if request.velocity else velocity
    return Note(onset, n.pitch, n.duration / tpq, vel)


__all__ = [
    "BarDone",
    "Done",
    "Event",
    "GenerationError",
    "LanguageError",
    "Progress",
    "Request",
    "generate",
    "step_prompts",
]
