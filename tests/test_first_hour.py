"""What a new user hits in the first hour with `midigen`: each failure is one line before any
work (the model is never loaded), or works. Generation runs on the tiny random test bundle.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
from midifixtures import absolute, check_edit, song

from deadlines import deadline
from midigen.server.engine import session
from midigen.server.language.midifiles import read_midi, write_midi
from midigen.server.language.piece import Note, Piece, Track
from midigen.server.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def song_file(tmp_path):
    path = tmp_path / "song.mid"
    song().save(path)
    return path


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if the command gets as far as loading the model."""

    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(session.Engine, "__init__", boom)


def infill(bundle, path, *args):
    argv = ["infill", str(path), "--model", str(bundle), "--threads", "1", "--max-bar-tokens", "40"]
    return main(argv + [str(a) for a in args])


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("midigen: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "/missing/dir/x.mid"], "-o /missing/dir/x.mid: no folder /missing/dir"),
        (["-o", "{tmp}"], "is a folder"),
        (["-o", "{tmp}/x.mid", "--plot", "{tmp}/x.xyz"], "cannot draw a xyz file; use one of"),
        (["-o", "{tmp}/x.mid", "--plot", "/missing/x.png"], "--plot /missing/x.png: no folder"),
        (["-o", "{tmp}/x.mid", "--density", "11"], "--density"),
        (["-o", "{tmp}/x.mid", "--dur-max", "9"], "--dur"),
    ],
)
def test_bad_output_or_controls_fail_before_the_model_loads(
    args, message, bundle, song_file, tmp_path, capsys, no_model_load
):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert infill(bundle, song_file, "--track", "1", "--bars", "3-4", *args) == 2
    assert message in one_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid"]


def test_plot_without_matplotlib_is_one_line(
    bundle, song_file, tmp_path, capsys, monkeypatch, no_model_load
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    out = tmp_path / "x.mid"
    assert infill(bundle, song_file, "--bars", "3", "--track", "1", "-o", out, "--plot", "x.png")
    assert "--plot needs matplotlib: pip install 'midigen[plot]'" in one_error(capsys)


def test_an_ambiguous_track_name_lists_the_candidates(bundle, tmp_path, capsys, no_model_load):
    tracks = [Track(48, False, "Strings", [Note(i, 60 + i, 1)]) for i in range(4)]
    write_midi(Piece(tracks), tmp_path / "s.mid")
    assert infill(bundle, tmp_path / "s.mid", "--track", "Strings", "--bars", "1", "-o", "o.mid")
    assert "4 tracks are named 'Strings' (tracks 1, 2, 3, 4)" in one_error(capsys)


def test_a_selected_bar_without_a_meter_is_named_and_other_bars_work(bundle, tmp_path, capsys):
    """A 3/16 pickup (the language has no meter of 3/4 of a quarter): context is fine,
    selecting it is not."""
    path = tmp_path / "pickup.mid"
    song(480, [(0, 3, 16), (1, 4, 4)]).save(path)
    assert infill(bundle, path, "--track", "Piano", "--bars", "1-2", "-o", tmp_path / "a.mid") == 2
    err = one_error(capsys)
    assert "bar 1 (3/16) cannot be generated" in err
    out = tmp_path / "b.mid"
    assert infill(bundle, path, "--track", "Piano", "--bars", "2-3", "-q", "-o", out) == 0
    assert (tmp_path / "b.mid").exists()


def test_a_selected_1_4_pickup_is_written(bundle, tmp_path, capsys):
    """Language 1.2 has 1/4 (and 1/8, 7/4, 11/8): a pickup bar can be generated."""
    path = tmp_path / "pickup.mid"
    song(480, [(0, 1, 4), (1, 7, 4)]).save(path)
    out = tmp_path / "a.mid"
    args = ["--track", "Piano", "--bars", "1-2", "-q", "-o", out]
    assert infill(bundle, path, *args) == 0, capsys.readouterr().err
    assert [b.length for b in read_midi(mido.MidiFile(out)).bars()[:2]] == [1.0, 7.0]


def test_infill_edits_the_users_file(bundle, song_file, tmp_path, capsys):
    """Pedal, bends, program changes, lyrics, markers, sysex, 460 ticks per beat: all kept; the
    selected notes are exactly those whose real onset is in bars 3-4."""
    out = tmp_path / "out.mid"
    args = ["--track", "Piano", "--bars", "3-4", "--seed", "3", "-q", "-o", out]
    assert infill(bundle, song_file, *args) == 0, capsys.readouterr().err
    original, edited = mido.MidiFile(song_file), mido.MidiFile(out)
    bars = read_midi(original).bars()
    tpb = original.ticks_per_beat
    lo, hi = round(bars[2].start * tpb), round(bars[3].end * tpb)
    new = check_edit(original, edited, 1, 0, lo, hi)
    velocities = [
        m.velocity
        for tick, m in absolute(edited.tracks[1])
        if m.type == "note_on" and m.velocity and m.channel == 0 and lo <= tick < hi
    ]
    # Every note now in the bars is the model's: its velocities are bin middles (8k + 4), the
    # song's own notes there had odd ones, so none of the selected notes survived.
    assert len(velocities) == len(new) and all(v % 8 == 4 for v in velocities)


def test_tokens_into_a_closed_pipe_is_quiet(tmp_path):
    path = tmp_path / "long.mid"
    song(480, bars=1500).save(path)  # some 200 KB of tokens: more than a pipe buffers
    proc = subprocess.Popen(
        [str(BIN / "midigen"), "tokens", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with deadline(proc):
        proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    _, err = proc.communicate(timeout=60)
    assert err == b"" and proc.returncode == 141


def test_midigen_server_version():
    result = subprocess.run(
        [str(BIN / "midigen-server"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.startswith("midigen-server ")


def test_the_plot_shows_the_selection_and_two_bars_either_side_quickly(tmp_path):
    pytest.importorskip("matplotlib")
    from midigen.server.tools.pianoroll import plot_piece

    notes = [Note(i * 0.25, 40 + i % 40, 0.25) for i in range(165 * 16)]
    piece = Piece([Track(0, False, "a", notes), Track(33, False, "b", notes[::3])])
    cpu = time.process_time()
    shown = plot_piece(piece, [(1, b) for b in range(80, 84)], tmp_path / "p.png", margin=2)
    assert time.process_time() - cpu < 1.0
    assert shown == range(78, 86) and (tmp_path / "p.png").stat().st_size > 1000


def test_daemon_cli_tests_pass_while_make_serve_holds_port_9000():
    """`make test` while `make serve` runs: no test may need the default port."""
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        held.bind(("127.0.0.1", 9000))
    except OSError:
        pass  # something already serves there: the very situation under test
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             str(ROOT / "tests" / "test_daemon_cli.py"), "-k", "one_line or every_flag"],
            capture_output=True, text=True, timeout=300, cwd=ROOT / "tests",
        )  # fmt: skip
    finally:
        held.close()
    assert result.returncode == 0, result.stdout[-2000:]
