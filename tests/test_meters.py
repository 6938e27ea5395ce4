"""Every meter a MIDI file can hold reads, round-trips and can be context; a bar the model cannot
write is refused only when it is selected, and the error names that bar (server/language/meters.py).
"""

import itertools

import mido
import pytest
from midifixtures import song

from midigen.server.language import vocab as vocab_mod
from midigen.server.language.grid import (
    LanguageError,
    check_selection,
    window_from_piece,
    window_to_piece,
)
from midigen.server.language.meters import shown_meter
from midigen.server.language.midifiles import build_midi, read_midi
from midigen.server.language.piece import Note, Piece, TimeSignature, Track
from midigen.server.language.tokens import decode, encode
from midigen.server.tools.cli import main

SHIPPED = vocab_mod.load()
# The shipped v2 model's language (1.1): the 14 meters before 1.2 added 1/4 1/8 7/4 11/8.
V11 = vocab_mod.Vocabulary({**vocab_mod.default_document(), "version": "1.1",
                            "time_signatures": vocab_mod.DEFAULT_TIME_SIGNATURES[:14]})  # fmt: skip
# A wider meter list than any shipped one, all at most 8 quarters long.
LISTED = (
    "1/4 2/4 3/4 4/4 5/4 6/4 7/4 8/4 2/2 3/2 4/2 1/8 2/8 3/8 4/8 5/8 6/8 7/8 9/8 10/8 11/8 12/8 "
    "13/8 15/8 3/16 5/16 6/16 7/16 9/16 11/16 12/16 13/16 15/16"
).split()
WIDE = vocab_mod.Vocabulary({**vocab_mod.default_document(), "time_signatures": LISTED})
EVERY = [(n, d) for d, n in itertools.product((1, 2, 4, 8, 16, 32), range(1, 33))]


def piece_in(meters: list[tuple[int, int]]) -> Piece:
    """One bar per meter, a note on every bar's downbeat and one in its second half."""
    sigs, notes, t = [], [], 0.0
    for i, (n, d) in enumerate(meters):
        ts = TimeSignature(n, d)
        sigs.append((t, ts))
        notes += [Note(t, 60 + i % 12, ts.quarters / 4), Note(t + ts.quarters / 2, 48, 0.125)]
        t += ts.quarters
    return Piece([Track(0, False, "Piano", notes)], sigs, [(0.0, 100.0)], t)


def reread(piece: Piece, tpb: int = 480) -> Piece:
    return read_midi(build_midi(piece, tpb))


@pytest.mark.parametrize("d", [1, 2, 4, 8, 16, 32])
def test_every_meter_reads_round_trips_and_is_context(d):
    meters = [(n, d) for n in range(1, 33)]
    piece = piece_in(meters)
    back = reread(piece)
    assert back.time_signatures == piece.time_signatures
    assert back.tracks[0].notes == piece.tracks[0].notes
    assert [b.time_signature for b in back.bars()] == [TimeSignature(n, d) for n, _ in meters]
    for vocab in (SHIPPED, V11, WIDE):
        window = window_from_piece(back, vocab)
        assert len(window.time_signatures) == len(meters)
        assert all(ts in vocab.time_signatures for ts in window.time_signatures)
        assert decode(encode(window, vocab), vocab).window == window
        assert window_from_piece(window_to_piece(window, vocab), vocab) == window
        # every downbeat note is shown, on its bar's first tick
        assert all(bar and bar[0].tick == 0 for bar in window.tracks[0].bars)


def test_a_wider_meter_list_makes_every_listed_meter_writable():
    piece = piece_in([tuple(map(int, m.split("/"))) for m in LISTED])
    window = window_from_piece(piece, WIDE)
    assert window.time_signatures == LISTED
    check_selection(piece, WIDE, [(0, b) for b in range(len(LISTED))])


