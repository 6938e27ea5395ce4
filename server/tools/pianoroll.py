"""A piano-roll picture of a piece with the generated bars highlighted (`midigen ... --plot`).

matplotlib is an optional extra (`pip install midigen[plot]`), so it is imported only here and
only when a plot is asked for; `check_plot_path` lets the CLI fail before generating.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..language.piece import Note, Piece


class PlotError(ValueError):
    """A plot that cannot be made (no matplotlib, a file type it cannot write); one line."""


def check_plot_path(path: str | Path) -> None:
    """Fail before any work when matplotlib is missing or cannot write `path`'s file type."""
    try:
        import matplotlib  # noqa: F401  (first: a missing package fails here, not half-way)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'midigen[plot]'") from None
    kinds = FigureCanvasAgg(Figure()).get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in kinds:
        raise PlotError(
            f"--plot {path}: cannot draw a {suffix or 'suffix-less'} file; "
            f"use one of .{', .'.join(sorted(kinds))}"
        )


def plot_piece(
    piece: Piece,
    cells: Iterable[tuple[int, int]],
    path: str | Path,
    title: str = "",
    margin: int | None = None,
) -> range:
    """One lane per track, time in bars; `cells` are the generated (track, bar) cells (0-based),
    shaded, with their notes drawn in a strong colour over the context's pale one.

    With `margin`, only the generated bars and `margin` bars either side are drawn: on a long
    song the new bars would otherwise be a sliver, and drawing every note takes seconds.
    Returns the bars drawn (0-based).
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure  # no pyplot: no display, no global figure state

    bars = piece.bars()
    cells = set(cells)
    first, last = 0, len(bars) - 1
    if margin is not None and cells:
        first = max(0, min(b for _, b in cells) - margin)
        last = min(len(bars) - 1, max(b for _, b in cells) + margin)
    lo, hi = bars[first].start, bars[last].end
    shown = bars[first : last + 1]
    n = max(1, len(piece.tracks))
    fig = Figure(figsize=(12, 1.6 * n + 0.6))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)
    for t, (ax, track) in enumerate(zip(axes[:, 0], piece.tracks)):
        generated = [bars[b] for tt, b in cells if tt == t and first <= b <= last]
        for bar in generated:
            ax.axvspan(bar.start, bar.end, color="#ffe9a8", zorder=0)
        notes = [note for note in track.notes if note.end > lo and note.start < hi]
        for new in (False, True):
            group = [
                note
                for note in notes
                if any(b.start - 1e-6 <= note.start < b.end for b in generated) == new
            ]
            if group:  # one collection per colour: an artist per note takes seconds
                boxes = [_box(note) for note in group]
                colour = "#d1495b" if new else "#8aa1b1"
                ax.add_collection(PolyCollection(boxes, facecolors=colour, zorder=2))
        for bar in shown:
            ax.axvline(bar.start, color="#dddddd", linewidth=0.6, zorder=1)
        pitches = [note.pitch for note in notes] or [60]
        ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
        kind = "drums" if track.is_drum else f"program {track.program}"
        ax.set_ylabel(f"{t + 1}: {track.name or kind}", rotation=0, ha="right", fontsize=8)
    ax = axes[-1, 0]
    ax.set_xlim(lo, hi)
    ax.set_xticks([bar.start for bar in shown])
    ax.set_xticklabels([str(bar.index + 1) for bar in shown], fontsize=7)
    ax.set_xlabel("bar")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return range(first, last + 1)


def _box(note: Note) -> list[tuple[float, float]]:
    """A note's rectangle: its time span, 0.9 semitones high around its pitch."""
    x0, x1, y0, y1 = note.start, note.end, note.pitch - 0.45, note.pitch + 0.45
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
