"""Measure note density and time signatures on a sample of the training corpus.

The token language's density control has ten levels whose nine upper bounds should be the
deciles of "mean onsets per bar over a 4-bar window" in the training data, so each level is
about equally frequent. This script measures those deciles on a deterministic sample of train
works (parsing all ~15,000 works takes hours on a small machine) and the time signatures the
corpus uses, so the vocabulary's signature list can be checked against it.

    python -m training.measure_density --sample 1500 [--jobs N] [--out training/density_stats.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from midigen.server.language.piece import EPS, Piece
from midigen.server.language.vocab import DEFAULT_TIME_SIGNATURES
from training.corpus import collection_of, list_works, parse_work, split_of

WINDOW = 4
QUANTILES = [10, 20, 30, 40, 50, 60, 70, 80, 90]
MIN_PER_COLLECTION = 20  # so small collections (quartets, lead sheets) get measurable counts
OUT = Path(__file__).with_name("density_stats.json")


def sample_works(size: int, works: list[str] | None = None) -> list[str]:
    """About `size` train works: proportional per collection, at least MIN_PER_COLLECTION each.

    Within a collection works are ranked by a sha1 of their id, so the sample is the same on
    every machine and grows by adding works rather than reshuffling when `size` grows.
    """
    by_collection: dict[str, list[str]] = defaultdict(list)
    for w in works if works is not None else list_works():
        if split_of(w) == "train":
            by_collection[collection_of(w)].append(w)
    total = sum(len(ws) for ws in by_collection.values())
    chosen: list[str] = []
    for collection in sorted(by_collection):
        ws = by_collection[collection]
        quota = max(round(size * len(ws) / total), min(len(ws), MIN_PER_COLLECTION))
        ranked = sorted(ws, key=lambda w: hashlib.sha1(f"sample:{w}".encode()).hexdigest())
        chosen.extend(ranked[:quota])
    return sorted(chosen)


def _work_weights(sample: list[str]) -> dict[str, float]:
    """Inverse sampling probability per work, to undo the stratification's per-collection bias."""
    population = Counter(collection_of(w) for w in list_works() if split_of(w) == "train")
    sampled = Counter(collection_of(w) for w in sample)
    return {w: population[collection_of(w)] / sampled[collection_of(w)] for w in sample}


def _full_corpus_seconds(seconds_per_work: dict[str, float]) -> float:
    """The sample over-represents slow quartets, so its works/s understates the corpus rate."""
    everything = Counter(collection_of(w) for w in list_works())
    fallback = sum(seconds_per_work.values()) / max(1, len(seconds_per_work))
    return sum(n * seconds_per_work.get(c, fallback) for c, n in everything.items())


def _timed_parse(work_id: str) -> tuple[str, Piece | str, float]:
    began = time.perf_counter()
    try:
        result: Piece | str = parse_work(work_id)
        if not any(t.notes for t in result.tracks):
            result = "ValueError: no notes"
    except Exception as error:  # noqa: BLE001 - a failure is a statistic here, not a crash
        result = f"{type(error).__name__}: {error}"
    return work_id, result, time.perf_counter() - began


def window_densities(piece: Piece) -> tuple[list[list[float]], int]:
    """Per track, the mean onsets per bar of every 4-bar window (stride 1).

    A chord of k notes counts k onsets. Windows in which the track has no onset are skipped,
    and so are windows holding an irregular (cut-short) bar, which the language rejects anyway.
    Returns (densities per track, number of windows skipped for irregular bars).
    """
    bars = piece.bars()
    if len(bars) < WINDOW:
        return [[] for _ in piece.tracks], 0
    starts = np.array([b.start for b in bars])
    irregular = np.array([not b.regular for b in bars], dtype=np.int64)
    kernel = np.ones(WINDOW, dtype=np.int64)
    bad = np.convolve(irregular, kernel, mode="valid") > 0
    result = []
    for track in piece.tracks:
        onsets = np.array([n.start for n in track.notes]) + EPS
        index = np.searchsorted(starts, onsets, side="right") - 1
        counts = np.bincount(index[index >= 0], minlength=len(bars))[: len(bars)]
        sums = np.convolve(counts, kernel, mode="valid")
        keep = (sums > 0) & ~bad
        result.append((sums[keep] / WINDOW).tolist())
    return result, int(bad.sum()) * len(piece.tracks)


def _quantiles(values: list[float], weights: list[float] | None = None) -> dict:
    """Deciles of `values`; with `weights`, of the weighted distribution (inverse-CDF rule)."""
    if not values:
        return {"windows": 0}
    array = np.asarray(values, dtype=np.float64)
    w = np.ones_like(array) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(array, kind="stable")
    array, w = array[order], w[order]
    cumulative = np.cumsum(w) / w.sum()
    picks = np.searchsorted(cumulative, np.array(QUANTILES) / 100.0 - 1e-12)
    return {
        "windows": len(values),
        "mean": round(float(np.average(array, weights=w)), 3),
        "quantiles": [round(float(array[min(i, len(array) - 1)]), 3) for i in picks],
    }


