"""POP909 as training data: 905 pop songs (melody, secondary melody, piano accompaniment).

The copy in `../shared/data/pop909/` (MIT; Wang et al., ISMIR 2020) stores its songs with
meaningless meters: most files are in 1/4 or 2/4 throughout (a MIDI converter's bar length, not
the music's), a few in 4/4, and the beat grid starts a fraction of a beat after the file's
start. Pop is in 4/4, and a model that must write 4-bar phrases has to see them as 4/4 bars, so
each song is re-barred: the notes keep their relative timing, the lead-in that best aligns the
onsets to an 8th-note grid is found, and the 4/4 downbeat is put on the beat (0-3 quarters in)
where the accompaniment's low notes start most — the left hand's bass lands on beat 1 (and 3)
in this music. The notes are shifted so that this downbeat opens bar 2; bar 1 holds the pickup.
A wrong guess between beats 1 and 3 leaves phrases half a bar off; how often that happens is
not measured (the dataset's beat annotations are not in the shared copy).

The three tracks are all piano (program 0) in the files. A DAW user's melody is more often a
lead synth, a voice-like or a wind instrument, so the melody and the secondary melody get a lead
program chosen per song from a fixed list (by the song's number, so the data are the same on
every run); the accompaniment stays piano. Songs are split 90/5/5 by the sha1 of "pop909/NNN"
(the corpus's own rule), so the held-out songs never change.

    python -m training.pop909 stats            # songs per split, bars per song, downbeat phases
"""

from __future__ import annotations

import argparse
import os
import pickle
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from midigen.server.language.midifiles import read_midi
from midigen.server.language.piece import Piece, TimeSignature, Track
from training import corpus

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "pop909"
DEFAULT_CACHE = Path.home() / ".cache" / "midigen" / "pop909.pkl"
CACHE_VERSION = 1
# melody / secondary-melody programs: piano, e-piano, vibraphone, nylon guitar, violin, flute,
# alto sax, square lead, saw lead, voice oohs, trumpet, clean guitar
LEAD_PROGRAMS = (0, 4, 11, 24, 40, 73, 65, 80, 81, 53, 56, 27)
ACCOMPANIMENT = "PIANO"


def song_ids(root: Path | str = DEFAULT_ROOT) -> list[str]:
    return sorted(p.stem for p in Path(root).glob("*.mid"))


def split_of(song: str) -> str:
    return corpus.split_of(f"pop909/{song}")


def grid_offset(piece: Piece) -> float:
    """The constant lead-in (0-0.5 quarter, in 1/96 steps) that puts the onsets closest to an
    8th-note grid: most files start with a fraction of a beat of silence before the grid."""
    starts = np.array([n.start for t in piece.tracks for n in t.notes])
    if not len(starts):
        return 0.0
    candidates = np.arange(48) / 96
    errors = [np.mean(np.minimum(((starts - o) * 2) % 1, 1 - ((starts - o) * 2) % 1))
              for o in candidates]  # fmt: skip
    return float(candidates[int(np.argmin(errors))])


def downbeat_phase(piece: Piece, offset: float) -> int:
    """Quarters (0-3) from the grid's start to the first 4/4 downbeat: the beat on which the
    accompaniment's low notes (the bass of the left hand) start most, weighted by length."""
    scores = np.zeros(4)
    for track in piece.tracks:
        if track.name.upper() != ACCOMPANIMENT:
            continue
        for note in track.notes:
            q = note.start - offset
            if abs(q - round(q)) < 0.08:
                scores[int(round(q)) % 4] += note.duration * (1.0 if note.pitch < 55 else 0.3)
    return int(np.argmax(scores))


