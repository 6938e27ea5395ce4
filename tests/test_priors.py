"""The sampling priors: a refilled bar leans on the onset positions its track uses around the
hole (rhythm) and on the pitch classes sounding around it (harmony).

Pop parts repeat their rhythm bar to bar ("repeat the bar before" lands 0.90 of its onsets on the
original's grid positions, the v3 model alone 0.77 on the validation split) and stay in their key,
so the decoder lowers the positions and pitch classes the context does not use. These tests pin
what each prior is made of, that it only moves probability inside its token family, and that it
moves a model's choices -- a random one's, which on its own ignore the context entirely."""

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


def _decoder(engine, piece, selection, rhythm, seed=1, harmony=0.0):
    options = SamplingOptions(seed=seed, rhythm=rhythm, harmony=harmony)
    request = Request("infill", selection, sampling=options)
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
    out = decoder._priors(logits, [mask])
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
    assert not change[others].any()  # <fill_end>, pitches: untouched (harmony is off here)
    mass = lambda x: np.exp(x[legal].astype(np.float64)).sum()  # noqa: E731
    assert mass(out[0]) == pytest.approx(mass(logits[0]), rel=1e-5)  # as likely to start a note


def test_off_changes_nothing(engine):
    decoder = _decoder(engine, _piece(), HOLE, rhythm=0.0)
    decoder.grammars[0].advance(engine.vocab.special("<fill>"))
    logits = np.zeros((1, len(engine.vocab)), np.float32)
    assert decoder._priors(logits, [decoder.grammars[0].mask()]) is logits


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


def _band() -> Piece:
    """_piece() plus a pitched part playing G (67) in bars 3 and 4 and a drum part hitting key 38
    (class 2, D) all through: the harmony around the hole is C twice, D once (the part's own
    context bars 3 and 6), G twice; the drums do not count, nor the part's bars outside the
    window (C#)."""
    piece = _piece()
    piece.tracks.append(Track(program=0, notes=[Note(8.0, 67, 2.0), Note(12.0, 67, 2.0)]))
    kit = [Note(q, 38, 0.5) for q in np.arange(0.0, 32.0, 1.0)]
    piece.tracks.append(Track(program=0, is_drum=True, notes=kit))
    return piece


def test_the_harmony_is_the_pitch_classes_of_the_pitched_parts_around_the_hole(engine):
    decoder = _decoder(engine, _band(), HOLE, rhythm=0.0, harmony=1.0)
    expected = np.zeros(12)
    expected[0], expected[2], expected[7] = 1.0, 0.5, 1.0  # scaled: the commonest class is 1
    assert decoder.step_prompts[0].harmonies == {0: pytest.approx(expected)}


def test_a_drum_part_gets_no_harmony(engine):
    decoder = _decoder(engine, _band(), [Selection(2, 3, 4)], rhythm=0.0, harmony=1.0)
    assert decoder.step_prompts[0].harmonies == {0: None}


def test_the_harmony_penalty_moves_pitches_within_their_family(engine):
    decoder = _decoder(engine, _band(), HOLE, rhythm=0.0, harmony=2.0)
    grammar = decoder.grammars[0]
    vocab = engine.vocab
    pitch = vocab["pitch"]
    for token in (vocab.special("<fill>"), vocab["pos"].start):  # a note starts at tick 0
        grammar.advance(token)
    while not grammar.mask()[pitch.start : pitch.stop].any():  # past a velocity, if any
        grammar.advance(int(np.flatnonzero(grammar.mask())[0]))
    mask = grammar.mask()
    logits = np.random.default_rng(1).normal(size=(1, len(vocab))).astype(np.float32)
    out = decoder._priors(logits, [mask])
    legal = pitch.start + np.flatnonzero(mask[pitch.start : pitch.stop])
    assert len(legal) > 12
    classes = np.array(pitch.values)[legal - pitch.start] % 12
    share = np.zeros(12)
    share[0], share[2], share[7] = 1.0, 0.5, 1.0
    change = (out[0] - logits[0]).astype(np.float64)
    c_token = legal[classes == 0][0]
    relative = change[legal] - change[c_token]  # C is the commonest class: no penalty
    assert relative == pytest.approx(2.0 * (share[classes] - 1.0), abs=1e-5)
    others = np.setdiff1d(np.arange(len(vocab)), legal)
    assert not change[others].any()
    mass = lambda x: np.exp(x[legal].astype(np.float64)).sum()  # noqa: E731
    assert mass(out[0]) == pytest.approx(mass(logits[0]), rel=1e-5)


