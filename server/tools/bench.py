"""`midigen-bench`: speed figures recorded in BENCHMARKS.md (benchmarks, never timed tests).

Sections are functions returning flat dicts of numbers; `main` prints them as a table and writes
JSON. Medians over repeated runs, because this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
from collections.abc import Callable, Sequence

import numpy as np

from ..language import vocab as vocab_mod
from ..language.grammar import Grammar
from ..language.grid import Window, window_from_piece
from ..language.piece import Note, Piece, Track
from ..language.tokens import decode, encode
from .bench_engine import engine_section
from .timing import Stopwatch, time_runs


def _median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median CPU time and median wall time of `fn`, in ms. CPU time (this process's) is the
    figure to compare against targets: other jobs on a shared machine inflate wall time."""
    wall, cpu = time_runs(fn, repeats)
    return statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3


def busy_piece(bars: int = 8, tracks: int = 8, seed: int = 0) -> Piece:
    """A dense 4/4 piece (~190 notes per track over 8 bars): chords, two-voice lines, drums."""
    rng = random.Random(seed)
    piece = Piece(length=bars * 4.0)
    for t in range(tracks):
        notes = []
        for q in range(bars * 16):  # 16th steps
            start = q / 4
            if t == tracks - 1:  # drums: hats on 16ths, kick and snare on quarters
                notes.append(Note(start, 42, 0.25, rng.randint(60, 110)))
                if q % 4 == 0:
                    notes.append(Note(start, 36 if q % 8 == 0 else 38, 0.25, 110))
            elif t % 2 == 0 and q % 2 == 0:  # triads on 8ths
                root = 48 + rng.randrange(12)
                notes += [Note(start, root + i, 0.5, 80) for i in (0, 4, 7)]
            elif t % 2 == 1:  # a busy 16th line over an 8th-note lower voice
                if rng.random() < 0.9:
                    notes.append(Note(start, 72 + rng.randrange(12), 0.25, rng.randint(50, 120)))
                if q % 2 == 0:
                    notes.append(Note(start, 55 + rng.randrange(12), 0.5, 70))
        piece.tracks.append(Track(t * 8, t == tracks - 1, f"t{t}", notes))
    return piece


def language_section(repeats: int = 50) -> dict[str, float]:
    vocab = vocab_mod.load()
    piece = busy_piece()
    notes = sum(len(t.notes) for t in piece.tracks)
    window: Window = window_from_piece(piece, vocab)
    ids = encode(window, vocab)
    assert decode(ids, vocab).window == window
    out = {
        "window_notes": float(notes),
        "window_tokens": float(len(ids)),
    }
    timed = {
        "quantize": lambda: window_from_piece(piece, vocab),
        "encode": lambda: encode(window, vocab),
        "decode": lambda: decode(ids, vocab),
    }
    for name, fn in timed.items():
        out[f"{name}_ms"], out[f"{name}_wall_ms"] = _median_ms(fn, repeats)
    out.update(grammar_section(vocab, window))
    return out


def grammar_section(vocab: vocab_mod.Vocabulary, window: Window, walks: int = 100) -> dict:
    """Mean cost of one grammar step (mask + advance) along uniform random walks that fill two
    bars of two tracks with a polyphony limit, replayed on fresh grammars so that only the
    grammar is timed."""
    from ..language.controls import Controls

    rng = random.Random(1)
    holes = [(0, 2), (0, 3), (1, 5), (1, 6)]
    controls: list[Controls | None] = [Controls(poly_max=4), Controls(dur_max=3)]
    controls += [None] * (len(window.tracks) - 2)
    prompt = encode(window, vocab, holes, controls, fills=False)
    sequences = []
    for _ in range(walks):
        g, seq = Grammar(vocab, prompt), []
        while not g.done:
            legal = np.flatnonzero(g.mask())
            tok = int(legal[rng.randrange(len(legal))])
            g.advance(tok)
            seq.append(tok)
        sequences.append(seq)
    grammars = [Grammar(vocab, prompt) for _ in sequences]
    steps = sum(len(s) for s in sequences)
    with Stopwatch() as sw:
        for g, seq in zip(grammars, sequences):
            for tok in seq:
                g.mask()
                g.advance(tok)
    step_us = sw.cpu / steps * 1e6
    step_wall_us = sw.wall / steps * 1e6
    setup_ms = _median_ms(lambda: Grammar(vocab, prompt), 20)[0]
    return {
        "grammar_step_us": step_us,
        "grammar_step_wall_us": step_wall_us,
        "grammar_setup_ms": setup_ms,
        "grammar_steps": steps,
    }


SECTIONS: dict[str, Callable[..., dict]] = {"language": language_section, "engine": engine_section}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="midigen-bench",
        description="Measure midigen's speed; the table goes to stdout, --json writes a file.",
        epilog="example: midigen-bench --only language --json bench.json",
    )
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="sections")
    parser.add_argument("--model", help="engine section: also measure this bundle folder")
    parser.add_argument("--int8", help="with --model: its int8 export, measured beside it")
    args = parser.parse_args(argv)
    if args.int8 and not args.model:
        parser.error("--int8 measures a bundle's int8 export beside it: give --model too")
    results: dict[str, object] = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        }
    }
    for name in args.only or SECTIONS:
        section = SECTIONS[name](args.model, args.int8) if name == "engine" else SECTIONS[name]()
        results[name] = section
        print(f"[{name}]")
        for key, value in section.items():
            print(f"  {key:24s} {value:10.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
