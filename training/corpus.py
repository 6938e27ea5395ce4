"""The default model's training data: music21's built-in corpus as midigen Pieces.

A *source* is a file in the corpus; a *work* is one piece in it. Most sources hold one work, but
an .abc source (Essen, O'Neill's, Nottingham, ...) holds many tunes. Work ids are
"<corpus-relative path>#<tune index>" (index 0 for single-work files), so they stay stable when
music21 is reinstalled elsewhere and can be hashed into a split.

The cache keeps one file per source so `prepare` can resume after being killed and so loading a
split never touches music21 (parsing costs 0.05-2 s per work; loading costs milliseconds).

    python -m training.corpus prepare [--cache DIR] [--jobs N] [--limit N] [--collections ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from midigen.server.language.piece import Note as PieceNote
from midigen.server.language.piece import Piece, TimeSignature, Track

__all__ = ["list_sources", "list_works", "split_of", "parse_work", "to_piece", "prepare",
           "load_cached", "load_cached_items", "collection_of", "DEFAULT_CACHE", "cache_files",
           "load_cache_file"]  # fmt: skip

DEFAULT_CACHE = Path.home() / ".cache" / "midigen" / "corpus"


def to_piece(score: object, collection: str = "") -> Piece:
    """training/convert.py's `to_piece`, imported on first use: music21 is needed only where
    scores are parsed, so training from a prepared cache runs without it (a GPU machine that
    has torch but not music21, training/device_train.sh)."""
    from training.convert import to_piece as convert

    return convert(score, collection)


CACHE_VERSION = 1  # bump when to_piece changes what it produces; older files are re-parsed
FAILURE_LOG = "failures.jsonl"

# Formats that hold notes. .rntxt files are Roman-numeral analyses of works the corpus already
# has as scores (Bach chorales, Monteverdi); their "notes" are textbook chord realisations.
EXTENSIONS = (".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid", ".midi")
# Test fixtures for music21's own parsers (layout tests, a drum sample, triad exercises).
EXCLUDED_COLLECTIONS = {"demos", "theoryExercises"}

# Josquin's chansons are encoded one voice per "X:" tune (Superius, Altus, ...): a file is one
# work and its tunes are its parts.
VOICES_AS_TUNES = {"josquin"}

_TUNE_START = re.compile(r"^X:", re.MULTILINE)
_TITLE = re.compile(r"^T:\s*(.*?)\s*$", re.MULTILINE)


def corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def collection_of(work_or_source: str) -> str:
    return work_or_source.split("/", 1)[0]


def list_sources() -> list[str]:
    """Corpus-relative paths of every source file that holds music, sorted."""
    from music21 import corpus

    root = corpus_root()
    paths = corpus.getPaths(fileExtensions=EXTENSIONS, name=("core",))
    rels = {Path(p).relative_to(root).as_posix() for p in paths}
    return sorted(r for r in rels if collection_of(r) not in EXCLUDED_COLLECTIONS)


def _abc_tunes(path: Path) -> tuple[str, list[str]]:
    """The file header and one text block per "X:" tune, in file order.

    We split ourselves instead of letting music21 build an Opus: its split is keyed by the X:
    number (duplicates in a file overwrite each other) and it cannot parse one tune alone
    without tokenizing the whole file, which the density sample needs.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    starts = [m.start() for m in _TUNE_START.finditer(text)]
    if not starts:
        return "", [text]
    bounds = zip(starts, [*starts[1:], len(text)])
    header = "\n".join(line for line in text[: starts[0]].splitlines() if not line.startswith("%"))
    return header, [text[a:b] for a, b in bounds]


def works_in(source: str) -> list[str]:
    if source.endswith(".abc") and collection_of(source) not in VOICES_AS_TUNES:
        count = len(_abc_tunes(corpus_root() / source)[1])
    else:
        count = 1
    return [f"{source}#{i}" for i in range(count)]


def list_works(sources: Iterable[str] | None = None) -> list[str]:
    """Every work id, sorted by source then tune index (reads .abc files to count tunes)."""
    return [w for s in (list_sources() if sources is None else sources) for w in works_in(s)]


def split_of(work_id: str) -> str:
    """90/5/5 by the sha1 of the work id: stable across machines, runs and corpus growth."""
    bucket = int(hashlib.sha1(work_id.encode("utf-8")).hexdigest()[:8], 16) % 1000
    return "train" if bucket < 900 else "valid" if bucket < 950 else "test"


def _parse_abc(header: str, tune: str):
    from music21 import converter

    return converter.parse(header + "\n" + tune, format="abc", forceSource=True)


def _scores(parsed) -> list:
    from music21 import stream

    return list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]


def _parse_voices(path: Path):
    """One score whose parts are the file's tunes, named by each tune's last title line."""
    from music21 import stream

    header, tunes = _abc_tunes(path)
    score = stream.Score()
    for tune in tunes:
        titles = _TITLE.findall(tune)
        for part in _scores(_parse_abc(header, tune))[0].parts:
            part.partName = part.partName or (titles[-1] if titles else "")
            score.insert(0, part)
    return score