@pytest.mark.parametrize(
    "meter, vocab, shown, exact",
    [
        ((10, 16), WIDE, "5/8", True),  # same length, nearest denominator
        ((8, 4), SHIPPED, "4/2", True),  # no 8/4 token, but 4/2 is as long
        ((6, 16), SHIPPED, "3/8", True),  # no 6/16 token, but 3/8 is as long
        ((1, 4), SHIPPED, "1/4", True),  # a token since 1.2
        ((1, 4), V11, "3/8", False),  # no 1-quarter meter in 1.1: shortest longer one
        ((7, 4), V11, "4/2", False),
        ((11, 8), V11, "12/8", False),
        ((17, 16), WIDE, "9/8", False),
        ((32, 4), WIDE, "8/4", False),  # longer than every meter: the longest
        ((7, 8), WIDE, "7/8", True),
    ],
)
def test_the_meter_a_bar_is_shown_in(meter, vocab, shown, exact):
    bar = piece_in([meter]).bars()[0]
    assert tuple(shown_meter(vocab, bar)) == (shown, exact)


def test_the_meters_of_language_1_2_are_first_class():
    """1/4 pickups, 7/4 and 11/8 bars (and 1/8) are shown in their own meter and can be
    written; under 1.1 (the language a model trained before them speaks) the same bars are
    context, and only selecting one is refused."""
    added = [(1, 4), (1, 8), (7, 4), (11, 8)]
    piece = piece_in([(4, 4), *added, (4, 4)])
    window = window_from_piece(piece, SHIPPED)
    assert window.time_signatures == ["4/4", "1/4", "1/8", "7/4", "11/8", "4/4"]
    check_selection(piece, SHIPPED, [(0, b) for b in range(6)])
    assert decode(encode(window, SHIPPED), SHIPPED).window == window
    old = window_from_piece(piece, V11)
    assert old.time_signatures == ["4/4", "3/8", "3/8", "4/2", "12/8", "4/4"]
    check_selection(piece, V11, [(0, 0), (0, 5)])
    for b, (n, d) in enumerate(added, start=1):
        with pytest.raises(LanguageError, match=rf"^bar {b + 1} \({n}/{d}\) cannot be generated"):
            check_selection(piece, V11, [(0, b)])


def test_a_bar_longer_than_every_meter_shows_what_fits():
    piece = piece_in([(4, 4), (16, 4)])  # its notes: on the downbeat, and 8 quarters later
    bars = window_from_piece(piece, WIDE).tracks[0].bars
    assert [n.pitch for n in bars[1]] == [61]


def test_an_unwritable_bar_is_refused_only_when_selected_naming_it():
    piece = piece_in([(4, 4), (17, 16), (4, 4), (3, 32)])
    window_from_piece(piece, WIDE)  # all of it is fine as context
    check_selection(piece, WIDE, [(0, 0), (0, 2)])
    with pytest.raises(LanguageError, match=r"^bar 2 \(17/16\) cannot be generated"):
        check_selection(piece, WIDE, [(0, 1), (0, 2)])
    with pytest.raises(LanguageError, match=r"^bar 4 \(3/32\) cannot be generated"):
        check_selection(piece, WIDE, [(0, 3)])


def test_a_bar_cut_short_is_written_in_a_meter_of_its_length():
    piece = Piece(
        [Track(0, False, "", [Note(0, 60, 1)])],
        [(0.0, TimeSignature(4, 4)), (5.0, TimeSignature(4, 4))],  # bar 2 cut to 1 quarter
        length=9,
    )
    assert window_from_piece(piece, WIDE).time_signatures == ["4/4", "1/4", "4/4"]
    check_selection(piece, WIDE, [(0, 1)])
    check_selection(piece, SHIPPED, [(0, 1)])  # 1/4, since 1.2
    with pytest.raises(LanguageError, match=r"bar 2 \(4/4 cut to 1 quarters"):
        check_selection(piece, V11, [(0, 1)])


def test_continuation_bars_take_the_last_meter():
    piece = piece_in([(4, 4), (17, 16)])
    with pytest.raises(LanguageError, match="bar 3 .17/16."):
        check_selection(piece, WIDE, [(0, 2)])
    check_selection(piece_in([(17, 16), (7, 8)]), WIDE, [(0, 2), (0, 3)])


