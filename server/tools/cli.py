"""`midigen`: the offline command line (`tokens` here; `infill | continue | loop` in
cli_generate.py).

Conventions as in a DAW: bars are 1-based and inclusive (`--bars 5-8` is four bars); a track is
named by its 1-based number in the order `midigen tokens` lists the file's tracks, or by its name.
Errors print one line `midigen: error: ...` and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..language import vocab as vocab_mod
from ..language.grid import LanguageError, Window, window_from_piece
from ..language.meters import describe, shown_meter
from ..language.midiedit import EditError
from ..language.midifiles import MidiFileError, read_midi
from ..language.tokens import decode, encode, format_tokens
from .arguments import UsageError, parse_bars, parse_tracks
from .cli_generate import add_commands  # infill, continue, loop


def first_difference(want: Window, got: Window) -> str | None:
    """Where two windows first differ, in the user's 1-based terms, or None."""
    if want.time_signatures != got.time_signatures:
        return f"time signatures differ: {want.time_signatures} vs {got.time_signatures}"
    for t, (a, b) in enumerate(zip(want.tracks, got.tracks)):
        if (a.program, a.is_drum) != (b.program, b.is_drum):
            return f"track {t + 1}: program/drum {a.program}/{a.is_drum} vs {b.program}/{b.is_drum}"
        for bar, (na, nb) in enumerate(zip(a.bars, b.bars)):
            if na != nb:
                missing = [n for n in na if n not in nb] or ["-"]
                extra = [n for n in nb if n not in na] or ["-"]
                return f"track {t + 1} bar {bar + 1}: expected {missing[0]}, decoded {extra[0]}"
    if len(want.tracks) != len(got.tracks):
        return f"{len(want.tracks)} tracks encoded, {len(got.tracks)} decoded"
    return None


def cmd_tokens(args: argparse.Namespace) -> int:
    vocab = vocab_mod.load(args.language)
    if args.vocab:
        doc = vocab.document
        print(f"language {doc['language']} {doc['version']}: {len(vocab)} tokens")
        for name, fam in vocab.families.items():
            print(f"  {name:9s} {fam.start:4d}-{fam.stop - 1:<4d} ({len(fam.values)})")
        return 0
    if not args.file:
        raise UsageError("tokens: give a MIDI file, or --vocab")
    piece = read_midi(args.file)
    n_bars = len(piece.bars())
    bars = parse_bars(args.bars, n_bars) if args.bars else list(range(n_bars))
    tracks = parse_tracks(args.tracks, piece) if args.tracks else list(range(len(piece.tracks)))
    window = window_from_piece(
        piece, vocab, bars, tracks, velocity=not args.no_velocity, microtiming=args.microtiming
    )
    ids = encode(window, vocab, velocity=not args.no_velocity, microtiming=args.microtiming)
    print(f"# {args.file}: {n_bars} bars, {len(piece.tracks)} tracks, {len(ids)} tokens")
    for i in tracks:
        t = piece.tracks[i]
        kind = "drums" if t.is_drum else f"program {t.program}"
        print(f"# track {i + 1}: {t.name!r} {kind}, {len(t.notes)} notes")
    grid = piece.bars()
    for b in sorted(set(bars)):  # bars the language has no token for (docs/language.md)
        shown = shown_meter(vocab, grid[b])
        if shown.meter != str(grid[b].time_signature) or not grid[b].regular:
            use = "can be generated" if shown.exact else "context only"
            print(f"# {describe(grid[b])} is shown as {shown.meter} ({use})")
    if not args.quiet:
        print(format_tokens(ids, vocab))
    if args.roundtrip:
        diff = first_difference(window, decode(ids, vocab).window)
        print("roundtrip: lossless" if diff is None else f"roundtrip: {diff}")
        return 0 if diff is None else 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="midigen",
        description="midigen offline tools. Bars are 1-based and inclusive; tracks are the "
        "1-based numbers `midigen tokens` lists, or track names.",
    )
    parser.add_argument("--version", action="version", version=f"midigen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "tokens",
        help="print a MIDI file as tokens, one bar a line",
        description="Print a MIDI file's token sequence readably (one bar a line).",
        epilog="examples:\n"
        "  midigen tokens ../shared/midi/prompt_infill.mid --tracks 1,3 --bars 1-8\n"
        "  midigen tokens ../shared/midi/prompt_infill.mid --roundtrip -q\n"
        "  midigen tokens --vocab",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", help="a .mid file")
    p.add_argument("--tracks", help="tracks to show: numbers (1-based) or names, comma-separated")
    p.add_argument("--bars", help="bar range, 1-based inclusive, e.g. 1-8")
    p.add_argument("--roundtrip", action="store_true", help="check decode(encode(x)) == x")
    p.add_argument("--no-velocity", action="store_true", help="leave velocity tokens out")
    p.add_argument("--microtiming", action="store_true", help="encode off-grid onsets")
    p.add_argument("--vocab", action="store_true", help="print vocabulary size and version")
    p.add_argument("--language", type=Path, help="a language JSON (default: the built-in one)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary lines")
    p.set_defaults(func=cmd_tokens)
    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `midigen tokens ... | head` closed our output: that is no error
        _quiet_stdout()
        return 141  # what a shell reports for a writer its reader stopped (128 + SIGPIPE)
    except (UsageError, MidiFileError, LanguageError, EditError, OSError) as e:
        print(f"midigen: error: {e}", file=sys.stderr)
        return 2


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so Python's flush at exit does not complain about the pipe."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a test's captured stdout: nothing to do
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