def parse_work(work_id: str) -> Piece:
    """Parse a single work (for sampling); only the one tune of an .abc file is parsed."""
    from music21 import converter

    source, index = work_id.rsplit("#", 1)
    path = corpus_root() / source
    if collection_of(source) in VOICES_AS_TUNES:
        score = _parse_voices(path)
    elif source.endswith(".abc"):
        header, tunes = _abc_tunes(path)
        score = _scores(_parse_abc(header, tunes[int(index)]))[0]
    else:
        parsed = converter.parse(path, forceSource=True, storePickle=False)
        score = _scores(parsed)[int(index)]
    return to_piece(score, collection_of(source))


def parse_source(source: str) -> Iterator[tuple[str, Piece | str]]:
    """(work id, Piece) per work, or (work id, error text) for works music21 cannot read."""
    from music21 import converter

    path = corpus_root() / source
    collection = collection_of(source)
    if source.endswith(".abc") and collection not in VOICES_AS_TUNES:
        header, tunes = _abc_tunes(path)
        for i, tune in enumerate(tunes):
            try:
                yield (
                    f"{source}#{i}",
                    _checked(to_piece(_scores(_parse_abc(header, tune))[0], collection)),
                )
            except Exception as error:  # noqa: BLE001 - one bad tune must not lose the file
                yield f"{source}#{i}", f"{type(error).__name__}: {error}"
        return
    try:
        if collection in VOICES_AS_TUNES:
            scores = [_parse_voices(path)]
        else:
            scores = _scores(converter.parse(path, forceSource=True, storePickle=False))
    except Exception as error:  # noqa: BLE001
        yield f"{source}#0", f"{type(error).__name__}: {error}"
        return
    for i, score in enumerate(scores):
        try:
            yield f"{source}#{i}", _checked(to_piece(score, collection))
        except Exception as error:  # noqa: BLE001
            yield f"{source}#{i}", f"{type(error).__name__}: {error}"


def _checked(piece: Piece) -> Piece:
    if not any(t.notes for t in piece.tracks):
        raise ValueError("no notes")
    return piece


# ----------------------------------------------------------------------------- cache format
# One <cache>/<source path>.npz per source: `notes` is an (N, 6) float64 array of
# (work, track, start, pitch, duration, velocity) rows and `meta` a JSON string with the work
# ids, tracks (program, is_drum, name), time signatures, tempos, lengths and failures. One numpy
# array loads far faster than per-note JSON and float64 keeps tuplet times (1/3) exact enough.


def _cache_file(cache: Path, source: str) -> Path:
    return cache / f"{source}.npz"


def _encode(source: str, results: list[tuple[str, Piece | str]]) -> tuple[np.ndarray, dict]:
    rows: list[tuple] = []
    works, failures = [], []
    for work_id, piece in results:
        if isinstance(piece, str):
            failures.append({"work": work_id, "error": piece})
            continue
        w = len(works)
        for t, track in enumerate(piece.tracks):
            rows.extend((w, t, n.start, n.pitch, n.duration, n.velocity) for n in track.notes)
        works.append({
            "id": work_id,
            "tracks": [[t.program, t.is_drum, t.name] for t in piece.tracks],
            "time_signatures": [[time, ts.numerator, ts.denominator]
                                for time, ts in piece.time_signatures],
            "tempos": [list(x) for x in piece.tempos],
            "length": piece.length,
        })  # fmt: skip
    meta = {"version": CACHE_VERSION, "source": source, "works": works, "failures": failures}
    return np.array(rows, dtype=np.float64).reshape(-1, 6), meta