def measure(size: int, jobs: int) -> dict:
    began = time.perf_counter()
    works = sample_works(size)
    if jobs > 1:
        import multiprocessing

        with multiprocessing.Pool(jobs) as pool:
            results = list(pool.imap(_timed_parse, works, chunksize=4))
    else:
        from tqdm import tqdm

        results = [_timed_parse(w) for w in tqdm(works, unit="work")]
    parse_seconds = sum(seconds for _, _, seconds in results)
    weight_of = _work_weights(works)

    windows: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    by_collection: dict[str, list[float]] = defaultdict(list)
    seconds_by_collection: dict[str, list[float]] = defaultdict(list)
    signatures: Counter[str] = Counter()
    weighted_signatures: Counter[str] = Counter()
    irregular_bars = skipped_windows = short_pieces = 0
    failures = []
    for work_id, piece, seconds in results:
        collection = collection_of(work_id)
        seconds_by_collection[collection].append(seconds)
        if isinstance(piece, str):
            failures.append({"work": work_id, "error": piece[:200]})
            continue
        weight = weight_of[work_id]
        bars = piece.bars()
        for bar in bars:
            signatures[str(bar.time_signature)] += 1
            weighted_signatures[str(bar.time_signature)] += weight
        irregular_bars += sum(not b.regular for b in bars)
        short_pieces += len(bars) < WINDOW
        densities, skipped = window_densities(piece)
        skipped_windows += skipped
        for track, values in zip(piece.tracks, densities):
            kind = "chords" if track.name == "Chords" else "parts"
            windows[kind][0].extend(values)
            windows[kind][1].extend([weight] * len(values))
            by_collection[collection].extend(values)
    bars_total = sum(signatures.values())
    weighted_total = sum(weighted_signatures.values()) or 1.0
    outside = sum(c for s, c in signatures.items() if s not in DEFAULT_TIME_SIGNATURES)
    outside_weighted = sum(
        c for s, c in weighted_signatures.items() if s not in DEFAULT_TIME_SIGNATURES
    )
    values = windows["parts"][0] + windows["chords"][0]
    weights = windows["parts"][1] + windows["chords"][1]
    parsed = len(results) - len(failures)
    return {
        "sample": {
            "requested": size,
            "works": len(works),
            "parsed": parsed,
            "failed": len(failures),
            "failure_rate": round(len(failures) / max(1, len(works)), 4),
            "failures": failures[:50],
            "works_per_collection": dict(Counter(collection_of(w) for w in works)),
            "pieces_shorter_than_window": short_pieces,
        },
        "density": {
            "definition": "mean note onsets per bar over each 4-bar window (stride 1) of each "
            "track; chord notes count one onset each; windows where the track is silent or "
            "that contain an irregular bar are skipped",
            "quantile_levels": QUANTILES,
            "weighting": "each window weighs (train works of its collection) / (sampled works "
            "of its collection), so 'melodic' estimates the whole train split, whose windows "
            "come mostly from long polyphonic works; 'melodic_unweighted' is the raw sample",
            "melodic": _quantiles(values, weights),
            "melodic_unweighted": _quantiles(values),
            "melodic_without_chord_tracks": _quantiles(*windows["parts"]),
            "chord_symbol_tracks": _quantiles(*windows["chords"]),
            "drum": "none: the music21 corpus has no drum tracks",
            "by_collection": {c: _quantiles(v) for c, v in sorted(by_collection.items())},
            "windows_skipped_irregular": skipped_windows,
        },
        "time_signatures": {
            "bars": bars_total,
            "counts": dict(signatures.most_common()),
            "weighted_fractions": {
                s: round(c / weighted_total, 5) for s, c in weighted_signatures.most_common()
            },
            "fraction_not_in_default": round(outside / max(1, bars_total), 5),
            "fraction_not_in_default_weighted": round(outside_weighted / weighted_total, 5),
            "not_in_default": sorted(s for s in signatures if s not in DEFAULT_TIME_SIGNATURES),
            "irregular_bars": irregular_bars,
        },
        "parse": {
            "jobs": jobs,
            "seconds": round(parse_seconds, 1),
            "works_per_second": round(len(results) / max(parse_seconds, 1e-9), 2),
            "seconds_per_work_by_collection": {
                c: round(sum(v) / len(v), 3) for c, v in sorted(seconds_by_collection.items())
            },
            "estimated_full_corpus_hours_one_job": round(
                _full_corpus_seconds({c: sum(v) / len(v) for c, v in seconds_by_collection.items()})
                / 3600,
                2,
            ),
        },
        "wall_seconds": round(time.perf_counter() - began, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.measure_density", description=__doc__)
    parser.add_argument("--sample", type=int, default=1500, help="about this many train works")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    stats = measure(args.sample, max(1, args.jobs))
    args.out.write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {k: v for k, v in stats.items() if k != "sample"}
            | {"sample": {k: v for k, v in stats["sample"].items() if k != "failures"}},
            indent=1,
        )
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
