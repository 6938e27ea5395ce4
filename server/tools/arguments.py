"""What the `midigen` commands share when reading the user's words: bars and tracks as a DAW
numbers them (1-based, inclusive ranges, names or numbers), and the error a wrong one raises.
Kept apart from cli.py so that cli.py and cli_generate.py both import it and not each other."""

from __future__ import annotations

from ..language.piece import Piece


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
    `option` as the user typed it. A name several tracks share is an error listing them."""
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
            listed = ", ".join(f"{i + 1} {t.name!r}" for i, t in enumerate(piece.tracks))
            raise UsageError(f"{option}: no track named {part!r} (tracks: {listed})")
        if len(names) > 1:  # picking one would edit a part the user may not have meant
            numbers = ", ".join(str(i + 1) for i in names)
            raise UsageError(
                f"{option}: {len(names)} tracks are named {part!r} (tracks {numbers}); "
                "give the track number"
            )
        out.append(names[0])
    return out