def test_a_strong_harmony_keeps_a_random_models_pitches_in_the_classes_around(engine):
    piece = _band()
    pitches = {}
    for harmony in (0.0, 8.0):
        pitches[harmony] = []
        for seed in range(3):
            options = SamplingOptions(seed=seed, rhythm=0.0, harmony=harmony)
            for event in generate(engine, piece, Request("infill", HOLE, sampling=options)):
                if isinstance(event, BarDone):
                    pitches[harmony] += [n.pitch % 12 for n in event.notes]
    share = {h: sum(c in (0, 2, 7) for c in p) / len(p) for h, p in pitches.items()}
    assert len(pitches[0.0]) > 3 and share[0.0] < 0.5 and share[8.0] > 0.9, share


def test_bad_strength_is_refused():
    with pytest.raises(ValueError, match="rhythm must be 0..10, got -1"):
        SamplingOptions(rhythm=-1.0).validate()
    with pytest.raises(ValueError, match="rhythm"):
        SamplingOptions(rhythm=11.0).validate()
    with pytest.raises(ValueError, match="harmony must be 0..10, got -1"):
        SamplingOptions(harmony=-1.0).validate()


def _kit_piece() -> Piece:
    """Eight 4/4 bars of drums: kick (36) and hi-hat (42) on every beat, snare (38) with the hat
    on beats 2 and 4; bars 4-5 (0-based 3-4) are the hole."""
    notes = []
    for beat in range(32):
        notes += [Note(beat, 42, 0.25), Note(beat, 38 if beat % 2 else 36, 0.25)]
    return Piece(tracks=[Track(program=0, is_drum=True, notes=notes)], length=32.0)


def test_a_drum_hole_gets_the_keys_its_context_plays_where(engine):
    decoder = _decoder(engine, _kit_piece(), HOLE, rhythm=4.0)
    kits = decoder.step_prompts[0].kits
    assert sorted(kits) == [(0, 1), (0, 2)]
    kit = kits[(0, 1)]
    assert kit.shape == (49, 128)  # 48 ticks of a 4/4 bar, then "anywhere in the bar"
    assert kit[0, [36, 42]] == pytest.approx([1.0, 1.0]) and kit[0, 38] == 0.0
    assert kit[12, [38, 42]] == pytest.approx([1.0, 1.0]) and kit[12, 36] == 0.0
    assert not kit[6].any()
    assert set(np.flatnonzero(kit[-1])) == {36, 38, 42}
    assert _decoder(engine, _piece(), HOLE, rhythm=4.0).step_prompts[0].kits == {
        (0, 1): None,
        (0, 2): None,
    }  # fmt: skip  (pitched parts: the harmony's job)


def _hits(engine, piece: Piece, rhythm: float, seeds: int = 4) -> list[tuple[int, int]]:
    out = []
    for seed in range(seeds):
        request = Request("infill", HOLE, sampling=SamplingOptions(seed=seed, rhythm=rhythm))
        bars = piece.bars()
        for event in generate(engine, piece, request):
            if isinstance(event, BarDone):
                out += [(round((n.start - bars[event.bar].start) * 12), n.pitch)
                        for n in event.notes]  # fmt: skip
    return out


def test_a_drum_prior_puts_a_random_models_hits_on_the_kit(engine):
    """A random model hits one of the 47 General MIDI drum keys at random (the register limit
    for drums). With the prior, a hit on a beat is a key the context plays on that beat, and a
    hit between beats one the context plays somewhere; few onsets stack keys nobody plays."""
    piece = _kit_piece()
    beat_keys = {0: {36, 42}, 12: {38, 42}, 24: {36, 42}, 36: {38, 42}}
    right = lambda hits: sum(k in beat_keys.get(t, {36, 38, 42}) for t, k in hits) / len(hits)  # noqa: E731
    off, on = _hits(engine, piece, 0.0), _hits(engine, piece, 4.0)
    assert len(off) > 8 and right(off) < 0.3, off
    assert len(on) > 8 and right(on) > 0.8, on


def test_a_drum_prior_keeps_the_groove_going(engine):
    """With the prior, a random model's hole bars hit every beat the bars around hit: the next
    onset does not jump over a position they play, and the bar does not end before them."""
    piece = _kit_piece()
    bars = piece.bars()
    beats = {0, 12, 24, 36}
    full = []
    for seed in range(12):
        request = Request("infill", HOLE, sampling=SamplingOptions(seed=seed, rhythm=4.0))
        for event in generate(engine, piece, request):
            if isinstance(event, BarDone):
                ticks = {round((n.start - bars[event.bar].start) * 12) for n in event.notes}
                full.append(beats <= ticks)
    assert len(full) == 24 and sum(full) >= 14, full  # 15; with onsets free to jump, none


