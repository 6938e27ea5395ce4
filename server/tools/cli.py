"""`midigen`: the offline command line (inspect a file's tokens; generation commands join later).

Conventions as in a DAW: bars are 1-based and inclusive (`--bars 5-8` is four bars); a track is
named by its 1-based number in the order `midigen tokens` lists the file's tracks, or by its name.
Errors print one line `midigen: error: ...` and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from . import vocab as vocab_mod
from .grid import LanguageError, Window, window_from_piece
from .language import decode, encode, format_tokens
from .midifiles import MidiFileError, read_midi
from .piece import Piece


class UsageError(ValueError):
    """Bad command-line input; the message is shown to the user as is."""


def parse_bars(text: str, n_bars: int) -> list[int]:
    """'5-8' or '3' (1-based, inclusive) -> 0-based bar indices, checked against the piece."""
    try:
        first, _, last = text.partition("-")
        lo, hi = int(first), int(last or first)
    except ValueError:
        raise UsageError(f"--bars: expected a bar or range like 5-8, got {text!r}") from None
    if lo < 1 or hi < lo:
        raise UsageError(f"--bars: {text!r} is not a range of bars (bars count from 1)")
    if hi > n_bars:
        raise UsageError(f"--bars: the piece has {n_bars} bars, {text!r} goes past the end")
    return list(range(lo - 1, hi))


def parse_tracks(text: str, piece: Piece, option: str = "--tracks") -> list[int]:
    """'1,3' or 'Bass,Drums' (1-based numbers or names) -> 0-based track indices; errors name
    `option` as the user typed it."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if part.isdigit():
            number = int(part)
            if not 1 <= number <= len(piece.tracks):
                raise UsageError(
                    f"{option}: no track {number}; the piece has tracks 1-{len(piece.tracks)}"
                )
            out.append(number - 1)
            continue
        names = [i for i, t in enumerate(piece.tracks) if t.name.lower() == part.lower()]
        if not names:
            listed = ", ".join(repr(t.name) for t in piece.tracks)
            raise UsageError(f"{option}: no track named {part!r} (tracks: {listed})")
        out.append(names[0])
    return out


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
        epilog="examples:\n  midigen tokens song.mid --tracks 1,3 --bars 1-8\n"
        "  midigen tokens song.mid --roundtrip -q\n  midigen tokens --vocab",
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
    from .cli_generate import add_commands  # infill, continue, loop

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, MidiFileError, LanguageError, OSError) as e:
        print(f"midigen: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
