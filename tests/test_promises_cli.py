"""The README's promise for `midigen infill | continue | loop` on bad input: one `midigen: error:`
line before the model loads, exit 2, and nothing written: no `out.mid`, no `out-1.mid` ...
`out-K.mid` of several variations, no piano roll.

Run without -q, so that a check made after the model loaded shows as a second line (the engine
says which provider it runs on), and with --variations 2 and --plot, so that every file the
command could write is one it must not have written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tiny_bundle
from midigen.server.language.midifiles import write_midi
from midigen.server.language.piece import Note, Piece, TimeSignature, Track
from midigen.server.tools.cli import main

BMW = tiny_bundle.MIDI / "prompt_bmw.mid"  # 8 bars: 1 bass, 2 solo, 3 drums


def odd_meter(folder: Path) -> Path:
    """One bar of 17/16: a meter the language has no token for, so it cannot be written."""
    path = folder / "odd.mid"
    write_midi(Piece([Track(0, False, "p", [Note(0, 60, 1)])], [(0.0, TimeSignature(17, 16))]),
               path)  # fmt: skip
    return path


def odd_last_bar(folder: Path) -> Path:
    """4/4 then one bar of 17/16: only the last bar of a 1-2 selection cannot be written."""
    path = folder / "odd-last.mid"
    notes = [Note(0, 60, 1), Note(4, 62, 1)]
    meters = [(0.0, TimeSignature(4, 4)), (4.0, TimeSignature(17, 16))]
    write_midi(Piece([Track(0, False, "p", notes)], meters), path)
    return path


def two_stringses(folder: Path) -> Path:
    path = folder / "strings.mid"
    tracks = [Track(48, False, "Strings", [Note(i, 60 + i, 1)]) for i in range(2)]
    write_midi(Piece(tracks), path)
    return path


def unreadable(folder: Path) -> Path:
    path = folder / "bad.mid"
    path.write_bytes(b"MThd but not really a MIDI file")
    return path


BAD = {  # name: (input file maker or None for BMW, arguments, what the line must name)
    "unreadable file": (unreadable, ["--track", "1", "--bars", "1"], "bad.mid"),
    "bars past the end": (None, ["--track", "2", "--bars", "7-9"], "past the end"),
    "bar 0": (None, ["--track", "2", "--bars", "0-2"], "bars count from 1"),
    "unknown track": (None, ["--track", "5", "--bars", "1-2"], "no track 5"),
    "unknown name": (None, ["--track", "Piano", "--bars", "1-2"], "no track named"),
    "ambiguous name": (two_stringses, ["--track", "strings", "--bars", "1"], "tracks 1, 2"),
    "density": (None, ["--track", "1", "--bars", "1-2", "--density", "11"], "density"),
    "poly": (None, ["--track", "1", "--bars", "1-2", "--poly-max", "0"], "poly-max"),
    "register": (
        None,
        ["--track", "1", "--bars", "1", "--pitch-min", "70", "--pitch-max", "60"],
        "pitch",
    ),  # fmt: skip
    "temperature": (None, ["--track", "1", "--bars", "1-2", "--temperature", "-1"], "temperature"),
    "variations": (None, ["--track", "1", "--bars", "1-2", "--variations", "17"], "variations"),
    "rhythm": (None, ["--track", "1", "--bars", "1-2", "--rhythm", "-1"], "--rhythm must be 0..10"),
    "harmony": (None, ["--track", "1", "--bars", "1-2", "--harmony", "11"], "--harmony must be"),
    "no meter token": (odd_meter, ["--track", "1", "--bars", "1"], "17/16"),
    "no meter token, last bar": (odd_last_bar, ["--track", "1", "--bars", "1-2"], "bar 2 (17/16)"),
    "plot type": (None, ["--track", "1", "--bars", "1", "--plot", "{out}/roll.xyz"], "roll.xyz"),
    "missing folder": (None, ["--track", "1", "--bars", "1", "-o", "{out}/none/x.mid"], "none"),
    # the other two commands (the mode is the name's prefix)
    "continue: no new bars": (None, ["--new-bars", "0"], "--new-bars must be 1..64"),
    "continue: too many new bars": (None, ["--new-bars", "65"], "--new-bars must be 1..64"),
    "continue: density": (None, ["--new-bars", "2", "--density", "11"], "density"),
    "continue: unknown track": (None, ["--new-bars", "2", "--track", "5"], "no track 5"),
    "continue: plot type": (None, ["--new-bars", "1", "--plot", "{out}/roll.xyz"], "roll.xyz"),
    "loop: bars past the end": (None, ["--bars", "7-9"], "past the end"),
    "loop: unknown track": (None, ["--bars", "1-2", "--track", "5"], "no track 5"),
    "loop: variations": (None, ["--bars", "1-2", "--variations", "17"], "variations"),
}
assert BAD  # an empty table would pass on nothing


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, bundle, tmp_path, capsys):
    make, args, names = BAD[case]
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    source = make(inputs) if make else BMW
    mode = case.split(": ")[0] if ": " in case else "infill"
    argv = [mode, str(source), "--model", str(bundle), "--threads", "1"]
    argv += ["--variations", "2", "-o", f"{out}/song.mid", "--plot", f"{out}/song.png"]
    argv += [a.format(out=out) for a in args]  # a later -o / --plot / --variations wins
    before = tree(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("midigen: error: ") and captured.err.count("\n") == 1, (
        captured.err
    )
    assert names in captured.err
    assert tree(tmp_path) == before  # not out.mid, not song-1.mid / song-2.mid, no png


def test_good_input_writes_every_variation_and_only_them(bundle, tmp_path, capsys):
    """The counterpart, so that the table above cannot pass by writing nothing ever."""
    argv = ["infill", str(BMW), "--model", str(bundle), "--threads", "1", "-q", "--seed", "1"]
    argv += ["--track", "1", "--bars", "2", "--variations", "2", "--max-bar-tokens", "40"]
    assert main(argv + ["-o", str(tmp_path / "song.mid")]) == 0, capsys.readouterr().err
    assert tree(tmp_path) == ["song-1.mid", "song-2.mid"]


def test_progress_names_each_bar_as_the_user_numbers_it(bundle, tmp_path, capsys):
    """One progress line per variation and bar, 1-based like --track and --bars."""
    argv = ["infill", str(BMW), "--model", str(bundle), "--threads", "1", "--seed", "1"]
    argv += ["--track", "2", "--bars", "3-4", "--variations", "2", "--max-bar-tokens", "40"]
    assert main(argv + ["-o", str(tmp_path / "song.mid")]) == 0
    lines = re.findall(r"^variation (\d+) track (\d+) bar (\d+): ", capsys.readouterr().err, re.M)
    assert sorted((int(v), int(t), int(b)) for v, t, b in lines) == [
        (v, 2, b) for v in (1, 2) for b in (3, 4)
    ]


def written_tracks(stderr: str) -> set[int]:
    """The tracks the progress lines say were written ("variation 1 track 2 bar 5: ...")."""
    return {int(t) for t in re.findall(r"^variation \d+ track (\d+) bar", stderr, re.M)}


def test_loop_without_track_writes_every_track_playing_in_the_loop(bundle, tmp_path, capsys):
    """--help: "default: the tracks playing in the loop" — all its bars, its first tick too.
    Track 1 plays all along; track 2 only once, on the first tick of the loop (bar 2), then
    rests through a loop longer than 4 bars; track 3 plays only outside the loop."""
    bar = 4.0  # 4/4
    tracks = [
        Track(0, False, "all", [Note(b * bar, 60, 1.0) for b in range(10)]),
        Track(33, False, "once", [Note(1 * bar, 40, 1.0)]),
        Track(48, False, "outside", [Note(0.0, 70, 1.0), Note(9 * bar, 70, 1.0)]),
    ]
    source = tmp_path / "parts.mid"
    write_midi(Piece(tracks), source)
    argv = ["loop", str(source), "--bars", "2-7", "--model", str(bundle), "--threads", "1"]
    argv += ["--seed", "1", "--max-bar-tokens", "40", "-o", str(tmp_path / "out.mid")]
    assert main(argv) == 0
    assert written_tracks(capsys.readouterr().err) == {1, 2}
