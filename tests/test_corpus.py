"""Corpus conversion, split and cache. Parses only a few small works so it stays fast."""

from __future__ import annotations

import json
from collections import Counter

import pytest

music21 = pytest.importorskip("music21")

from freshsplit import splits_in_fresh_processes  # noqa: E402

from midigen.server.language.piece import Note, Piece, TimeSignature, Track  # noqa: E402
from training import corpus  # noqa: E402
from training.convert import CHOIR, to_piece  # noqa: E402
from training.measure_density import window_densities  # noqa: E402

CHORALE = "bach/bwv66.6.mxl"
NOTTINGHAM = "nottingham-dataset/reelsa-c.abc"  # two reels with chord symbols


def _abc(body: str, meter: str = "4/4"):
    return music21.converter.parse(f"X:1\nM:{meter}\nL:1/4\nK:C\n{body}\n", format="abc")


def _expected_notes(part) -> int:
    """music21's own count: pitched notes (chord members each), ties merged, grace notes out."""
    count = 0
    for element in part.recurse().notes:
        if isinstance(element, music21.harmony.Harmony) or element.duration.isGrace:
            continue
        members = element.notes if isinstance(element, music21.chord.Chord) else [element]
        count += sum(1 for n in members if n.tie is None or n.tie.type == "start")
    return count


def test_bach_chorale_has_four_choir_tracks_with_music21_note_counts():
    score = music21.converter.parse(corpus.corpus_root() / CHORALE)
    piece = to_piece(score, "bach")
    assert [t.name for t in piece.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert all(t.program == CHOIR and not t.is_drum for t in piece.tracks)
    assert [len(t.notes) for t in piece.tracks] == [_expected_notes(p) for p in score.parts]
    # One-beat pickup in 4/4, padded so the first full bar starts on the grid at beat 4.
    assert piece.time_signatures == [(0.0, TimeSignature(4, 4))]
    assert min(n.start for t in piece.tracks for n in t.notes) == 3.0
    assert all(bar.regular for bar in piece.bars())
    assert piece.tempos == [(0.0, 96.0)]


def test_nottingham_tune_gets_chord_accompaniment_track():
    piece = corpus.parse_work(f"{NOTTINGHAM}#1")
    melody, chords = piece.tracks
    assert melody.program == 40 and len(melody.notes) > 40
    assert chords.name == "Chords" and len(chords.notes) > 20
    assert all(40 <= n.pitch <= 66 for n in chords.notes)
    # The first symbol ("Am") comes after a one-beat pickup, padded to a full bar.
    first = [n for n in chords.notes if n.start == chords.notes[0].start]
    assert first[0].start == 4.0 and {n.pitch % 12 for n in first} == {9, 0, 4}


def test_chord_symbols_are_held_until_the_next_and_voiced_low():
    piece = to_piece(_abc('"C"CDEF|"G7"GABc|]'), "nottingham-dataset")
    chords = piece.tracks[1]
    assert [(n.start, n.pitch, n.duration) for n in chords.notes] == [
        (0.0, 48, 4.0), (0.0, 55, 4.0), (0.0, 60, 4.0), (0.0, 64, 4.0),
        (4.0, 43, 4.0), (4.0, 55, 4.0), (4.0, 59, 4.0), (4.0, 62, 4.0), (4.0, 65, 4.0),
    ]  # fmt: skip


def test_ties_merged_grace_notes_dropped_pickup_padded():
    piece = to_piece(_abc("C|D2-D|{g}E F2|]", meter="3/4"), "essenFolksong")
    (track,) = piece.tracks
    assert track.program == 73
    assert [(n.start, n.pitch, n.duration) for n in track.notes] == [
        (2.0, 60, 1.0), (3.0, 62, 3.0), (6.0, 64, 1.0), (7.0, 65, 2.0),
    ]  # fmt: skip
    assert all(n.velocity == 80 for n in track.notes)


def test_josquin_voices_encoded_as_tunes_make_one_work():
    assert corpus.works_in("josquin/milleRegrets.abc") == ["josquin/milleRegrets.abc#0"]
    piece = corpus.parse_work("josquin/milleRegrets.abc#0")
    assert [t.name for t in piece.tracks] == ["Superius", "Contratenor", "Tenor", "Bassus"]
    assert all(t.program == CHOIR for t in piece.tracks)  # and no "Chords" from "A" marks
    assert piece.time_signatures == [(0.0, TimeSignature(2, 2))]  # M:C| without bar lines


def test_split_is_deterministic_and_about_90_5_5():
    works = corpus.list_works()
    assert len(works) > 14_000 and len(set(works)) == len(works)
    counts = Counter(corpus.split_of(w) for w in works)
    assert abs(counts["train"] / len(works) - 0.90) < 0.015
    assert abs(counts["valid"] / len(works) - 0.05) < 0.01
    assert abs(counts["test"] / len(works) - 0.05) < 0.01
    here = [corpus.split_of(w) for w in works[:300]]
    assert splits_in_fresh_processes("training.corpus", works[:300]) == here
    assert corpus.split_of("bach/bwv66.6.mxl#0") == "train"  # pinned: changing the rule moves works


def test_cache_round_trip_and_resume(tmp_path):
    sources = [CHORALE, NOTTINGHAM]
    first = corpus.prepare(tmp_path, sources, jobs=1)
    assert first == first | {"sources": 2, "works": 3, "failures": 0}
    cached = dict(corpus.load_cached_items(tmp_path, split=None))
    assert sorted(cached) == corpus.list_works(sources)
    for work_id, piece in cached.items():
        assert piece == corpus.parse_work(work_id), work_id
    assert list(corpus.load_cached(tmp_path, "train")) == [
        p for w, p in cached.items() if corpus.split_of(w) == "train"
    ]
    second = corpus.prepare(tmp_path, sources, jobs=1)
    assert second["sources"] == 0 and second["works"] == 0


def test_failures_are_logged_not_fatal(tmp_path, monkeypatch):
    def fake_parse(source):
        yield f"{source}#0", Piece(tracks=[Track(notes=[Note(0.0, 60, 1.0)])])
        yield f"{source}#1", "ABCTokenException: bad tune"

    monkeypatch.setattr(corpus, "parse_source", fake_parse)
    stats = corpus.prepare(tmp_path, ["x/tunes.abc"], jobs=1)
    assert (stats["works"], stats["failures"]) == (1, 1)
    log = [json.loads(line) for line in (tmp_path / corpus.FAILURE_LOG).read_text().splitlines()]
    assert log == [{"work": "x/tunes.abc#1", "error": "ABCTokenException: bad tune"}]
    assert corpus.prepare(tmp_path, ["x/tunes.abc"], jobs=1)["sources"] == 0


def test_window_density_counts_onsets_and_skips_silent_windows():
    notes = [Note(float(t), 60, 1.0) for t in range(8)] + [Note(28.0, 62, 1.0)]
    piece = Piece(tracks=[Track(notes=notes)], length=32.0)  # eight 4/4 bars
    (densities,), _ = window_densities(piece)
    # Bars hold 4, 4, 0, 0, 0, 0, 0, 1 onsets; windows at bars 2 and 3 are silent.
    assert densities == [2.0, 1.0, 0.25]
