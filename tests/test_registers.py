"""Registers: a hard pitch range per generated track, given or measured (language/registers.py),
held by the grammar on every walk and by generate() on a real file."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_grammar import walk

import tiny_bundle
from midigen.server.engine.generation import BarDone, GenerationError, Request, generate
from midigen.server.engine.sampling import SamplingOptions
from midigen.server.language import registers
from midigen.server.language.grammar import Grammar
from midigen.server.language.grid import LanguageError, window_from_piece
from midigen.server.language.midifiles import read_midi
from midigen.server.language.piece import Note, Track
from midigen.server.language.tokens import encode
from midigen.server.language.windows import Selection
from strategies import VOCAB, holes_for, windows


def notes(*pitches):
    return [Note(float(i), p, 1.0) for i, p in enumerate(pitches)]


def test_measured_from_the_tracks_notes_outside_with_a_margin():
    bass = Track(33, False, "bass", [])
    m = registers.MARGIN
    assert registers.resolve(bass, notes(40, 52, 45), None, None) == (40 - m, 52 + m)
    assert registers.resolve(bass, notes(1, 126), None, None) == (0, 127)  # clamped
    # a bound the user sets wins; the other stays measured
    assert registers.resolve(bass, notes(40, 52), 36, None) == (36, 52 + m)
    assert registers.resolve(bass, notes(40, 52), None, 48) == (40 - m, 48)
    # a set bound beyond the measured other: an octave opens from the set one
    assert registers.resolve(bass, notes(40, 52), 70, None) == (70, 82)
    assert registers.resolve(bass, notes(40, 52), None, 30) == (18, 30)


def test_empty_tracks_take_the_instruments_usual_range_and_drums_the_gm_keys():
    assert registers.resolve(Track(33, False, "bass", []), [], None, None) == (28, 60)
    assert registers.resolve(Track(73, False, "flute", []), [], None, None) == (55, 96)
    kit = Track(0, True, "drums", [])
    assert registers.resolve(kit, [], None, None) == (35, 81)
    assert registers.resolve(kit, notes(36, 38, 42), None, None) == (35, 81)
    assert registers.resolve(kit, notes(27, 36, 86), None, None) == (27, 86)  # its own keys


@pytest.mark.parametrize("low, high", [(-1, None), (None, 128), (60, 59)])
def test_impossible_ranges_are_refused(low, high):
    with pytest.raises(registers.RegisterError):
        registers.resolve(Track(), [], low, high)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.randoms(use_true_random=False))
def test_walks_never_leave_the_register_and_reach_both_ends(data, rng):
    window, vel, mt = data.draw(windows(max_bars=3, max_tracks=3, max_notes=5))
    holes = data.draw(holes_for(window))
    assume(holes)
    low = data.draw(st.integers(0, 120))
    high = data.draw(st.integers(low, 127))
    ranges = [(low, high) if t == holes[0][0] else None for t in range(len(window.tracks))]
    prompt = encode(window, VOCAB, holes, None, vel, mt, fills=False)
    for _ in range(3):
        grammar = Grammar(VOCAB, prompt, ranges)
        _tokens, bars = walk(grammar, rng)
        for bar in bars:
            if bar.track == holes[0][0]:
                assert all(low <= n.pitch <= high for n in bar.notes)
    # at a fresh onset the mask offers exactly the register's pitches
    grammar = Grammar(VOCAB, prompt, ranges)
    pitch0 = VOCAB["pitch"].start
    while not grammar.done:
        m = grammar.mask()
        pitches = np.flatnonzero(m[pitch0 : pitch0 + 128])
        if grammar.current_hole and grammar.current_hole[0] == holes[0][0] and len(pitches):
            assert pitches.min() >= low and pitches.max() == high
        legal = np.flatnonzero(m)
        grammar.advance(int(legal[rng.randrange(len(legal))]))


@pytest.mark.parametrize("low, high", [(60, 60), (0, 0), (127, 127), (40, 41)])
def test_a_register_of_one_or_two_keys_is_offered_whole(low, high):
    """At a fresh onset the whole register is offered, its top key included when it is also
    the bottom one (a one-key register), with 0 and 127 themselves allowed as bounds."""
    piece = read_midi(tiny_bundle.MIDI / "prompt_bmw.mid")
    window = window_from_piece(piece, VOCAB, bars=range(2))
    prompt = encode(window, VOCAB, [(0, 1)], None, True, False, fills=False)
    grammar = Grammar(VOCAB, prompt, [(low, high), None, None])
    pitch0, seen = VOCAB["pitch"].start, []
    rng = np.random.default_rng(0)
    while not grammar.done and len(seen) < 20:
        m = grammar.mask()
        pitches = np.flatnonzero(m[pitch0 : pitch0 + 128])
        if grammar.current_hole and grammar.current_hole[0] == 0 and len(pitches):
            seen.append(pitches.tolist())
            pick = pitch0 + int(pitches[0])
        else:
            legal = np.flatnonzero(m)
            pick = int(legal[rng.integers(len(legal))])
        grammar.advance(pick)
    assert seen, "the walk never reached a pitch of the hole"
    assert all(set(offered) <= set(range(low, high + 1)) for offered in seen)
    assert list(range(low, high + 1)) in seen  # at a fresh onset: the whole register


def test_a_register_that_is_not_a_pitch_range_is_refused():
    piece = read_midi(tiny_bundle.MIDI / "prompt_bmw.mid")
    window = window_from_piece(piece, VOCAB, bars=range(2))
    prompt = encode(window, VOCAB, [(0, 1)], None, True, False, fills=False)
    with pytest.raises(LanguageError):
        Grammar(VOCAB, prompt, [(70, 60)])


@pytest.fixture(scope="module")
def bmw():
    return read_midi(tiny_bundle.MIDI / "prompt_bmw.mid")  # bass, solo, drums


def _generated(engine, piece, **kw):
    request = Request(mode="infill", variations=2,
                      sampling=SamplingOptions(seed=3, max_bar_tokens=60), **kw)  # fmt: skip
    return [e for e in generate(engine, piece, request) if isinstance(e, BarDone)]


def test_generate_keeps_every_track_in_its_register(engine, bmw):
    """A random model wanders over all 128 pitches; the limits must hold anyway."""
    selection = [Selection(0, 2, 5), Selection(2, 2, 5)]  # the bass and the drums
    bars = _generated(engine, bmw, selection=selection, pitch_range={0: (40, 47)})
    assert {b.track for b in bars} == {0, 2}
    bass = [n.pitch for b in bars if b.track == 0 for n in b.notes]
    assert bass and all(40 <= p <= 47 for p in bass)
    kit = bmw.tracks[2]
    outside = [n.pitch for n in kit.notes if not 2 * 4 <= n.start < 6 * 4]
    lo, hi = min(35, *outside), max(81, *outside)
    drums = [n.pitch for b in bars if b.track == 2 for n in b.notes]
    assert drums and all(lo <= p <= hi for p in drums)
    # unset: measured from the bass's own notes outside bars 3-6, with the margin
    bars = _generated(engine, bmw, selection=[Selection(0, 2, 5)])
    own = [n.pitch for n in bmw.tracks[0].notes if not 8 <= n.start < 24]
    pitches = [n.pitch for b in bars for n in b.notes]
    m = registers.MARGIN
    assert pitches and min(own) - m <= min(pitches) and max(pitches) <= max(own) + m


def test_generate_refuses_an_impossible_range(engine, bmw):
    with pytest.raises(GenerationError, match="pitch_min 60 is above pitch_max 50"):
        _generated(engine, bmw, selection=[Selection(0, 2, 3)], pitch_range={0: (60, 50)})


def test_cli_pitch_range_is_a_hard_limit_and_checked_first(bundle, tmp_path, capsys):
    from midigen.server.tools.cli import main

    bmw = tiny_bundle.MIDI / "prompt_bmw.mid"
    common = ["--model", str(bundle), "--threads", "1", "-q", "--max-bar-tokens", "40"]
    out = tmp_path / "out.mid"
    args = ["infill", str(bmw), "--track", "2", "--bars", "5-8", "--seed", "2"]
    assert main(args + ["--pitch-min", "60", "--pitch-max", "64", "-o", str(out)] + common) == 0
    after = read_midi(out)
    bars = after.bars()
    new = [n.pitch for n in after.tracks[1].notes if bars[4].start <= n.start < bars[7].end]
    assert new and all(60 <= p <= 64 for p in new)
    capsys.readouterr()
    bad = tmp_path / "bad.mid"
    assert main(args + ["--pitch-min", "70", "--pitch-max", "60", "-o", str(bad)] + common) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["midigen: error: --pitch-min 70 is above --pitch-max 60"] and not bad.exists()


def test_loop_and_continue_leave_silent_tracks_silent_unless_named(bundle, tmp_path):
    """Issue 15: `midigen loop` on all tracks wrote stray notes into tracks silent there."""
    from midigen.server.language.midifiles import write_midi
    from midigen.server.language.piece import Piece
    from midigen.server.tools.cli import main

    keys = Track(0, False, "keys", [Note(q, 60 + q % 5, 1.0) for q in range(32)])
    bass = Track(33, False, "bass", [Note(q, 36 + q % 3, 2.0) for q in range(0, 32, 2)])
    pad = Track(89, False, "pad", [Note(16.0, 64, 4.0), Note(20.0, 67, 4.0)])  # bars 5-6 only
    src = tmp_path / "song.mid"
    write_midi(Piece([keys, bass, pad], length=32.0), src)
    common = ["--model", str(bundle), "--threads", "1", "-q", "--max-bar-tokens", "40"]

    def pad_notes(path, lo, hi):
        return [n for n in read_midi(path).tracks[2].notes if lo <= n.start < hi]

    out = tmp_path / "loop.mid"
    assert main(["loop", str(src), "--bars", "1-4", "--seed", "1", "-o", str(out)] + common) == 0
    assert pad_notes(out, 0, 16) == []
    assert [n.start for n in read_midi(out).tracks[0].notes if n.start < 16] != list(range(16))
    named = tmp_path / "named.mid"
    argv = ["loop", str(src), "--bars", "1-4", "--track", "pad", "--density", "5", "--seed", "1"]
    assert main(argv + ["-o", str(named)] + common) == 0
    assert pad_notes(named, 0, 16)  # asked for by name: written
    cont = tmp_path / "cont.mid"
    # the pad plays in bars 5-6, inside the last four bars (5-8): it is continued
    assert (
        main(["continue", str(src), "--new-bars", "2", "--seed", "1", "-o", str(cont)] + common)
        == 0
    )
    assert len(read_midi(cont).bars()) == 10
    quiet = Piece([keys, bass, Track(89, False, "pad", [Note(0.0, 64, 4.0)])], length=32.0)
    write_midi(quiet, src)
    assert (
        main(["continue", str(src), "--new-bars", "2", "--seed", "1", "-o", str(cont)] + common)
        == 0
    )
    assert pad_notes(cont, 32, 40) == [] and [
        n for n in read_midi(cont).tracks[0].notes if n.start >= 32
    ]