def test_a_drum_bar_does_not_end_before_the_groove_it_sits_in(engine):
    """At the hole's first bar start, with every context bar playing, ending the bar empty
    loses twice the rhythm strength (8 nats; no other prior touches <fill_end>)."""
    decoder = _decoder(engine, _kit_piece(), HOLE, rhythm=4.0)
    grammar = decoder.grammars[0]
    grammar.advance(engine.vocab.special("<fill>"))
    mask = grammar.mask()
    end = engine.vocab.special("<fill_end>")
    assert mask[end]  # an empty bar is legal: the prior, not the grammar, argues against it
    logits = np.zeros((1, len(engine.vocab)), np.float32)
    out = decoder._priors(logits, [mask])[0]
    assert out[end] == pytest.approx(-8.0)


def _at_beat_one(engine, decoder, key=None, duration=False) -> np.ndarray:
    """Advance the decoder's grammar to beat 1 of the hole's first bar (with a velocity where
    the grammar asks for one first), then with `key` play it, and with `duration` give it its
    shortest legal duration; returns the mask of legal next tokens there."""
    vocab, grammar = engine.vocab, decoder.grammars[0]
    pitch, vel, dur = vocab["pitch"], vocab["vel"], vocab["dur"]
    grammar.advance(vocab.special("<fill>"))
    grammar.advance(vocab["pos"].id(0))
    if not grammar.mask()[pitch.start : pitch.stop].any():
        grammar.advance(vel.start + int(np.flatnonzero(grammar.mask()[vel.start : vel.stop])[-1]))
    if key is not None:
        grammar.advance(pitch.start + key)
    if duration:
        grammar.advance(dur.start + int(np.flatnonzero(grammar.mask()[dur.start : dur.stop])[0]))
    return grammar.mask()


def _durations(engine, mask) -> dict[int, int]:
    """The legal durations in `mask`: length in ticks -> token id."""
    family = engine.vocab["dur"]
    return {int(t): family.start + i for i, t in enumerate(engine.vocab.durations)
            if mask[family.start + i]}  # fmt: skip


def _zero_priors(engine, decoder, mask) -> np.ndarray:
    """The priors applied to all-zero logits: what each legal token gains or loses."""
    return decoder._priors(np.zeros((1, len(engine.vocab)), np.float32), [mask])[0]


def test_a_drum_hit_is_not_held_over_the_next_position_the_groove_plays(engine):
    """A hit's duration loses twice the rhythm strength times the largest share of the ticks it
    would ring over: a kick on beat 1 held longer than a beat covers beat 2, which every context
    bar plays; held a beat or less it does not. Under a one-voice limit a longer one rules beat
    2's hit out (prompt_infill's four-on-the-floor kick lost beats to held kicks)."""
    notes = [Note(beat, 36, 1.0 if beat % 2 else 2.0) for beat in range(32)]  # held 1 or 2 beats
    piece = Piece(tracks=[Track(program=0, is_drum=True, notes=notes)], length=32.0)
    decoder = _decoder(engine, piece, HOLE, rhythm=4.0)
    mask = _at_beat_one(engine, decoder, key=36)
    dur = _durations(engine, mask)
    short, long = [d for d in dur if d <= 12], [d for d in dur if d > 12]
    assert short and long, dur
    out = _zero_priors(engine, decoder, mask)
    base = out[dur[short[0]]]
    assert [out[dur[d]] - base for d in short] == pytest.approx([0.0] * len(short))
    assert [out[dur[d]] - base for d in long] == pytest.approx([-8.0] * len(long))


def test_a_drum_key_loses_what_the_keys_it_rules_out_are_played(engine):
    """An onset's keys go up, so a key rules out the legal keys below it for this onset, and
    loses twice the rhythm strength times the largest share among those the bars around play
    here: on beat 1 (kick 36 and hi-hat 42 in every context bar) a hi-hat first costs the
    kick, 8 nats (a piano-trained model liked starting on a conga and was then made to stack a
    key the part never plays above it)."""
    decoder = _decoder(engine, _kit_piece(), HOLE, rhythm=4.0)
    out = _zero_priors(engine, decoder, _at_beat_one(engine, decoder))
    pitch = lambda key: out[engine.vocab["pitch"].start + key]  # noqa: E731
    assert pitch(42) - pitch(36) == pytest.approx(-8.0)  # played here, but rules the kick out
    assert pitch(38) - pitch(36) == pytest.approx(-16.0)  # not played here, and rules it out
    assert pitch(35) - pitch(36) == pytest.approx(-8.0)  # below the kick: not played here only


