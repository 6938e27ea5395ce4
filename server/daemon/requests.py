"""/generate to a generation request: wire terms (1-based, -1 = any, top_p 0 = default) to the
engine's (0-based, None), and every check that does not need the model, run before /accepted.

Protocol 1 queued a job and only then learned that its bars were out of the model's reach or
its loop range wrong; by then the upload was used up and other jobs were superseded. Now the
request is checked against the piece here and then planned exactly as the worker will plan it
(generation.generate up to its first event, which comes before any model step), so an
accepted job fails only for reasons that appear while the model writes.
"""

from __future__ import annotations

from dataclasses import replace

from ..engine import generation as gen
from ..engine.sampling import SamplingOptions
from ..engine.session import Engine, EngineError
from ..language.controls import Controls
from ..language.piece import Piece
from ..language.windows import Selection
from . import protocol as p
from .errors import ErrorCode, Refusal

DEFAULT_TOP_P = 0.95  # SamplingOptions' default for jobs; top_p 0 on the wire asks for it


def invalid(text: str) -> Refusal:
    return Refusal(ErrorCode.invalid_request, text)


def build(piece: Piece, m: p.Generate, max_bar_tokens: int) -> tuple[Piece, gen.Request]:
    """Check the selections against the piece and build the 0-based request."""
    n_bars, n_tracks = len(piece.bars()), len(piece.tracks)
    selection, controls, programs, registers = [], {}, {}, {}
    for s in m.selections:
        if s.track > n_tracks:
            raise invalid(f"track {s.track}: the piece has {n_tracks} tracks")
        if s.first_bar > s.last_bar:
            raise invalid(f"track {s.track}: bars {s.first_bar}-{s.last_bar} are reversed")
        if m.mode == "continue":
            if s.first_bar != n_bars + 1:
                raise invalid(
                    f"continue writes bars after the piece's {n_bars}: first_bar must be "
                    f"{n_bars + 1}, got {s.first_bar}"
                )
            if s.last_bar - n_bars > p.MAX_NEW_BARS:
                raise Refusal(ErrorCode.too_large, f"continue adds at most {p.MAX_NEW_BARS} bars")
        elif s.last_bar > n_bars:
            raise invalid(f"track {s.track}: bar {s.last_bar} of a {n_bars}-bar piece")
        if min(s.pitch_min, s.pitch_max) >= 0 and s.pitch_min > s.pitch_max:
            raise invalid(f"track {s.track}: pitch_min {s.pitch_min} > pitch_max {s.pitch_max}")
        t = s.track - 1
        selection.append(Selection(t, s.first_bar - 1, s.last_bar - 1))
        c = [None if v < 0 else v for v in (s.density, s.poly_min, s.poly_max)]
        c += [None if v < 0 else v for v in (s.dur_min, s.dur_max)]
        controls.setdefault(t, Controls(*c))
        registers.setdefault(t, tuple(None if v < 0 else v for v in (s.pitch_min, s.pitch_max)))
        if s.program >= 0:
            programs.setdefault(t, s.program)
    spans = sorted((s.track, s.first_bar, s.last_bar) for s in m.selections)
    for (track, _, last), (other, first, _) in zip(spans, spans[1:]):
        if track == other and first <= last:  # in wire terms: the engine's text is 0-based
            raise invalid(f"track {track}: selections overlap at bar {first}")
    if m.mode == "continue" and len({s.last_bar for s in selection}) > 1:
        raise invalid("continue: every selection must end at the same bar")
    if m.mode == "loop" and len({(s.first_bar, s.last_bar) for s in selection}) > 1:
        raise invalid("loop: every selection must name the same bars")
    if programs:
        piece = piece.copy()
        for t, program in programs.items():
            piece.tracks[t].program = program
    sampling = SamplingOptions(
        temperature=m.temperature,
        top_p=m.top_p if m.top_p > 0 else DEFAULT_TOP_P,
        seed=None if m.seed < 0 else m.seed,
        max_bar_tokens=max_bar_tokens,
    )
    request = gen.Request(
        mode=m.mode,
        selection=selection,
        new_bars=selection[0].last_bar + 1 - n_bars if m.mode == "continue" else 0,
        controls=controls,
        velocity=bool(m.velocity),
        microtiming=bool(m.microtiming),
        variations=m.variations,
        sampling=sampling,
        pitch_range={t: r for t, r in registers.items() if r != (None, None)},
    )
    return piece, request


def plan(engine: Engine, piece: Piece, request: gen.Request) -> int:
    """Run every check generation runs before its first model step; the bar groups the job
    will send. Refusal `invalid_request` names what the model cannot do. Planned for one
    variation (the checks do not depend on the count, and generation copies the piece once
    per variation: 16 copies of a 20,000-note piece took 2.4 s of the network thread)."""
    events = gen.generate(engine, piece, replace(request, variations=1))
    try:
        first = next(events)
    except (gen.GenerationError, gen.LanguageError, EngineError, ValueError) as e:
        text = str(e).strip()
        raise invalid(text.splitlines()[0] if text else type(e).__name__) from None
    finally:
        events.close()
    return request.variations * first.bars_total if isinstance(first, gen.Progress) else 0
