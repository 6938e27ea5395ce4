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
    assert notes_in(after, 1, 4, 7) != notes_in(before, 1, 4, 7)
    assert_only_bars_changed(before, after, track=1, first=5, last=8)


def assert_only_bars_changed(before, after, track: int, first: int, last: int) -> None:
    """The README's promise, computed here from 4/4 bar arithmetic (not the project's bar
    helpers): other tracks (drums included) keep every note exactly; the selected track keeps
    every note starting outside bars first..last (1-based), each with its pitch, velocity and
    length, or shortened to end where a new note of its pitch starts."""

    def full(notes):
        return sorted((round(n.start, 4), n.pitch, round(n.duration, 4), n.velocity) for n in notes)

    assert [(s.numerator, s.denominator) for _, s in before.time_signatures] == [
        (4, 4)
    ]  # bar b starts at 4 * (b - 1)
    lo, hi = 4.0 * (first - 1), 4.0 * last
    for t, (old, new) in enumerate(zip(before.tracks, after.tracks)):
        if t != track:
            assert old.notes and full(new.notes) == full(old.notes), f"track {t + 1} changed"
    inside = [n for n in after.tracks[track].notes if lo <= n.start < hi]
    kept = sorted((n for n in before.tracks[track].notes if not lo <= n.start < hi), key=str)
    now = sorted((n for n in after.tracks[track].notes if not lo <= n.start < hi), key=str)
    assert kept and [(round(n.start, 4), n.pitch, n.velocity) for n in now] == [
        (round(n.start, 4), n.pitch, n.velocity) for n in kept
    ]
    for a, b in zip(kept, now):
        if round(b.duration, 4) != round(a.duration, 4):  # cut where a new note of its pitch starts
            end = round(b.start + b.duration, 4)
            assert b.duration < a.duration and any(
                m.pitch == b.pitch and round(m.start, 4) == end for m in inside
            ), (a, b)


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


def test_each_variations_piano_roll_is_titled_with_its_number(bundle, tmp_path, monkeypatch):
    """With --variations 2 --plot, song-1.png says variation 1 and song-2.png variation 2."""
    pytest.importorskip("matplotlib")
    from midigen.server.tools import pianoroll

    titles = {}

    def record(piece, cells, png, title, margin):
        titles[str(png).rsplit("/", 1)[-1]] = title

    monkeypatch.setattr(pianoroll, "plot_piece", record)
    code = midigen(
        bundle, "infill", BMW, "--track", "2", "--bars", "5", "--seed", "1", "--variations", "2",
        "-o", tmp_path / "song.mid", "--plot", tmp_path / "song.png",
    )  # fmt: skip
    assert code == 0
    assert sorted(titles) == ["song-1.png", "song-2.png"]
    assert titles["song-1.png"].endswith(", variation 1")
    assert titles["song-2.png"].endswith(", variation 2")


def test_the_priors_reach_the_decoder(bundle, tmp_path, monkeypatch):
    """--rhythm and --harmony are the request's priors (defaults: SamplingOptions'); 0: off."""
    from midigen.server.engine import generation
    from midigen.server.engine.sampling import SamplingOptions

    seen, real = [], generation.generate

    def spy(engine, piece, request, *rest, **kw):
        seen.append((request.sampling.rhythm, request.sampling.harmony))
        return real(engine, piece, request, *rest, **kw)

    monkeypatch.setattr(generation, "generate", spy)
    args = ["infill", BMW, "--track", "1", "--bars", "2-3", "--seed", "4"]
    for extra in ([], ["--rhythm", "0", "--harmony", "0"], ["--rhythm", "6.5", "--harmony", "2"]):
        assert midigen(bundle, *args, *extra, "-o", tmp_path / "r.mid") == 0
    defaults = (SamplingOptions.rhythm, SamplingOptions.harmony)
    assert seen == [defaults, (0.0, 0.0), (6.5, 2.0)] and min(defaults) > 0
