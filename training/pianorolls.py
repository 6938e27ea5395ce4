"""Rendered examples for the model card: held-out infills drawn as piano rolls.

    python -m training.evaluate examples --model BUNDLE --out DIR [--seed 0]

For each kind of music in EXAMPLES (a Bach chorale, a folk tune, a string quartet) one held-out
task is drawn from that kind's collections (training/heldout.py: two bars of one track, the
server's infill step), refilled through `generation.generate()` with every control measured from
the original bars (what the server does when the user sets none), and drawn with the server's
own `pianoroll.plot_piece` twice, original and infilled, over the task's window plus a margin,
the refilled bars shaded. The test split decides what is available: a kind with no held-out
work is reported as missing, not replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from midigen.server.engine.sampling import SamplingOptions
from midigen.server.engine.session import Engine
from midigen.server.language.piece import Piece
from midigen.server.tools.pianoroll import plot_piece
from training.heldout import choose_tasks, excerpt, infill
from training.plausibility import correlation, pitch_classes

# (file name stem, what the card calls it, work-id prefixes it may come from)
EXAMPLES = (
    ("chorale", "Bach chorale", ("bach/",)),
    (
        "folk",
        "folk tune",
        (
            "essenFolksong/",
            "oneills1850/",
            "ryansMammoth/",
            "airdsAirs/",
            "miscFolk/",
            "nottingham",
        ),
    ),
    ("quartet", "string quartet excerpt", ("mozart/", "haydn/", "beethoven/")),
)


def render_examples(
    engine: Engine,
    items: Sequence[tuple[str, Piece]],
    out: Path | str,
    seed: int = 0,
    margin: int = 2,
    options: SamplingOptions | None = None,
) -> list[dict]:
    """Draw the examples into `out`; returns one JSON-ready record per kind. `options`: the
    server's defaults when None, with `seed`."""
    options = dataclasses.replace(options or SamplingOptions(), seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for stem, label, prefixes in EXAMPLES:
        tasks = choose_tasks(engine, items, 1, seed, spans=(2,), collections=prefixes)
        if not tasks:
            records.append({"name": stem, "label": label, "missing": True})
            continue
        task = tasks[0]
        results, done = infill(engine, task, None, options)
        result = results[0]
        first = max(0, task.step.bars[0] - margin)
        last = task.step.bars[-1] + margin
        cells = [(task.track, b - first) for b in task.bars]
        bars = f"{task.bars[0] + 1}-{task.bars[-1] + 1}"
        title = f"{task.work}: track {task.track + 1}, bars {bars}"
        files = {}
        for kind, piece in (("original", task.piece), ("infilled", done.pieces[0])):
            name = f"example-{stem}-{kind}.png"
            shown = excerpt(piece, first, last)
            plot_piece(shown, cells, out / name, f"{title} ({kind}; shown from bar {first + 1})")
            files[kind] = name
        holes = task.hole_bars
        records.append(
            {
                "name": stem,
                "label": label,
                "work": task.work,
                "track": task.track + 1,
                "bars": [b + 1 for b in task.bars],
                "shown_bars": [first + 1, min(last, len(task.piece.bars()) - 1) + 1],
                "program": task.piece.tracks[task.track].program,
                "seed": seed,
                "asked": list(result.asked.as_tuple()),
                "notes_original": [len(result.original.bars[b]) for b in holes],
                "notes_generated": [len(result.generated.bars[b]) for b in holes],
                "pitch_class_correlation": correlation(
                    pitch_classes(result.generated, holes), pitch_classes(result.original, holes)
                ),
                "files": files,
            }
        )
    return records
