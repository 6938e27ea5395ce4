"""The grammar: any walk over legal tokens decodes to exactly the requested bars, honouring the
hard limits; and real data (controls measured from it) is never blocked."""

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midigen.server.language.controls import Controls, duration_class, sounding_counts
from midigen.server.language.grammar import Grammar, GrammarError
from midigen.server.language.grid import LanguageError
from midigen.server.language.tokens import decode, encode
from strategies import VOCAB, holes_for, requests, windows

TOP = VOCAB.document["polyphony_levels"]


def walk(grammar, rng):
    """Uniform over legal tokens until <end>; returns the tokens and the bars streamed out."""
    out, bars = [], []
    while not grammar.done:
        legal = np.flatnonzero(grammar.mask())
        assert len(legal), "dead end: no legal token"
        tok = int(legal[rng.randrange(len(legal))])
        finished = grammar.advance(tok)
        if finished is not None:
            bars.append(finished)
        out.append(tok)
        assert len(out) < 20_000
    return out, bars


def check_generation(window, holes, controls, prompt, generated, streamed, vel, mt):
    got = decode(prompt + generated, VOCAB)
    assert got.ended and got.filled == len(holes) and got.holes == sorted(holes)
    # streamed bars are the decoded fills, in fill order
    assert [(b.track, b.bar) for b in streamed] == sorted(holes)
    assert [b.notes for b in streamed] == got.fills
    # canonical: re-encoding what was decoded gives back exactly the sampled tokens
    assert encode(got.window, VOCAB, holes, got.controls, vel, mt) == prompt + generated
    ticks = got.window.bar_ticks(VOCAB)
    starts = got.window.bar_starts(VOCAB)
    end = sum(ticks)
    for t, b in holes:
        c = controls[t]
        track = got.window.tracks[t]
        counts = sounding_counts(track, ticks)
        onsets = set()
        for n in track.bars[b]:
            assert 0 <= n.tick < ticks[b]
            assert (n.tick, n.pitch) not in onsets
            onsets.add((n.tick, n.pitch))
            a = starts[b] + n.tick
            assert a + n.duration <= end
            cls = duration_class(n.duration)
            assert (c.dur_min or 0) <= cls <= (5 if c.dur_max is None else c.dur_max)
            if c.poly_max is not None and c.poly_max < TOP:
                assert counts[a : a + n.duration].max() <= c.poly_max
            if not mt:
                assert n.offset == 0


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.randoms(use_true_random=False))
def test_random_walks_honour_the_request(data, rng):
    window, vel, mt = data.draw(windows(max_bars=4, max_tracks=3, max_notes=6))
    holes = data.draw(holes_for(window))
    controls = [data.draw(requests()) for _ in window.tracks]
    prompt = encode(window, VOCAB, holes, controls, vel, mt, fills=False)
    for _ in range(4):  # several walks per request
        grammar = Grammar(VOCAB, prompt)
        generated, streamed = walk(grammar, rng)
        check_generation(window, holes, controls, prompt, generated, streamed, vel, mt)


def test_thousands_of_walks_on_one_dense_request():
    """A crowded context with tight limits: the corners where dead ends would hide."""
    rng = random.Random(7)
    window = None
    from midigen.server.language.grid import window_from_piece
    from midigen.server.language.piece import Note, Piece, TimeSignature, Track

    chords = [Note(q, p, 2, 90) for q in range(0, 16, 2) for p in (48, 55, 64)]
    melody = [Note(q * 0.5, 72 + (q % 5), 0.5, 70 + q) for q in range(32)]
    piece = Piece(
        [Track(0, False, "keys", chords), Track(40, False, "violin", melody)],
        time_signatures=[(0.0, TimeSignature(4, 4)), (8.0, TimeSignature(7, 8))],
        length=15,
    )
    window = window_from_piece(piece, VOCAB, microtiming=True)
    holes = [(0, 1), (0, 2), (1, 0), (1, 3)]
    controls = [Controls(poly_max=3, dur_min=4), Controls(poly_max=1, dur_max=2)]
    prompt = encode(window, VOCAB, holes, controls, True, True, fills=False)
    for _ in range(1500):
        grammar = Grammar(VOCAB, prompt)
        generated, streamed = walk(grammar, rng)
        check_generation(window, holes, controls, prompt, generated, streamed, True, True)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_real_data_is_never_blocked(data):
    """With controls measured from the notes (as in training), every token of the true fill
    sections is legal: the hard limits never cut away what the model was trained on."""
    window, vel, mt = data.draw(windows(max_bars=4, max_tracks=3, max_notes=8))
    holes = data.draw(holes_for(window))
    full = encode(window, VOCAB, holes, None, vel, mt)
    prompt = encode(window, VOCAB, holes, None, vel, mt, fills=False)
    grammar = Grammar(VOCAB, prompt)
    for tok in full[len(prompt) :]:
        assert grammar.mask()[tok], VOCAB.describe(tok)
        grammar.advance(tok)
    assert grammar.done


def test_illegal_token_raises_with_context():
    from midigen.server.language.grid import window_from_piece
    from midigen.server.language.piece import Note, Piece, Track

    window = window_from_piece(Piece([Track(0, False, "", [Note(0, 60, 1)])], length=8), VOCAB)
    prompt = encode(window, VOCAB, [(0, 1)], fills=False)
    grammar = Grammar(VOCAB, prompt)
    with pytest.raises(GrammarError, match="not legal here"):
        grammar.advance(VOCAB["pitch"].id(60))  # <fill> must come first
    grammar = Grammar(VOCAB, prompt)
    grammar.advance(VOCAB.special("<fill>"))
    grammar.advance(VOCAB["pos"].id(12))
    grammar.advance(VOCAB["vel"].id(5))
    grammar.advance(VOCAB["pitch"].id(60))
    with pytest.raises(GrammarError):  # the bar ends at tick 96: 192 ticks run past the window
        grammar.advance(VOCAB["dur"].id(192))
    with pytest.raises(LanguageError, match="stop before the first <fill>"):
        Grammar(VOCAB, encode(window, VOCAB, [(0, 1)]))


def test_poly_max_one_makes_a_monophonic_line():
    from midigen.server.language.grid import window_from_piece
    from midigen.server.language.piece import Piece, Track

    window = window_from_piece(Piece([Track(0, False, "", [])], length=8), VOCAB)
    prompt = encode(window, VOCAB, [(0, 0), (0, 1)], [Controls(poly_max=1)], fills=False)
    rng = random.Random(1)
    for _ in range(200):
        generated, _ = walk(Grammar(VOCAB, prompt), rng)
        got = decode(prompt + generated, VOCAB).window
        counts = sounding_counts(got.tracks[0], got.bar_ticks(VOCAB))
        assert counts.max() <= 1