def test_a_drum_onset_is_not_left_before_the_keys_still_played_at_it(engine):
    """After a note, moving on (the next onset, or the bar's end) loses twice the rhythm
    strength times the share of the best key still allowed at this onset: after the kick on
    beat 1 the hi-hat is still to come (8 nats); after the hi-hat nothing is (prompt_bmw's
    drums came back with 1.8 keys an onset where the part plays 2.6)."""
    vocab = engine.vocab

    def after(key):
        decoder = _decoder(engine, _kit_piece(), HOLE, rhythm=4.0)
        mask = _at_beat_one(engine, decoder, key=key, duration=True)
        return mask, _zero_priors(engine, decoder, mask)

    (kick_mask, kick), (hat_mask, hat) = after(36), after(42)
    beat2, end = vocab["pos"].id(12), vocab.special("<fill_end>")
    assert kick_mask[beat2] and hat_mask[beat2] and kick_mask[end] and hat_mask[end]
    assert kick[beat2] - hat[beat2] == pytest.approx(-8.0)
    assert kick[end] - hat[end] == pytest.approx(-8.0)
    assert kick[vocab["pitch"].start + 42] == pytest.approx(0.0)  # the hi-hat itself: no loss


def test_a_drum_onset_counts_as_played_whichever_key_plays_it(engine):
    """The onset rules read the share of context bars with an onset at a tick, not of the
    commonest key there: with a kick on beat 2 in one context bar and a snare in the other,
    every bar plays beat 2, and jumping from beat 1 to beat 3 loses the full 8 nats (plus the
    rhythm prior's 4 for a position no bar uses), not the 4 a half-share key would give."""
    notes = []
    for bar in range(8):
        notes += [Note(bar * 4.0, 36, 0.25), Note(bar * 4.0 + 1, 36 if bar % 2 else 38, 0.25)]
    piece = Piece(tracks=[Track(program=0, is_drum=True, notes=notes)], length=32.0)
    decoder = _decoder(engine, piece, HOLE, rhythm=4.0)
    kit = decoder.step_prompts[0].kits[(0, 1)]
    assert kit[12, 36] == kit[12, 38] == pytest.approx(0.5)
    vocab = engine.vocab
    mask = _at_beat_one(engine, decoder, key=36, duration=True)
    out = _zero_priors(engine, decoder, mask)
    beat2, beat3 = vocab["pos"].id(12), vocab["pos"].id(24)
    assert mask[beat2] and mask[beat3]
    assert out[beat3] - out[beat2] == pytest.approx(-12.0)
    assert out[vocab.special("<fill_end>")] - out[beat2] < -8.0  # ending skips beat 2 too


def test_a_one_voice_note_is_not_held_over_the_positions_its_part_plays(engine):
    """Under a one-voice limit a note's duration loses half the rhythm strength times the
    largest share of context bars with an onset among the positions it would ring over: with
    half notes in one context bar and a whole note in the other, a whole note on beat 1 covers
    beat 3, which half the bars play (4 / 2 * 0.5 = 1 nat); a half note ends there (no loss).
    Tried on the POP909 validation split: onsets on the original's positions +0.016 +- 0.005."""
    notes = []
    for bar in range(8):  # whole notes in bars 5 and 6 (0-based 4, in the hole, and 5)
        start = bar * 4.0
        if bar in (4, 5):
            notes.append(Note(start, 60, 4.0))
        else:
            notes += [Note(start, 60, 2.0), Note(start + 2, 62, 2.0)]
    piece = Piece(tracks=[Track(program=0, notes=notes)], length=32.0)
    decoder = _decoder(engine, piece, HOLE, rhythm=4.0)
    assert decoder.step_prompts[0].rhythms[(0, 1)][[0, 24]] == pytest.approx([1.0, 0.5])
    mask = _at_beat_one(engine, decoder, key=60)
    assert decoder.grammars[0].rules_now.limit == 1
    dur = _durations(engine, mask)
    assert 24 in dur and 48 in dur, sorted(dur)
    out = _zero_priors(engine, decoder, mask)
    assert out[dur[48]] - out[dur[24]] == pytest.approx(-1.0)
