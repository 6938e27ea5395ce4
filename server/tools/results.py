"""Where `midigen infill | continue | loop` writes its results, checked before the model runs.

A result goes back into the user's file as an edit (language/midiedit.py), so the output keeps
everything the input had; the piano roll shows the generated bars with two bars either side.
Every path is checked first, so a typo in `-o` or `--plot` costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import mido

from ..language.midiedit import BarEdit, edit_midi
from ..language.midifiles import read_midi, save_midi
from ..language.piece import Note, Piece
from .arguments import UsageError

PLOT_MARGIN = 2  # context bars drawn either side of the generated ones


def output_paths(output: str, variations: int) -> list[Path]:
    """out.mid for one variation; out-1.mid, out-2.mid, ... for several."""
    path = Path(output)
    if variations == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i + 1}{path.suffix}") for i in range(variations)]


def check_outputs(output: str, plot: str | None, variations: int) -> None:
    """Fail with one line, before any work, when a result could not be written."""
    targets = [("-o", output)] + ([("--plot", plot)] if plot else [])
    for option, path in targets:
        folder = Path(path).parent
        if Path(path).is_dir():
            raise UsageError(f"{option} {path}: is a folder; give a file name")
        if not folder.is_dir():
            raise UsageError(f"{option} {path}: no folder {folder}")
        if not os.access(folder, os.W_OK):
            raise UsageError(f"{option} {path}: folder {folder} is not writable")
    if plot:
        from .pianoroll import PlotError, check_plot_path

        try:
            check_plot_path(plot)
        except PlotError as e:
            raise UsageError(str(e)) from None


def write_results(
    mid: mido.MidiFile,
    piece: Piece,
    bars: Sequence[Sequence[tuple[int, float, float, Sequence[Note]]]],
    output: str,
    plot: str | None,
    cells: Iterable[tuple[int, int]],
    title: str,
) -> list[str]:
    """Write each variation's bars (track, start, end, notes) into a copy of the user's file,
    and its piano roll; returns the paths written."""
    written = []
    cells = list(cells)
    plots = output_paths(plot, len(bars)) if plot else [None] * len(bars)
    for i, (path, png, variation) in enumerate(zip(output_paths(output, len(bars)), plots, bars)):
        edited = edit_midi(mid, piece, [BarEdit(*bar) for bar in variation])
        save_midi(edited, path)
        written.append(str(path))
        if png is not None:
            from .pianoroll import plot_piece

            label = title + (f", variation {i + 1}" if len(bars) > 1 else "")
            plot_piece(read_midi(edited), cells, png, label, margin=PLOT_MARGIN)
            written.append(str(png))
    return written
