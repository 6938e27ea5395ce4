"""`midigen infill | continue | loop` end to end on real MIDI files with a tiny random bundle."""

from __future__ import annotations

import pytest

import tiny_bundle
from midigen.server.language.midifiles import read_midi
from midigen.server.tools.cli import main

BMW = tiny_bundle.MIDI / "prompt_bmw.mid"  # 8 bars: 1 bass, 2 solo, 3 drums


def midigen(bundle, *args):
    argv = [str(a) for a in args] + ["--model", str(bundle), "--threads", "1", "-q"]
    return main(argv + ["--max-bar-tokens", "40"])


def notes_in(piece, track, first, last):
    """(start, pitch) of a track's notes in bars first..last (0-based), by the onset snapped to
    the token grid (1/12 quarter) as the engine assigns notes to bars."""
    bars = piece.bars()
    lo, hi = round(bars[first].start * 12), round(bars[last].end * 12)
    notes = piece.tracks[track].notes
    return [(round(n.start, 2), n.pitch) for n in notes if lo <= int(n.start * 12 + 0.5) < hi]


def test_infill_writes_midi_and_plot(bundle, tmp_path, capsys):
    out, png = tmp_path / "out.mid", tmp_path / "out.png"
    pytest.importorskip("matplotlib")
    code = midigen(
        bundle, "infill", BMW, "--track", "2", "--bars", "5-8", "--density", "7",
        "--poly-max", "3", "--seed", "1", "-o", out, "--plot", png,
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert png.stat().st_size > 1000 and "wrote" in capsys.readouterr().out
    before, after = read_midi(BMW), read_midi(out)
    assert len(after.tracks) == 3 and len(after.bars()) == 8
    assert notes_in(after, 1, 0, 3) == notes_in(before, 1, 0, 3)  # bars 1-4 untouched
    assert notes_in(after, 0, 0, 7) == notes_in(before, 0, 0, 7)  # other tracks untouched
    assert notes_in(after, 1, 4, 7) != notes_in(before, 1, 4, 7)


def test_track_by_name_variations_and_seed(bundle, tmp_path):
    args = ["infill", BMW, "--track", "Drums", "--bars", "2-3", "--seed", "4"]
    assert midigen(bundle, *args, "--variations", "2", "-o", tmp_path / "a.mid") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-1.mid", "a-2.mid"]
    assert midigen(bundle, *args, "--variations", "2", "-o", tmp_path / "b.mid") == 0
    assert (tmp_path / "a-1.mid").read_bytes() == (tmp_path / "b-1.mid").read_bytes()
    assert (tmp_path / "a-1.mid").read_bytes() != (tmp_path / "a-2.mid").read_bytes()


def test_continue_and_loop(bundle, tmp_path):
    assert midigen(bundle, "continue", BMW, "--new-bars", "2", "-o", tmp_path / "c.mid") == 0
    longer = read_midi(tmp_path / "c.mid")
    assert len(longer.bars()) == 10 and notes_in(longer, 2, 8, 9)
    assert (
        midigen(bundle, "loop", BMW, "--bars", "3-4", "--track", "1", "-o", tmp_path / "l.mid") == 0
    )
    assert len(read_midi(tmp_path / "l.mid").bars()) == 8


@pytest.mark.parametrize(
    "args, message",
    [
        (["--track", "2", "--bars", "7-9"], "past the end"),
        (["--track", "2", "--bars", "0-2"], "bars count from 1"),
        (["--track", "5", "--bars", "1-2"], "no track 5"),
        (["--track", "Piano", "--bars", "1-2"], "no track named"),
        (["--track", "1", "--bars", "1-2", "--density", "11"], "density"),
        (["--track", "1", "--bars", "1-2", "--poly-max", "0"], "poly-max"),
        (["--track", "1", "--bars", "1-2", "--temperature", "-1"], "temperature"),
        (["--track", "1", "--bars", "1-2", "--variations", "0"], "variations"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(bundle, tmp_path, capsys, args, message):
    out = tmp_path / "out.mid"
    assert midigen(bundle, "infill", BMW, *args, "-o", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("midigen: error: ") and message in err
    assert not out.exists()


def test_unreadable_midi_and_missing_model(bundle, tmp_path, capsys):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    out = tmp_path / "out.mid"
    assert midigen(bundle, "infill", bad, "--track", "1", "--bars", "1", "-o", out) == 2
    assert "midigen: error:" in capsys.readouterr().err
    args = ["infill", BMW, "--track", "1", "--bars", "1", "-o", out, "--model", tmp_path / "none"]
    assert main([str(a) for a in args]) == 2
    assert "not a model bundle" in capsys.readouterr().err
    assert not out.exists()
