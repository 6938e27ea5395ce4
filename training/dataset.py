"""Training examples: cached corpus pieces -> token id sequences in the midigen language.

Every example is one window of W bars and at most T tracks, encoded exactly the way the server
encodes its prompts (`window_from_piece`, `controls.measure`, `language.encode`), followed by the
fill sections, so the model is trained on the sequences it will be asked to continue. The server
asks for five kinds of fills (docs/language.md, server/language/windows.py); the mask kinds
mirror them:

- none:     a plain window, no holes (unconditional music; cheap extra signal)
- cells:    random (track, bar) cells
- tracks:   whole tracks of the window (write a new part against the others)
- bars:     a span of bars of some tracks, the server's infill step (W // 2 bars per step)
- continue: the last bars of some or all tracks; the other tracks are silent there, as in a
            server continuation, which never shows invented future context
- loop:     the loop's last bars as holes, then the loop's first bar repeated (the wrap bar)

Augmentation (all decided by one numpy Generator, so a seed fixes the whole stream): a few
pieces re-barred in an odd meter (7/4, 5/4, 11/8, 7/8, 5/8; augment.rebar), transposition by
-5..+5 semitones within MIDI range (drum tracks untouched), GM program swaps
inside the program's family of 8, random track subsets, each hole track's controls replaced by
"any" per control, velocity on or off. Microtiming is almost always off: the corpus is
score-derived, every onset is on the grid, so <mt_on> examples (a few, to keep the header token
in-distribution) carry no mt: tokens.

Windows are never truncated: a sequence over the context length is rebuilt with half the
tracks, and dropped if it still does not fit.

    python -m training.dataset stats --split train --n 500
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from midigen.server.language import controls as ctl
from midigen.server.language import vocab as vocab_mod
from midigen.server.language.grid import LanguageError, Window, window_from_piece
from midigen.server.language.piece import Piece
from midigen.server.language.tokens import encode
from midigen.server.language.vocab import Vocabulary
from training import corpus
from training.augment import rebar, swap_program, transpose, transpose_range
from training.masks import KINDS, choose_bars, choose_holes, choose_tracks, usable_bars


@dataclass(frozen=True)
class Config:
    """Example shape and augmentation rates; the defaults are the default model's recipe."""

    window_bars: int = 4  # W
    max_tracks: int = 8  # T
    context: int = 1024
    kind_weights: tuple[float, ...] = (0.10, 0.20, 0.15, 0.25, 0.15, 0.15)  # in KINDS order
    short_window: float = 0.10  # chance of a window shorter than W (short pieces, early bars)
    all_tracks: float = 0.5  # chance of taking every track (up to T) rather than a random subset
    transpose: int = 5  # semitones either way
    swap: float = 0.2  # chance per track of another program from its GM family
    any_control: float = 0.25  # chance per control (of a track that gets holes) of "any"
    velocity: float = 0.5  # chance of <vel_on>
    microtiming: float = 0.02  # chance of <mt_on>
    rebar: float = 0.04  # chance per piece of bar lines redrawn in an odd meter (augment.rebar)


@dataclass
class Example:
    """One training sequence and how it was made (tests and stats read the extras)."""

    tokens: np.ndarray  # int16 token ids, <piece> ... <end>
    kind: str
    window: Window  # after augmentation and reordering: exactly what `tokens` encodes
    holes: list[tuple[int, int]]  # (window track, window bar)
    bars: list[int]  # source bar per window bar (a loop ends with its first bar again)
    tracks: list[int]  # source track per window track
    shift: int  # transposition applied to non-drum tracks
    emptied: list[tuple[int, int]] = field(default_factory=list)  # silenced continuation cells
    attempts: int = 1  # 2 or 3 when the first track choice overflowed the context


