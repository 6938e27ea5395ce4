"""POP909 as training data (training/pop909.py) and warm starts from a shipped bundle
(training/checkpoints.hf_from_bundle)."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from freshsplit import splits_in_fresh_processes  # noqa: E402

from midigen.server.language.piece import Note, Piece, TimeSignature, Track  # noqa: E402
from training import pop909  # noqa: E402


def song(lead_in: float, phase: int) -> Piece:
    """A 16-bar pop song on an 8th grid starting `lead_in` quarters late, its first downbeat
    `phase` quarters after that, and a file meter of 1/4 as the shared copy has."""
    down = lead_in + phase
    bass = [Note(down + 4 * b, 36 + b % 3, 2.0) for b in range(16)]
    bass += [Note(down + 4 * b + 2, 43, 1.0) for b in range(16)]  # a weaker beat 3
    chords = [Note(down + 4 * b + q, 60 + q, 0.5) for b in range(16) for q in (0.5, 1.5, 2.5)]
    melody = [Note(lead_in + 0.5 * i, 72 + i % 5, 0.5) for i in range(120)]
    tracks = [Track(0, False, "MELODY", melody), Track(0, False, "BRIDGE", []),
              Track(0, False, "PIANO", bass + chords)]  # fmt: skip
    return Piece(tracks, time_signatures=[(0.0, TimeSignature(1, 4))])


@pytest.mark.parametrize("lead_in, phase", [(0.0, 0), (0.3125, 2), (0.125, 3), (0.4375, 1)])
def test_rebar_puts_the_downbeat_on_bar_two_in_four_four(lead_in, phase):
    piece = song(lead_in, phase)
    assert pop909.grid_offset(piece) == pytest.approx(lead_in)
    assert pop909.downbeat_phase(piece, lead_in) == phase
    out = pop909.rebar(piece, "007")
    assert out.time_signatures == [(0.0, TimeSignature(4, 4))]
    bass = sorted(n.start for n in out.tracks[2].notes if n.pitch < 40)
    assert bass[0] == pytest.approx(4.0) and all(s % 4 == pytest.approx(0) for s in bass)
    # every note moved by the same amount: relative timing is the song's own
    shift = out.tracks[0].notes[0].start - piece.tracks[0].notes[0].start
    for a, b in zip(piece.tracks[2].notes, out.tracks[2].notes):
        assert b.start - a.start == pytest.approx(shift) and (b.pitch, b.duration) == (
            a.pitch,
            a.duration,
        )
    # melodies get a lead program, the accompaniment stays piano; the same song, the same programs
    assert out.tracks[2].program == 0 and out.tracks[0].program in pop909.LEAD_PROGRAMS
    assert [t.program for t in pop909.rebar(piece, "007").tracks] == [t.program for t in out.tracks]


def test_split_is_fixed_by_song_number_and_mixed_sources_end_together():
    songs = [f"{i:03d}" for i in range(1, 910)]
    splits = [pop909.split_of(s) for s in songs]
    assert splits_in_fresh_processes("training.pop909", songs) == splits
    assert 0.85 < splits.count("train") / len(splits) < 0.95 and splits.count("test") > 20
    a = [Piece([Track(name=f"a{i}")]) for i in range(30)]
    b = [Piece([Track(name=f"b{i}")]) for i in range(10)]
    from training import dataset as ds

    mix = pop909.mixed([ds.list_pieces(a), ds.list_pieces(b)], [0.5, 0.5])
    names = [p.tracks[0].name for p in mix(np.random.default_rng(0))]
    assert sorted(names) == sorted([p.tracks[0].name for p in a + b])  # each piece once
    first_half = names[:20]
    assert sum(n.startswith("b") for n in first_half) >= 7  # drawn by share, not in order


def test_bundle_weights_rebuild_and_match_the_bundle(bundle, tmp_path):
    from transformers import GPT2LMHeadModel

    from midigen.server.engine.session import Engine
    from training.checkpoints import hf_from_bundle

    out = hf_from_bundle(bundle, tmp_path / "hf")
    model = GPT2LMHeadModel.from_pretrained(out).eval()
    import torch

    prompt = [1, 5, 9, 30, 31, 200, 300]
    with torch.no_grad():
        mine = model(torch.tensor([prompt])).logits[0, -1].numpy()
    theirs = Engine(bundle, device="cpu", threads=1).prefill([prompt])[0]
    assert np.abs(mine - theirs).max() < 1e-3
    assert (out / "language.json").exists()


def test_the_song_cache_is_one_for_a_relative_and_an_absolute_root(tmp_path, monkeypatch):
    """Training is told `../shared/data/pop909`, evaluation uses the absolute default: both must
    read the same cached songs instead of rewriting the cache for each other (two runs writing
    it at once once failed a run)."""
    root = tmp_path / "data" / "pop909"
    root.mkdir(parents=True)
    for name in ("001", "002"):
        (root / f"{name}.mid").touch()
    reads = []
    monkeypatch.setattr(pop909, "read_song", lambda r, s: reads.append(s) or Piece())
    cache = tmp_path / "cache" / "pop909.pkl"
    first = pop909.load(root, cache)
    monkeypatch.chdir(tmp_path / "data")
    again = pop909.load("../data/pop909", cache)
    assert reads == ["001", "002"] and first == again
    assert [p.name for p in cache.parent.iterdir()] == ["pop909.pkl"]  # no stray .tmp file
