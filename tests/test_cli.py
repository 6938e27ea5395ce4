"""`midigen tokens` through its real entry point, and the console scripts as installed."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from midigen.server.tools.cli import main

SHARED_MIDI = Path(__file__).resolve().parents[2] / "shared" / "midi"
INFILL = SHARED_MIDI / "prompt_infill.mid"


def test_tokens_lists_tracks_and_one_bar_a_line(capsys):
    assert main(["tokens", str(INFILL), "--tracks", "1,Drums", "--bars", "7-9"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(": 9 bars, 3 tracks, 118 tokens")
    assert out[1].startswith("# track 1: 'Synth Pad' program 90")
    assert out[2].startswith("# track 3: 'Drums' drums")
    bars = [line for line in out if line.startswith("<bar>")]
    assert len(bars) == 6  # 3 bars x 2 tracks
    assert all(line.endswith("<bar_end>") for line in bars)


def test_roundtrip_reports_lossless_for_every_shared_file(capsys):
    for path in sorted(SHARED_MIDI.glob("*.mid")):
        assert main(["tokens", str(path), "--roundtrip", "-q"]) == 0, path.name
        assert capsys.readouterr().out.strip().endswith("roundtrip: lossless")


def test_roundtrip_reports_the_first_difference(monkeypatch, capsys):
    from midigen.server.language import tokens as language
    from midigen.server.tools import cli

    real = language.decode

    def lossy(ids, vocab, **kw):  # a decoder that drops the last note of track 1
        got = real(ids, vocab, **kw)
        bar = next(b for b in reversed(got.window.tracks[0].bars) if b)
        bar.pop()
        return got

    monkeypatch.setattr(cli, "decode", lossy)
    assert main(["tokens", str(INFILL), "--roundtrip", "-q"]) == 1
    assert "roundtrip: track 1 bar" in capsys.readouterr().out


def test_vocab_prints_size_and_version(capsys):
    assert main(["tokens", "--vocab"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "language midigen-mmm 1.2: 519 tokens"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bars", "0-3"], "bars count from 1"),
        (["--bars", "8-12"], "the piece has 9 bars"),
        (["--bars", "x"], "expected a bar or range"),
        (["--tracks", "4"], "no track 4; the piece has tracks 1-3"),
        (["--tracks", "Tuba"], "no track named 'Tuba'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
    assert main(["tokens", str(INFILL), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("midigen: error: ") and message in err and err.count("\n") == 1


def test_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "notes.mid"
    bad.write_text("not midi")
    assert main(["tokens", str(bad)]) == 2
    assert "notes.mid" in capsys.readouterr().err


def test_a_meter_without_a_token_is_shown_and_said_so(tmp_path, capsys):
    from midigen.server.language.midifiles import write_midi
    from midigen.server.language.piece import Note, Piece, TimeSignature, Track

    piece = Piece([Track(0, False, "p", [Note(0, 60, 1)])], [(0.0, TimeSignature(17, 16))])
    write_midi(piece, tmp_path / "odd.mid")
    assert main(["tokens", str(tmp_path / "odd.mid"), "--roundtrip"]) == 0
    out = capsys.readouterr().out
    assert "# bar 1 (17/16) is shown as " in out and "(context only)" in out
    assert "roundtrip: lossless" in out


def test_ambiguous_track_names_are_an_error_listing_them(tmp_path, capsys):
    from midigen.server.language.midifiles import write_midi
    from midigen.server.language.piece import Note, Piece, Track

    tracks = [Track(48, False, "Strings", [Note(i, 60 + i, 1)]) for i in range(4)]
    write_midi(Piece([Track(0, False, "Piano", [Note(0, 40, 1)]), *tracks]), tmp_path / "s.mid")
    assert main(["tokens", str(tmp_path / "s.mid"), "--tracks", "strings"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "4 tracks are named 'strings' (tracks 2, 3, 4, 5); give the track number" in err
    assert main(["tokens", str(tmp_path / "s.mid"), "--tracks", "piano,3", "-q"]) == 0


def test_console_scripts_are_installed():
    exe = shutil.which("midigen", path=str(Path(sys.executable).parent))
    assert exe, "the midigen console script is not installed next to this python"
    run = subprocess.run([exe, "tokens", "--vocab"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "519 tokens" in run.stdout
    help_text = subprocess.run(
        [exe, "tokens", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "--roundtrip" in help_text and "examples:" in help_text