def make_example(
    piece: Piece,
    vocab: Vocabulary,
    cfg: Config,
    rng: np.random.Generator,
    ok: np.ndarray | None = None,
    kind: str | None = None,
) -> Example | None:
    """One random training example from `piece`, or None when no window of it can be encoded
    within the context (even with fewer tracks) or the piece has no usable bars."""
    if ok is None:
        ok = usable_bars(piece, vocab)
    if kind is None:
        weights = np.array(cfg.kind_weights) / sum(cfg.kind_weights)
        kind = KINDS[int(rng.choice(len(KINDS), p=weights))]
    if kind == "continue" and min(cfg.window_bars, int(ok.sum())) < 2:
        kind = "bars"  # nothing to continue from
    chosen = choose_bars(kind, ok, cfg.window_bars, cfg.short_window, rng)
    if chosen is None and kind == "loop":
        kind = "bars"
        chosen = choose_bars(kind, ok, cfg.window_bars, cfg.short_window, rng)
    if chosen is None or not piece.tracks:
        return None
    bars, loop_src = chosen
    loop_bars = [bars.index(b) for b in loop_src]
    if kind == "continue" and len(bars) < 2:
        kind = "bars"
    velocity = bool(rng.random() < cfg.velocity)
    microtiming = bool(rng.random() < cfg.microtiming)
    cap = cfg.max_tracks
    for attempt in range(1, 4):
        example = _build(piece, vocab, cfg, rng, kind, bars, loop_bars, cap, velocity, microtiming)
        if len(example.tokens) <= cfg.context:
            example.attempts = attempt
            return example
        cap = max(1, len(example.tracks) // 2)
        if len(example.tracks) == 1:
            break
    return None


def _build(piece: Piece, vocab: Vocabulary, cfg: Config, rng: np.random.Generator, kind: str,
           bars: list[int], loop_bars: list[int], cap: int, velocity: bool, microtiming: bool
           ) -> Example:  # fmt: skip
    tracks = choose_tracks(len(piece.tracks), cap, rng, cfg.all_tracks)
    window = window_from_piece(piece, vocab, bars, tracks, velocity, microtiming)
    low, high = transpose_range(window, cfg.transpose)
    shift = int(rng.integers(low, high + 1))
    transpose(window, shift)
    for track in window.tracks:
        if rng.random() < cfg.swap:
            track.program = swap_program(track.program, rng)
    fill_tracks, fill_bars, holes = choose_holes(
        kind, len(tracks), len(bars), loop_bars, rng, cfg.window_bars
    )
    if fill_tracks:  # filled tracks first, then the context tracks, as the server orders them
        order = fill_tracks + [t for t in range(len(tracks)) if t not in fill_tracks]
        window.tracks = [window.tracks[t] for t in order]
        tracks = [tracks[t] for t in order]
        holes = [(t, b) for t in range(len(fill_tracks)) for b in fill_bars]
    emptied = []
    if kind == "continue":  # the bars a continuation adds hold nothing for unselected tracks
        for t in range(len(fill_tracks), len(tracks)):
            for b in fill_bars:
                window.tracks[t].bars[b] = []
                emptied.append((t, b))
    wrap = len(bars) - 1
    if kind == "loop" and bars[wrap] in [bars[b] for b in fill_bars] and rng.random() < 0.5:
        # A one-step loop's wrap bar is its first hole bar again. The server shows what that bar
        # held before generating (often nothing, for a new loop): half the time the wrap is
        # silent, so an empty wrap bar does not teach "the loop starts empty".
        for t in range(len(fill_tracks)):
            window.tracks[t].bars[wrap] = []
            emptied.append((t, wrap))
    controls = _controls(vocab, window, holes, rng, cfg.any_control)
    tokens = encode(window, vocab, holes, controls, velocity, microtiming)
    return Example(np.array(tokens, dtype=np.int16), kind, window, holes, bars, tracks, shift,
                   emptied)  # fmt: skip


def _controls(vocab: Vocabulary, window: Window, holes: list[tuple[int, int]],
              rng: np.random.Generator, p_any: float) -> list[ctl.Controls]:  # fmt: skip
    """Measured controls (the server's own `measure`), each control of a track that gets holes
    (or of every track in a plain window) set to "any" with probability p_any, so the model
    also writes well when the user sets nothing. Context tracks keep measured controls: the
    server always measures them."""
    ticks = window.bar_ticks(vocab)
    hole_bars: dict[int, list[int]] = {}
    for t, b in holes:
        hole_bars.setdefault(t, []).append(b)
    out = []
    for t, track in enumerate(window.tracks):
        c = ctl.measure(vocab, track, ticks, hole_bars.get(t) or range(len(ticks)))
        if t in hole_bars or not holes:
            values = [None if rng.random() < p_any else v for v in c.as_tuple()]
            c = ctl.Controls(*values)
        out.append(c)
    return out


# ----------------------------------------------------------------------------- streams


def cache_pieces(cache: Path | str, split: str) -> Callable[[np.random.Generator], Iterator]:
    """A piece source for `examples`: the split's cached pieces, files in random order."""
    files = corpus.cache_files(cache)
    if not files:
        raise FileNotFoundError(f"no cached corpus in {cache}; run python -m training.corpus "
                                "prepare first")  # fmt: skip

    def pieces(rng: np.random.Generator) -> Iterator[Piece]:
        for i in rng.permutation(len(files)):
            for _work, piece in corpus.load_cache_file(files[i], split):
                yield piece

    return pieces


def list_pieces(items: Iterable[Piece]) -> Callable[[np.random.Generator], Iterator]:
    """A piece source for `examples` from pieces in memory (tests, small experiments)."""
    items = list(items)

    def pieces(rng: np.random.Generator) -> Iterator[Piece]:
        for i in rng.permutation(len(items)):
            yield items[i]

    return pieces


def examples(pieces: Callable[[np.random.Generator], Iterator[Piece]], vocab: Vocabulary,
             cfg: Config = Config(), seed: int = 0, epochs: int | None = None,
             buffer: int = 1024, stats: Counter | None = None) -> Iterator[Example]:  # fmt: skip
    """Endless (or `epochs`-long) stream of examples; deterministic given the seed.

    An epoch visits every piece, drawing about one window per W usable bars, so each bar is
    seen about once per epoch and long quartets weigh more than 16-bar folk songs, in
    proportion to their music. Pieces wait in a buffer and windows are drawn from buffered
    pieces at random, weighted by the windows each has left (so any stretch of the stream is
    weighted by bars, not by works), which mixes the collections: one cache file holds hundreds
    of tunes of one kind. Memory stays at `buffer` pieces.
    """
    stats = Counter() if stats is None else stats
    epoch = 0
    while epochs is None or epoch < epochs:
        rng = np.random.default_rng([seed, epoch])
        source = pieces(rng)
        pool: list[list] = []  # [piece, usable bars, windows left]
        exhausted, produced = False, 0
        while True:
            while not exhausted and len(pool) < buffer:
                piece = next(source, None)
                if piece is None:
                    exhausted = True
                    break
                if rng.random() < cfg.rebar:
                    piece = rebar(piece, rng)
                ok = usable_bars(piece, vocab)
                stats["pieces"] += 1
                if not ok.any():
                    stats["pieces_unusable"] += 1
                    continue
                pool.append([piece, ok, max(1, round(int(ok.sum()) / cfg.window_bars))])
            if not pool:
                break
            left_all = np.array([entry[2] for entry in pool], dtype=np.float64)
            i = int(rng.choice(len(pool), p=left_all / left_all.sum()))
            piece, ok, left = pool[i]
            try:
                example = make_example(piece, vocab, cfg, rng, ok)
            except LanguageError:  # should not happen: unusable bars are never chosen
                example = None
                stats["language_errors"] += 1
            if left <= 1:
                pool[i] = pool[-1]
                pool.pop()
            else:
                pool[i][2] = left - 1
            if example is None:
                stats["dropped"] += 1
                continue
            stats["examples"] += 1
            stats[f"kind_{example.kind}"] += 1
            produced += 1
            yield example
        epoch += 1
        stats["epochs"] = epoch
        if not produced:  # nothing usable at all: an endless stream would spin forever
            return


def fixed_examples(pieces: Callable, vocab: Vocabulary, n: int, cfg: Config = Config(),
                   seed: int = 1234) -> list[np.ndarray]:  # fmt: skip
    """The same n examples on every call (the validation set: comparable across runs). The
    buffer holds the whole valid split (~750 works), so the set spreads over all of it. No
    re-barring: validation measures the music as written."""
    out = []
    cfg = replace(cfg, rebar=0.0)
    for example in examples(pieces, vocab, cfg, seed=seed, epochs=None, buffer=4096):
        out.append(example.tokens)
        if len(out) >= n:
            break
    return out


# ----------------------------------------------------------------------------- stats CLI


def _stats(args: argparse.Namespace) -> None:
    vocab = vocab_mod.load()
    cfg = Config(window_bars=args.window_bars, max_tracks=args.max_tracks, context=args.context)
    counts: Counter = Counter()
    lengths, tracks, holes, overfull = [], [], [], 0
    began = time.perf_counter()
    stream = examples(cache_pieces(args.cache, args.split), vocab, cfg, args.seed, stats=counts)
    for example in stream:
        lengths.append(len(example.tokens))
        tracks.append(len(example.tracks))
        holes.append(len(example.holes))
        overfull += example.attempts > 1
        if len(lengths) >= args.n:
            break
    seconds = time.perf_counter() - began
    lengths_arr = np.array(lengths)
    pct = np.percentile(lengths_arr, [10, 50, 90, 99, 100]).round().astype(int).tolist()
    tried = counts["examples"] + counts["dropped"]
    print(
        f"{len(lengths)} examples of split {args.split} in {seconds:.1f} s "
        f"({len(lengths) / seconds:.0f} examples/s, {lengths_arr.sum() / seconds:.0f} tokens/s),"
        f" {counts['pieces']} pieces read ({counts['pieces_unusable']} without usable bars)"
    )
    print(f"tokens per example: mean {lengths_arr.mean():.0f}, p10/p50/p90/p99/max {pct}")
    print(
        f"over {cfg.context} tokens: {overfull} kept with half the tracks"
        f" ({overfull / max(1, len(lengths)):.2%}), {counts['dropped']} of {tried} dropped"
        f" ({counts['dropped'] / max(1, tried):.2%})"
    )
    print(
        f"tracks per example: mean {np.mean(tracks):.2f}, max {max(tracks)}; holes per example:"
        f" mean {np.mean(holes):.2f}"
    )
    kinds = ", ".join(f"{k} {counts['kind_' + k]}" for k in KINDS)
    print(f"kinds: {kinds}")
    if args.epoch:  # one window per W usable bars of every piece, as `examples` draws them
        began = time.perf_counter()
        windows = works = 0
        for piece in cache_pieces(args.cache, args.split)(np.random.default_rng(0)):
            ok = usable_bars(piece, vocab)
            works += 1
            windows += max(1, round(int(ok.sum()) / cfg.window_bars)) if ok.any() else 0
        tokens = windows * lengths_arr.mean()
        print(
            f"one epoch: {works} works, {windows} windows, ~{tokens / 1e6:.1f}M tokens at the"
            f" mean above (counted in {time.perf_counter() - began:.0f} s)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("stats", help="length percentiles, drops and speed of the example stream")
    st.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    st.add_argument("--split", default="train", choices=("train", "valid", "test"))
    st.add_argument("--n", type=int, default=500)
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--window-bars", type=int, default=Config.window_bars)
    st.add_argument("--max-tracks", type=int, default=Config.max_tracks)
    st.add_argument("--context", type=int, default=Config.context)
    st.add_argument("--epoch", action="store_true", help="also count the windows of one epoch")
    args = parser.parse_args(argv)
    _stats(args)


if __name__ == "__main__":
    main()
