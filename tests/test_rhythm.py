"""The rhythm prior: a refilled bar leans on the onset positions its track uses around the hole.

Pop parts repeat their rhythm bar to bar ("repeat the bar before" lands 0.90 of its onsets on the
original's grid positions, the v3 model 0.74), so the decoder takes a logit penalty off the
positions the track's context bars use. These tests pin what the prior is made of and that it
moves a model's onsets -- a random one, which on its own ignores the context entirely."""

from __future__ import annotations

import numpy as np
import pytest

from midigen.server.engine import decoding
from midigen.server.engine.generation import BarDone, Request, _plan, generate
from midigen.server.engine.sampling import SamplingOptions, generators
from midigen.server.language.piece import Note, Piece, Track
from midigen.server.language.windows import Selection


def _piece() -> Piece:
    """Eight 4/4 bars of one part; bars 4-5 (0-based 3-4) are the hole. The test bundle's window
    is 4 bars, so the context is bar 3 (beats 1 and 3, ticks 0 and 24) and bar 6 (beat 1): tick 0
    in both, tick 24 in one. Bar 2 is empty; bars 1, 7 and 8, outside the window, play beat 2
    only; the hole plays beats 2 and 4."""
    beats = {1: (), 2: (0, 2), 3: (1, 3), 4: (1, 3), 5: (0,)}
    notes = [Note(bar * 4.0 + beat, 60 + beat, 1.0)
             for bar in range(8) for beat in beats.get(bar, (1,))]  # fmt: skip
    return Piece(tracks=[Track(program=0, notes=notes)], length=32.0)


HOLE = [Selection(0, 3, 4)]


def _decoder(engine, piece, selection, rhythm, seed=1):
    request = Request("infill", selection, sampling=SamplingOptions(seed=seed, rhythm=rhythm))
    step = _plan(engine, piece, len(piece.bars()), request)[0]
    return decoding.StepDecoder(engine, [piece], step, request, generators(seed, 1))


def test_the_rhythm_is_the_share_of_context_bars_using_each_position(engine):
    """The track's bars in the window, beside the hole, that have notes."""
    decoder = _decoder(engine, _piece(), HOLE, rhythm=2.0)
    rhythms = decoder.step_prompts[0].rhythms
    assert sorted(rhythms) == [(0, 1), (0, 2)]  # one per hole, in window coordinates
    expected = np.zeros(48)  # a 4/4 bar at 12 ticks per quarter
    expected[0], expected[24] = 1.0, 0.5  # never the hole's own beats, nor bars outside
    assert rhythms[(0, 1)] == pytest.approx(expected)
    assert rhythms[(0, 2)] == pytest.approx(expected)


def test_a_track_silent_around_the_hole_has_no_rhythm(engine):
    piece = _piece()
    piece.tracks[0].notes = [n for n in piece.tracks[0].notes if not 8.0 <= n.start < 24.0
                             or 12.0 <= n.start < 20.0]  # fmt: skip
    decoder = _decoder(engine, piece, HOLE, rhythm=2.0)
    assert decoder.step_prompts[0].rhythms == {(0, 1): None, (0, 2): None}


def test_the_penalty_moves_onsets_between_positions_only(engine):
    decoder = _decoder(engine, _piece(), HOLE, rhythm=3.0)
    grammar = decoder.grammars[0]
    grammar.advance(engine.vocab.special("<fill>"))  # the hole's first bar opens: onsets legal
    mask = grammar.mask()
    logits = np.random.default_rng(0).normal(size=(1, len(engine.vocab))).astype(np.float32)
    out = decoder._rhythm(logits, [mask])
    assert out is not logits  # the engine's logits stay as they were (a retry replays them)
    pos = engine.vocab["pos"]
    legal = pos.start + np.flatnonzero(mask[pos.start : pos.stop])
    assert len(legal) == 48
    change = (out[0] - logits[0]).astype(np.float64)
    relative = change[legal] - change[pos.start]  # against tick 0, which every context bar uses
    share = np.zeros(48)
    share[0], share[24] = 1.0, 0.5
    expected = 3.0 * (share - share[0])  # a position's penalty is 3 nats times its unused share
    assert relative == pytest.approx(expected, abs=1e-5)
    others = np.setdiff1d(np.arange(len(engine.vocab)), legal)
    assert not change[others].any()  # <fill_end>, pitches: untouched
    mass = lambda x: np.exp(x[legal].astype(np.float64)).sum()  # noqa: E731
    assert mass(out[0]) == pytest.approx(mass(logits[0]), rel=1e-5)  # as likely to start a note


def test_off_changes_nothing(engine):
    decoder = _decoder(engine, _piece(), HOLE, rhythm=0.0)
    decoder.grammars[0].advance(engine.vocab.special("<fill>"))
    logits = np.zeros((1, len(engine.vocab)), np.float32)
    assert decoder._rhythm(logits, [decoder.grammars[0].mask()]) is logits


def _onsets(engine, piece, rhythm) -> list[int]:
    """In-bar ticks of the onsets written into the hole (3 seeds)."""
    bars = piece.bars()
    out = []
    for seed in range(3):
        request = Request("infill", HOLE, sampling=SamplingOptions(seed=seed, rhythm=rhythm))
        for event in generate(engine, piece, request):
            if isinstance(event, BarDone):
                out += [round((n.start - bars[event.bar].start) * 12) for n in event.notes]
    return out


def test_a_strong_prior_puts_a_random_models_onsets_on_the_tracks_rhythm(engine):
    """A random model lands few onsets on ticks 0 and 24 (2 of 48). With the prior at 8 nats,
    an onset up to tick 24 lands on one of them (the track's rhythm has a position ahead);
    tick 12, which bars outside the window use, stays rare."""
    piece = _piece()
    off, on = _onsets(engine, piece, 0.0), _onsets(engine, piece, 8.0)
    share = lambda ticks: sum(t in (0, 24) for t in ticks) / len(ticks)  # noqa: E731
    assert len(off) > 3 and share(off) < 0.3, off
    early = [t for t in on if t <= 24]
    assert len(early) >= 6 and share(early) > 0.9, on
    assert sum(t == 12 for t in on) <= len(on) // 10, on


def test_bad_strength_is_refused():
    with pytest.raises(ValueError, match="rhythm must be 0..10, got -1"):
        SamplingOptions(rhythm=-1.0).validate()
    with pytest.raises(ValueError, match="rhythm"):
        SamplingOptions(rhythm=11.0).validate()