def _write(path: Path, notes: np.ndarray, meta: dict) -> None:
    """Write then rename, so a killed run never leaves a half file that resume would trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, notes=notes, meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)


def _read(path: Path) -> tuple[np.ndarray, dict]:
    with np.load(path) as data:
        return data["notes"], json.loads(str(data["meta"]))


def _is_cached(cache: Path, source: str) -> bool:
    path = _cache_file(cache, source)
    if not path.exists():
        return False
    try:
        with np.load(path) as data:  # only the small meta array is decompressed
            return json.loads(str(data["meta"])).get("version") == CACHE_VERSION
    except Exception:  # noqa: BLE001 - unreadable file: parse again
        return False


def _decode(notes: np.ndarray, meta: dict, wanted: list[bool] | None = None
            ) -> Iterator[tuple[str, Piece]]:  # fmt: skip
    # Rows were written work by work, track by track, notes sorted: no sorting needed here.
    # Works not `wanted` (other splits) are skipped before any Note is built.
    work_col = notes[:, 0].astype(np.int64)
    bounds = np.searchsorted(work_col, np.arange(len(meta["works"]) + 1))
    for w, info in enumerate(meta["works"]):
        if wanted is not None and not wanted[w]:
            continue
        block = notes[bounds[w] : bounds[w + 1]]
        tracks = [Track(program=p, is_drum=d, name=n) for p, d, n in info["tracks"]]
        ints = block[:, [1, 3, 5]].astype(np.int64).tolist()
        for (t, pitch, vel), start, dur in zip(ints, block[:, 2].tolist(), block[:, 4].tolist()):
            tracks[t].notes.append(PieceNote(start, pitch, dur, vel))
        yield (
            info["id"],
            Piece(
                tracks=tracks,
                time_signatures=[(t, TimeSignature(n, d)) for t, n, d in info["time_signatures"]],
                tempos=[(t, bpm) for t, bpm in info["tempos"]],
                length=info["length"],
            ),
        )


def _prepare_one(args: tuple[str, str]) -> tuple[str, int, list[dict], float]:
    """Worker: parse one source into the cache; returns (source, works, failures, seconds)."""
    cache, source = args
    began = time.perf_counter()
    notes, meta = _encode(source, list(parse_source(source)))
    _write(_cache_file(Path(cache), source), notes, meta)
    return source, len(meta["works"]), meta["failures"], time.perf_counter() - began


def prepare(cache: Path | str, sources: Iterable[str], jobs: int | None = None) -> dict:
    """Parse every source not yet cached; returns counts for the caller to report."""
    from tqdm import tqdm

    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    todo = [s for s in sources if not _is_cached(cache, s)]
    stats = {"sources": len(todo), "works": 0, "failures": 0, "seconds": 0.0}
    began = time.perf_counter()
    jobs = max(1, jobs or os.cpu_count() or 1)
    tasks = [(str(cache), s) for s in todo]
    with (
        open(cache / FAILURE_LOG, "a", encoding="utf-8") as log,
        tqdm(total=len(todo), unit="file", disable=not todo) as bar,
    ):
        if jobs == 1 or len(tasks) <= 1:
            results: Iterable = map(_prepare_one, tasks)
            pool = None
        else:
            import multiprocessing

            pool = multiprocessing.Pool(min(jobs, len(tasks)))
            results = pool.imap_unordered(_prepare_one, tasks)
        try:
            for _source, works, failures, _seconds in results:
                stats["works"] += works
                stats["failures"] += len(failures)
                for failure in failures:
                    log.write(json.dumps(failure) + "\n")
                log.flush()
                bar.update(1)
                bar.set_postfix(works=stats["works"], failed=stats["failures"])
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    stats["seconds"] = time.perf_counter() - began
    return stats


def cache_files(cache: Path | str = DEFAULT_CACHE) -> list[Path]:
    """The cache's source files, sorted; training shuffles this list to stream in random order."""
    return sorted(p for p in Path(cache).rglob("*.npz") if not p.name.endswith(".tmp.npz"))


def load_cache_file(path: Path | str, split: str | None = "train"
                    ) -> Iterator[tuple[str, Piece]]:  # fmt: skip
    """(work id, Piece) for the works of one cache file in `split` (None: all)."""
    notes, meta = _read(Path(path))
    if meta.get("version") != CACHE_VERSION:
        return
    wanted = [split is None or split_of(w["id"]) == split for w in meta["works"]]
    if any(wanted):
        yield from _decode(notes, meta, wanted)


def load_cached_items(cache: Path | str = DEFAULT_CACHE, split: str | None = "train"
                      ) -> Iterator[tuple[str, Piece]]:  # fmt: skip
    """(work id, Piece) for every cached work of `split` (None: all), in work-id order."""
    for path in cache_files(cache):
        yield from load_cache_file(path, split)


def load_cached(cache: Path | str = DEFAULT_CACHE, split: str | None = "train"
                ) -> Iterator[Piece]:  # fmt: skip
    for _work_id, piece in load_cached_items(cache, split):
        yield piece


def select_sources(collections: list[str] | None = None, limit: int | None = None) -> list[str]:
    sources = list_sources()
    if collections:
        sources = [s for s in sources if collection_of(s) in collections]
    return sources[:limit] if limit else sources


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.corpus", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="parse the corpus into the cache (resumable)")
    prep.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    prep.add_argument("--jobs", type=int, default=os.cpu_count())
    prep.add_argument("--limit", type=int, help="at most N source files (an .abc holds many)")
    prep.add_argument("--collections", nargs="*", help="corpus folders, e.g. bach essenFolksong")
    args = parser.parse_args(argv)
    sources = select_sources(args.collections, args.limit)
    stats = prepare(args.cache, sources, args.jobs)
    rate = stats["works"] / stats["seconds"] if stats["seconds"] else 0.0
    print(
        f"{len(sources)} sources selected, {stats['sources']} parsed now: {stats['works']} works,"
        f" {stats['failures']} failures, {stats['seconds']:.1f} s ({rate:.1f} works/s);"
        f" failures are logged in {args.cache / FAILURE_LOG}"
    )


if __name__ == "__main__":
    main()
