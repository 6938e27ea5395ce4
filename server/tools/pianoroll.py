"""A piano-roll picture of a piece with the generated bars highlighted (`midigen ... --plot`).

matplotlib is an optional extra (`pip install midigen[plot]`), so it is imported only here and
only when a plot is asked for; `require_matplotlib` lets the CLI fail before generating.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..language.piece import Piece


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'midigen[plot]'") from None


def plot_piece(
    piece: Piece, cells: Iterable[tuple[int, int]], path: str | Path, title: str = ""
) -> None:
    """One lane per track, time in bars; `cells` are the generated (track, bar) cells (0-based),
    shaded, with their notes drawn in a strong colour over the context's pale one."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    bars = piece.bars()
    cells = set(cells)
    n = max(1, len(piece.tracks))
    fig, axes = plt.subplots(n, 1, figsize=(12, 1.6 * n + 0.6), sharex=True, squeeze=False)
    for t, (ax, track) in enumerate(zip(axes[:, 0], piece.tracks)):
        generated = [bars[b] for tt, b in cells if tt == t and b < len(bars)]
        for bar in generated:
            ax.axvspan(bar.start, bar.end, color="#ffe9a8", zorder=0)
        for note in track.notes:
            new = any(bar.start - 1e-6 <= note.start < bar.end for bar in generated)
            ax.barh(
                note.pitch,
                note.duration,
                left=note.start,
                height=0.9,
                color="#d1495b" if new else "#8aa1b1",
                zorder=2,
            )
        for bar in bars:
            ax.axvline(bar.start, color="#dddddd", linewidth=0.6, zorder=1)
        pitches = [note.pitch for note in track.notes] or [60]
        ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
        kind = "drums" if track.is_drum else f"program {track.program}"
        ax.set_ylabel(f"{t + 1}: {track.name or kind}", rotation=0, ha="right", fontsize=8)
    ax = axes[-1, 0]
    ax.set_xlim(0, bars[-1].end if bars else 4)
    ax.set_xticks([bar.start for bar in bars])
    ax.set_xticklabels([str(bar.index + 1) for bar in bars], fontsize=7)
    ax.set_xlabel("bar")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