def rebar(piece: Piece, song: str) -> Piece:
    """The notes moved so that the detected first downbeat falls on bar 2 (bar 1 holds the
    pickup), in 4/4 throughout, with lead programs on the melodies."""
    offset = grid_offset(piece)
    downbeat = offset + downbeat_phase(piece, offset)
    shift = 4.0 - downbeat  # >= 0.5: every note stays at or after 0
    number = int(song) if song.isdigit() else sum(map(ord, song))
    tracks = []
    for i, track in enumerate(piece.tracks):
        program = track.program
        if track.name.upper() != ACCOMPANIMENT:
            program = LEAD_PROGRAMS[(number * 7 + i * 5) % len(LEAD_PROGRAMS)]
        notes = [replace(n, start=round(n.start + shift, 6)) for n in track.notes]
        tracks.append(Track(name=track.name, program=program, is_drum=False, notes=notes))
    return Piece(tracks=tracks, time_signatures=[(0.0, TimeSignature(4, 4))],
                 tempos=[(t + shift if t else 0.0, bpm) for t, bpm in piece.tempos])  # fmt: skip


def read_song(root: Path | str, song: str) -> Piece:
    return rebar(read_midi(Path(root) / f"{song}.mid"), song)


def load(root: Path | str = DEFAULT_ROOT, cache: Path | str = DEFAULT_CACHE
         ) -> dict[str, Piece]:  # fmt: skip
    """Every song, re-barred; read once (~1 min) and kept in a pickle beside the corpus cache."""
    cache = Path(cache)
    where = str(Path(root).resolve())  # "../shared/data/pop909" and its absolute path are one
    if cache.exists():
        with cache.open("rb") as f:
            stored = pickle.load(f)
        if stored.get("version") == CACHE_VERSION and stored.get("root") == where:
            return stored["songs"]
    ids = song_ids(root)
    if not ids:
        raise FileNotFoundError(f"no POP909 songs (*.mid) in {root}")
    songs = {song: read_song(root, song) for song in ids}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")  # two runs may write at once
    with tmp.open("wb") as f:
        pickle.dump({"version": CACHE_VERSION, "root": where, "songs": songs}, f)
    tmp.replace(cache)
    return songs


def split_pieces(songs: dict[str, Piece], split: str) -> list[Piece]:
    return [piece for song, piece in sorted(songs.items()) if split_of(song) == split]


def mixed(sources: list[Callable[[np.random.Generator], Iterator[Piece]]],
          shares: list[float]) -> Callable[[np.random.Generator], Iterator[Piece]]:  # fmt: skip
    """A piece source for dataset.examples drawing each next piece from one of `sources` with
    probability `shares` (renormalised when one runs out), so one epoch of the mix ends when
    every source is used up. Shares are of pieces; windows are then drawn by bars (a POP909
    song has ~4x the bars of an average corpus work, see `stats`)."""

    def pieces(rng: np.random.Generator) -> Iterator[Piece]:
        streams = [source(rng) for source in sources]
        weights = np.array(shares, dtype=np.float64)
        while weights.sum() > 0:
            i = int(rng.choice(len(streams), p=weights / weights.sum()))
            piece = next(streams[i], None)
            if piece is None:
                weights[i] = 0.0
                continue
            yield piece

    return pieces


def _stats(args: argparse.Namespace) -> None:
    songs = load(args.root, args.cache)
    splits = Counter(split_of(s) for s in songs)
    raw = [read_midi(Path(args.root) / f"{s}.mid") for s in list(songs)[: args.n]]
    phases = Counter(downbeat_phase(p, grid_offset(p)) for p in raw)
    bars = [len(p.bars()) for p in songs.values()]
    print(f"{len(songs)} songs: {dict(splits)}; bars per song mean {np.mean(bars):.1f}, "
          f"median {np.median(bars):.0f}; downbeat phase of the first {args.n}: "
          f"{dict(sorted(phases.items()))}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.pop909",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    stats = sub.add_parser("stats", help="read (and cache) the songs, print their statistics")
    stats.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    stats.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    stats.add_argument("--n", type=int, default=100, help="songs to measure the phase on")
    args = parser.parse_args(argv)
    _stats(args)


if __name__ == "__main__":
    main()
