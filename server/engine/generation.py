"""Generation requests: from a piece and a selection to a stream of finished bars.

`generate` plans the window steps (windows.plan), builds each step's prompt (prompts.py),
decodes it for all variations at once (decoding.py: the engine, the grammar masking every
sample, density steering, retries), and yields an event for each bar as soon as its <fill_end>
is sampled, so a caller (the CLI, or the server's worker thread) can send it on before the rest
is done. Each step writes its bars back into the variation's own copy of the piece, so later
steps see them as context.

Controls: a field left None in a request is measured from the original notes of the selected
bars (or, when those are empty, from the track's other bars in the window), so an unconstrained
request asks the model for "more of the same" rather than for an empty bar.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..language import controls as ctl
from ..language.grammar import FilledBar
from ..language.grid import (
    GridNote,
    LanguageError,
    bin_velocity,
    check_selection,
    window_from_piece,
)
from ..language.piece import EPS, Note, Piece
from ..language.registers import RegisterError
from ..language.registers import resolve as resolve_register
from ..language.tokens import encode, encode_notes
from ..language.windows import MAX_NEW_BARS, Mode, Selection, Step, plan
from . import prompts
from .decoding import Cancel, StepDecoder
from .sampling import SamplingOptions, generators
from .session import Engine

MAX_VARIATIONS = 16
FILL_RESERVE = 32  # context tokens a prompt must leave per hole for the step to be planned


class GenerationError(ValueError):
    """A request that cannot be generated (bad selection, too dense for the context)."""


@dataclass(frozen=True)
class Request:
    mode: Mode
    selection: Sequence[Selection]  # 0-based source tracks and bars (see windows.py)
    new_bars: int = 0  # continue only
    controls: Mapping[int, ctl.Controls] = field(default_factory=dict)  # by source track
    # (pitch_min, pitch_max) by source track, None = measured (language/registers.py)
    pitch_range: Mapping[int, tuple[int | None, int | None]] = field(default_factory=dict)
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
    prompt_tokens: int = 0  # prompt tokens of all window steps
    reused_tokens: int = 0  # of those, copied from a prompt cache the engine kept


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
    if not 0 <= request.new_bars <= MAX_NEW_BARS:
        raise GenerationError(f"new bars must be 0..{MAX_NEW_BARS}, got {request.new_bars}")
    for track, c in request.controls.items():
        try:
            c.validate(vocab)
        except ValueError as e:
            raise GenerationError(f"track {track + 1}: {e}") from None
    try:
        request = replace(request, pitch_range=_registers(piece, request))
    except RegisterError as e:
        raise GenerationError(str(e)) from None
    work = _working_piece(piece, request)
    # A selected bar that no meter of the model's language fits exactly is refused, named;
    # as context any meter is fine (language/meters.py).
    cells = [(s.track, b) for s in request.selection for b in range(s.first_bar, s.last_bar + 1)]
    check_selection(work, vocab, cells)
    steps = _plan(engine, work, len(piece.bars()), request)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    rngs = generators(seed, k)
    pieces = [work.copy() for _ in range(k)]
    context_velocity = _context_velocities(piece, request.selection)
    bars_total = k * sum(len(s.fill) for s in steps)
    done = Done(pieces, False, seed, 0, 0, 0.0, 0.0, None, 0)
    model_s0, steps0 = engine.model_seconds, engine.steps
    computed0, reused0 = engine.prompt_tokens
    for i, step in enumerate(steps):
        yield Progress(i, len(steps), k * sum(len(s.fill) for s in steps[:i]), bars_total)
        run = StepDecoder(engine, pieces, step, request, rngs, keep=i == 0)
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
    computed, reused = engine.prompt_tokens
    done.prompt_tokens = computed - computed0 + reused - reused0
    done.reused_tokens = reused - reused0
    done.total_ms = (time.perf_counter() - t_start) * 1e3
    yield done


def plan_steps(engine: Engine, piece: Piece, request: Request) -> list[Step]:
    """The window steps `generate` takes for `request`: what the model is shown of the piece
    around each hole (evaluations report how many bars of context that is)."""
    return _plan(engine, _working_piece(piece, request), len(piece.bars()), request)


def step_prompts(engine: Engine, piece: Piece, request: Request) -> list[list[int]]:
    """The prompt of every window step, built on the piece as given (before any step wrote its
    bars): for benchmarks and for looking at what the model is asked."""
    work = _working_piece(piece, request)
    steps = _plan(engine, work, len(piece.bars()), request)
    return [prompts.build(engine.vocab, work, step, request).tokens for step in steps]


def _working_piece(piece: Piece, request: Request) -> Piece:
    """A copy whose bar grid has exactly the bars a continuation adds, each in the meter the
    piece's time signatures give it. A change at or after the piece's end counts: a MIDI file
    may set the meter of bars it has no notes in yet, and sizing the new bars by the last
    bar's meter then gave a grid with fewer or more bars than the plan (a crash writing the
    last bar, or an empty bar left over)."""
    work = piece.copy()
    if request.mode == "continue" and request.new_bars > 0:
        want = len(piece.bars()) + request.new_bars
        while len(grid := work.bars()) < want:
            work.length = grid[-1].end + 2 * EPS  # opens one more bar, in whatever meter
            work.length = work.bars()[-1].end
    return work


def _plan(engine: Engine, work: Piece, n_bars: int, request: Request) -> list[Step]:
    """The window plan, with the widest window (up to the model's) whose prompts leave room in
    the context for the fills, each as long as its track's busiest bar in the window; dense
    pieces fall back to fewer bars per window. A 16th-note groove takes ~135 tokens a bar, and
    a fill that runs out of context stops mid-bar, so a narrower window is the better trade.
    Only when no window leaves that much room does the plan settle for FILL_RESERVE a hole."""
    vocab = engine.vocab
    n_tracks = len(work.tracks)
    fallback, last_error = None, ""
    for window in range(engine.window_bars, 0, -1):
        try:
            steps = plan(
                n_bars, n_tracks, request.selection, request.mode, window, engine.max_tracks,
                None if request.bars_per_step is None else min(request.bars_per_step, window),
                request.tracks_per_step, request.new_bars,
            )  # fmt: skip
        except ValueError as e:
            raise GenerationError(str(e)) from None
        roomy = tight = 0  # the longest step with each hole's busiest bar / FILL_RESERVE
        for step in steps:
            w = window_from_piece(
                work, vocab, step.bars, step.tracks, request.velocity, request.microtiming
            )
            holes = step.holes()
            n = len(encode(w, vocab, holes, None, request.velocity, request.microtiming, False))
            room = _fill_room(w, vocab, holes, request)
            roomy = max(roomy, n + sum(max(FILL_RESERVE, r) for r in room))
            tight = max(tight, n + FILL_RESERVE * len(holes))
        if roomy <= engine.context_length:
            return steps
        if fallback is None and tight <= engine.context_length:
            fallback = steps
        last_error = f"{tight} tokens with {window}-bar windows"
    if fallback is not None:
        return fallback
    raise GenerationError(
        f"the selection is too dense for the model's {engine.context_length}-token context "
        f"({last_error}); select fewer tracks"
    )


def _fill_room(window: object, vocab: object, holes: list[tuple[int, int]],
               request: Request) -> list[int]:  # fmt: skip
    """Per hole, the tokens of its track's busiest bar in the window (the hole's own original
    notes included) and the hole's <fill> and <fill_end>."""
    busiest: dict[int, int] = {}
    for t, _ in holes:
        if t not in busiest:
            bars = window.tracks[t].bars
            busiest[t] = 2 + max(
                len(encode_notes(vocab, bar, request.velocity, request.microtiming)) for bar in bars
            )
    return [busiest[t] for t, _ in holes]


def _registers(piece: Piece, request: Request) -> dict[int, tuple[int, int]]:
    """Every selected track's hard pitch range, its unset bounds measured from the track's
    notes outside all of its selected bars (so a range is the same in every window step)."""
    bars = piece.bars()
    spans: dict[int, list[tuple[float, float]]] = {}
    for s in request.selection:
        lo = bars[s.first_bar].start if s.first_bar < len(bars) else float("inf")
        hi = bars[s.last_bar].end if s.last_bar < len(bars) else float("inf")
        spans.setdefault(s.track, []).append((lo, hi))
    out = {}
    for track, ranges in spans.items():
        outside = [n for n in piece.tracks[track].notes
                   if not any(lo <= n.start < hi for lo, hi in ranges)]  # fmt: skip
        asked = request.pitch_range.get(track, (None, None))
        out[track] = resolve_register(piece.tracks[track], outside, *asked)
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
    "plan_steps",
    "step_prompts",
]
