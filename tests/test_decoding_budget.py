"""The context budget closes a bar whatever density steering wants. A dense pop part asked for at
the top density level once filled the 1024-token context mid-bar (EngineError): the steering,
still short of its notes, kept <fill_end> forbidden, so the budget could only stop new onsets and
pitches piled up at the current one until the context overflowed."""

from __future__ import annotations

import numpy as np

import tiny_bundle
from midigen.server.engine import decoding
from midigen.server.engine.generation import Request, _plan
from midigen.server.engine.sampling import SamplingOptions, generators
from midigen.server.language.midifiles import read_midi
from midigen.server.language.windows import Selection


def _decoder_after_one_note(engine):
    piece = read_midi(tiny_bundle.MIDI / "prompt_bmw.mid")
    request = Request("infill", [Selection(1, 2, 3)], sampling=SamplingOptions(seed=1))
    step = _plan(engine, piece, len(piece.bars()), request)[0]
    decoder = decoding.StepDecoder(engine, [piece], step, request, generators(1, 1))
    grammar = decoder.grammars[0]
    for family in ("<fill>", "pos", "vel", "pitch", "dur"):  # one whole note into the bar
        legal = np.flatnonzero(grammar.mask())
        if family.startswith("<"):
            token = engine.vocab.special(family)
        else:
            span = engine.vocab[family]
            token = int(next(t for t in legal if span.start <= t < span.stop))
        grammar.advance(token)
    decoder.notes[0] = 1
    hole_track = grammar.current_hole[0]
    decoder.step_prompts[0].bands[hole_track] = (10_000, None)  # steering: never enough notes
    return decoder, grammar


def test_steering_keeps_the_bar_open_while_there_is_room(engine):
    decoder, grammar = _decoder_after_one_note(engine)
    m = decoder._budget(0, grammar, 3, grammar.mask())
    assert not m[decoder.fill_end] and m[decoder.pitch.start : decoder.pitch.stop].any()


def test_a_nearly_full_context_closes_the_bar_even_when_steering_wants_more(engine, monkeypatch):
    decoder, grammar = _decoder_after_one_note(engine)
    monkeypatch.setattr(engine, "room", lambda: 6)
    m = decoder._budget(0, grammar, 3, grammar.mask())
    assert np.flatnonzero(m).tolist() == [decoder.fill_end]
    # over the bar's token budget: the same
    monkeypatch.undo()
    m = decoder._budget(0, grammar, decoder.options.max_bar_tokens, grammar.mask())
    assert np.flatnonzero(m).tolist() == [decoder.fill_end]