@pytest.mark.parametrize("language", ["shipped", "listed"])
def test_tokens_roundtrip_is_lossless_on_a_file_with_every_listed_meter(language, tmp_path, capsys):
    path = tmp_path / "meters.mid"
    song(384, [(b, *map(int, m.split("/"))) for b, m in enumerate(LISTED)], len(LISTED)).save(path)
    args = ["tokens", str(path), "--roundtrip", "-q"]
    if language == "listed":
        (tmp_path / "language.json").write_text(WIDE.to_json())
        args += ["--language", str(tmp_path / "language.json")]
    assert main(args) == 0
    assert "roundtrip: lossless" in capsys.readouterr().out


def test_tokens_on_every_meter_a_file_can_hold(tmp_path, capsys):
    for d in (1, 2, 4, 8, 16, 32):
        path = tmp_path / f"over-{d}.mid"
        build_midi(piece_in([(n, d) for n in range(1, 33)]), 96).save(path)
        assert main(["tokens", str(path), "--roundtrip", "-q"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.count("roundtrip: lossless") == 6


def test_real_pop909_songs_read_as_context():
    """POP909 songs are barred in 1/4 or 2/4 (shared/data/pop909, when present): they read and
    are context under the shipped language and under 1.1, which has no 1/4."""
    from midifixtures import SHARED_MIDI

    folder = SHARED_MIDI.parent / "data" / "pop909"
    files = sorted(folder.glob("*.mid"))[:40]
    if not files:
        pytest.skip(f"{folder} not available")
    pickups = 0
    for path in files:
        piece = read_midi(mido.MidiFile(path))
        for vocab in (SHIPPED, V11):
            window = window_from_piece(piece, vocab, bars=range(min(4, len(piece.bars()))))
            assert window.time_signatures
        pickups += str(piece.bars()[0].time_signature) in ("1/4", "2/4")
    assert pickups


def test_generation_refuses_a_selected_bar_without_a_meter_naming_it(engine):
    """The daemon's path (generation.generate), not only the CLI's."""
    from midigen.server.engine import generation as gen
    from midigen.server.language.windows import Selection

    piece = piece_in([(4, 4), (17, 16), (4, 4)])
    request = gen.Request(mode="infill", selection=[Selection(0, 1, 2)])
    with pytest.raises(LanguageError, match=r"bar 2 \(17/16\) cannot be generated"):
        list(gen.generate(engine, piece, request))
    request = gen.Request(mode="infill", selection=[Selection(0, 2, 2)])
    done = list(gen.generate(engine, piece, request))[-1]
    assert isinstance(done, gen.Done) and not done.cancelled


@pytest.fixture(scope="module")
def engine_1_1(tmp_path_factory):
    """A tiny random model of language 1.1, exported with its own language.json (as a
    checkpoint folder holds it): what the v2 bundle shipped before 1.2 speaks."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from midigen.exporter.cli import main as export
    from midigen.server.engine.session import Engine

    root = tmp_path_factory.mktemp("lang11")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(V11), n_positions=1024, n_embd=32, n_layer=1, n_head=2,
                        midigen_window_bars=4, midigen_max_tracks=4)  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(root / "hf")
    (root / "hf" / "language.json").write_text(V11.to_json())
    threads = torch.get_num_threads()
    try:
        assert export([str(root / "hf"), "-o", str(root / "b"), "-q", "--threads", "1",
                       "--optimize"]) == 0  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return Engine(root / "b", device="cpu", threads=1)


def test_a_1_1_bundle_still_serves_and_takes_new_meters_as_context(engine_1_1, engine):
    from midigen.server.engine import generation as gen
    from midigen.server.language.windows import Selection

    assert engine_1_1.vocab.document["version"] == "1.1" and len(engine_1_1.vocab) == 515
    piece = piece_in([(4, 4), (7, 4), (4, 4)])
    done = list(gen.generate(engine_1_1, piece, gen.Request("infill", [Selection(0, 2, 2)])))
    assert isinstance(done[-1], gen.Done) and not done[-1].cancelled
    with pytest.raises(LanguageError, match=r"bar 2 \(7/4\) cannot be generated"):
        list(gen.generate(engine_1_1, piece, gen.Request("infill", [Selection(0, 1, 1)])))
    bars = list(gen.generate(engine, piece, gen.Request("infill", [Selection(0, 1, 1)])))
    written = [e for e in bars if isinstance(e, gen.BarDone)]
    assert [(e.start, e.end) for e in written] == [(4.0, 11.0)]  # the 1.2 model writes the 7/4
