"""The token language: lossless on the grid, strict on bad input, and tied to its JSON document."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midigen.server.language import vocab as vocab_mod
from midigen.server.language.controls import Controls, duration_class, measure
from midigen.server.language.grid import (
    LanguageError,
    check_selection,
    window_from_piece,
    window_to_piece,
)
from midigen.server.language.midifiles import read_midi
from midigen.server.language.piece import Note, Piece, TimeSignature, Track
from midigen.server.language.tokens import decode, encode, format_tokens
from strategies import VOCAB, holes_for, windows

REPO = Path(__file__).resolve().parents[1]
SHARED_MIDI = REPO.parent / "shared" / "midi"
MIDI_FILES = sorted(SHARED_MIDI.glob("*.mid"))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_encode_decode_is_lossless_on_the_grid(data):
    window, vel, mt = data.draw(windows())
    holes = data.draw(holes_for(window))
    ids = encode(window, VOCAB, holes=holes, velocity=vel, microtiming=mt)
    back = decode(ids, VOCAB)
    assert back.window == window
    assert back.holes == sorted(holes)
    assert back.filled == len(holes) and back.ended
    assert (back.velocity, back.microtiming) == (vel, mt)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_quantization_is_idempotent(data):
    """A window written out as a piece and cut again is the same window: the grid is exact."""
    window, vel, mt = data.draw(windows())
    piece = window_to_piece(window, VOCAB)
    again = window_from_piece(piece, VOCAB, velocity=vel, microtiming=mt)
    assert again == window


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 15.9, allow_nan=False),
            st.integers(0, 127),
            st.floats(0.01, 6, allow_nan=False),
            st.integers(1, 127),
        ),
        max_size=40,
    ),
    st.booleans(),
)
def test_off_grid_pieces_round_trip_after_quantization(notes, mt):
    piece = Piece([Track(0, False, "x", [Note(s, p, d, v) for s, p, d, v in notes])], length=16)
    window = window_from_piece(piece, VOCAB, microtiming=mt)
    assert decode(encode(window, VOCAB, microtiming=mt), VOCAB).window == window
    for bar, ts in zip(window.tracks[0].bars, window.time_signatures):
        for n in bar:
            assert 0 <= n.tick < VOCAB.bar_ticks(ts)
    kept = sum(len(b) for b in window.tracks[0].bars)
    distinct = {(round(s * 12), p) for s, p, _, _ in notes if round(s * 12) < 16 * 12}
    assert kept <= len(notes) and kept >= len(distinct) - 2 * len(notes) // 3 - 1


@pytest.mark.parametrize("path", MIDI_FILES, ids=[p.name for p in MIDI_FILES])
def test_real_files_round_trip(path):
    piece = read_midi(path)
    window = window_from_piece(piece, VOCAB, velocity=True)
    ids = encode(window, VOCAB)
    back = decode(ids, VOCAB)
    assert back.window == window
    notes = sum(len(b) for t in window.tracks for b in t.bars)
    assert notes >= 0.9 * sum(len(t.notes) for t in piece.tracks)  # only doubled notes merge
    # and with the last two bars of the first track as holes
    holes = [(0, len(window.time_signatures) - 1), (0, len(window.time_signatures) - 2)]
    assert decode(encode(window, VOCAB, holes=holes), VOCAB).window == window


def test_a_meter_without_a_token_is_context_and_refused_only_when_selected():
    """13/8 has no token and no meter of its length (6.5 quarters): as context it is shown as
    the shortest longer meter; only selecting it is an error, and the error names the selected
    bar (test_meters.py has more)."""
    piece = Piece(
        [Track(0, False, "", [Note(0, 60, 1), Note(4, 62, 1)])],
        time_signatures=[(0.0, TimeSignature(4, 4)), (4.0, TimeSignature(13, 8))],
        length=17,
    )
    assert "13/8" not in VOCAB.time_signatures
    window = window_from_piece(piece, VOCAB)
    assert window.time_signatures == ["4/4", "7/4", "7/4"]
    assert window.tracks[0].bars[1][0].pitch == 62
    check_selection(piece, VOCAB, [(0, 0)])
    with pytest.raises(LanguageError, match=r"bar 2 \(13/8\) cannot be generated"):
        check_selection(piece, VOCAB, [(0, 0), (0, 1)])


def test_a_bar_cut_short_by_a_signature_change_is_shown_in_a_meter_of_its_length():
    piece = Piece(
        [Track(0, False, "", [Note(0, 60, 1), Note(4, 62, 1)])],
        time_signatures=[(0.0, TimeSignature(4, 4)), (6.0, TimeSignature(3, 4))],
        length=9,
    )
    window = window_from_piece(piece, VOCAB)
    assert window.time_signatures == ["4/4", "2/4", "3/4"]
    check_selection(piece, VOCAB, [(0, 1)])  # the model can write a 2/4 bar there


def test_decode_errors_name_the_position():
    window = window_from_piece(Piece([Track(0, False, "", [Note(0, 60, 1)])]), VOCAB)
    ids = encode(window, VOCAB)
    bad = list(ids)
    bad[bad.index(VOCAB.special("<bar_end>"))] = VOCAB["pitch"].id(100)
    with pytest.raises(LanguageError, match=r"token \d+: expected dur"):
        decode(bad, VOCAB)
    with pytest.raises(LanguageError, match="outside the vocabulary"):
        decode([*ids[:-1], 10_000], VOCAB)
    with pytest.raises(LanguageError, match="tokens after <end>"):
        decode([*ids, ids[-1]], VOCAB)


def test_prompt_and_partial_generation_decode():
    piece = Piece([Track(0, False, "", [Note(i, 60 + i, 1) for i in range(8)])])
    window = window_from_piece(piece, VOCAB)
    prompt = encode(window, VOCAB, holes=[(0, 1)], fills=False)
    got = decode(prompt, VOCAB)
    assert got.holes == [(0, 1)] and got.filled == 0 and not got.ended
    full = encode(window, VOCAB, holes=[(0, 1)])
    cut = full[: len(prompt) + 4]  # inside the fill
    assert decode(cut, VOCAB, partial=True).filled == 0
    with pytest.raises(LanguageError):
        decode(cut, VOCAB)


def test_controls_measured_from_notes():
    # bar 0: a sustained C major triad + a moving 8th line: up to 4 notes at once
    notes = [Note(0, 48, 4), Note(0, 52, 4), Note(0, 55, 4)]
    notes += [Note(i * 0.5, 72, 0.5) for i in range(8)]
    window = window_from_piece(Piece([Track(0, False, "", notes)]), VOCAB)
    c = measure(VOCAB, window.tracks[0], window.bar_ticks(VOCAB), [0])
    assert (c.poly_min, c.poly_max) == (4, 4)
    assert (c.dur_min, c.dur_max) == (duration_class(6), duration_class(48)) == (2, 5)
    thresholds = VOCAB.document["density_thresholds"]["melodic"]
    assert c.density == 1 + sum(11 >= t for t in thresholds)
    assert [duration_class(t) for t in (1, 2, 3, 5, 6, 12, 23, 24, 48, 192)] == [
        0, 0, 1, 1, 2, 3, 3, 4, 5, 5,
    ]  # fmt: skip
    empty = measure(VOCAB, window.tracks[0], window.bar_ticks(VOCAB), [])
    assert empty == Controls()


def test_controls_validate_names_the_bad_value():
    with pytest.raises(ValueError, match="density must be 1..10"):
        Controls(density=11).validate(VOCAB)
    with pytest.raises(ValueError, match="poly_min 5 is above poly_max 2"):
        Controls(poly_min=5, poly_max=2).validate(VOCAB)


def test_language_json_matches_the_code():
    """The shipped document is exactly what the code derives; a stale token list is refused."""
    shipped = json.loads((REPO / "server" / "language" / "language.json").read_text())
    assert shipped["tokens"] == VOCAB.tokens
    assert vocab_mod.load().tokens == VOCAB.tokens
    shipped["tokens"] = shipped["tokens"][:-1]
    with pytest.raises(ValueError, match="disagrees"):
        vocab_mod.Vocabulary(shipped)


def test_format_tokens_puts_one_bar_a_line():
    piece = Piece([Track(0, False, "", [Note(0, 60, 1), Note(4, 62, 1)])])
    text = format_tokens(encode(window_from_piece(piece, VOCAB), VOCAB), VOCAB)
    lines = text.splitlines()
    assert lines[2].startswith("<bar> ts:4/4 pos:0 vel:")
    assert lines[3].startswith("<bar> ts:4/4 pos:0") and "pitch:62" in lines[3]


def test_doubled_notes_merge_and_wrap_bars_repeat():
    notes = [Note(0, 60, 1, 40), Note(0.01, 60, 2, 100), Note(4, 62, 12, 70)]
    piece = Piece([Track(0, False, "", notes)], length=8)
    window = window_from_piece(piece, VOCAB, bars=[0, 1, 0])  # a loop's wrap bar
    bars = window.tracks[0].bars
    assert len(bars[0]) == 1 and bars[0][0].duration == 24  # longest of the doubled pair
    assert bars[0][0].velocity == VOCAB.velocity_bins * 100 // 128  # loudest
    assert bars[2] == bars[0]  # the wrap bar repeats bar 1 ...
    assert bars[1][0].duration == 96  # ... and bar 2's 144-tick note stops at the window end
    new = window_from_piece(piece, VOCAB, bars=[1, 2, 3])  # bars past the end are new, empty
    assert new.time_signatures == ["4/4"] * 3 and new.tracks[0].bars[1:] == [[], []]


def test_a_piece_copy_can_be_changed_without_touching_the_original():
    """Generation writes each variation's bars into its own copy (Piece.copy shares the
    immutable notes, so every list and track it changes must be its own)."""
    ts = TimeSignature(3, 4)
    piece = Piece([Track(33, False, "bass", [Note(0, 40, 1)], source=(1, 0))],
                  [(0.0, ts)], [(0.0, 100.0)], length=12)  # fmt: skip
    copy = piece.copy()
    assert copy == piece and copy.tracks[0].source == (1, 0)
    copy.tracks[0].notes.append(Note(1, 43, 1))
    copy.tracks[0].program = 34
    copy.tracks.append(Track())
    copy.time_signatures.append((3.0, TimeSignature(4, 4)))
    copy.tempos.append((3.0, 90.0))
    copy.length = 16
    assert piece == Piece([Track(33, False, "bass", [Note(0, 40, 1)])], [(0.0, ts)],
                          [(0.0, 100.0)], length=12)  # fmt: skip
