"""Infill plausibility: do refilled held-out bars look like the bars they replace?

    python -m training.evaluate infill --model BUNDLE --out DIR [--n 200] [--seed 0]

Each held-out task (training/heldout.py: 1 or 2 bars of one track, as a DAW selection) is
refilled through `generation.generate()` in two conditions:

- `measured`: nothing set, so the server measures every control from the original bars -- the
  fair reconstruction task (the model is told the density, polyphony and note lengths);
- `blank`: the selected bars are emptied first, as when a user selects empty bars; the server
  then measures the controls from the track's other bars in the window, so nothing about the
  target bars is given away. (The server cannot ask for "any": an unset control means
  "measured", so this is the closest a server request gets to uninformed infilling.)

As in the server, generation resamples a bar identical to the original (up to `retries` times),
so exact reconstruction is avoided by design; the measures below are about resemblance.
Compared with the original bars (both quantized to the grid as the model sees them):
pitch-class histogram correlation (Pearson over the 12 note-onset counts of the refilled region
vs the original region, per task, averaged over the tasks where both have notes and neither
histogram is flat), fraction of empty bars, notes per bar. Two references give the correlation
a scale: the original region against the original region of another held-out task from another
work (`random_other_window`, what unrelated music scores) and against the track's own other bars
in the window (`context_bars`, what copying the neighbourhood would score).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from midigen.server.engine.sampling import SamplingOptions
from midigen.server.engine.session import Engine
from midigen.server.language import controls as ctl
from midigen.server.language.grid import WindowTrack
from training.heldout import Infill, Task, infill, run_record, without_bars

CONDITIONS = ("measured", "blank")


def pitch_classes(track: WindowTrack, bars: list[int]) -> np.ndarray:
    """Onsets per pitch class (12 counts) over the given window bars."""
    counts = np.zeros(12)
    for b in bars:
        for n in track.bars[b]:
            counts[n.pitch % 12] += 1
    return counts


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation; None when either histogram is flat (e.g. empty)."""
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _record(result: Infill) -> dict:
    holes = result.task.hole_bars
    context = [b for b in range(len(result.bar_ticks)) if b not in holes]
    original = pitch_classes(result.original, holes)
    generated = pitch_classes(result.generated, holes)
    vocab = result.vocab
    return {
        "pitch_classes": {
            "original": original.astype(int).tolist(),
            "generated": generated.astype(int).tolist(),
        },
        "correlation": correlation(generated, original),
        "context_correlation": correlation(pitch_classes(result.original, context), original),
        "notes_original": [len(result.original.bars[b]) for b in holes],
        "notes_generated": [len(result.generated.bars[b]) for b in holes],
        "density_original": ctl.measure(vocab, result.original, result.bar_ticks, holes).density,
        "density_generated": result.measured().density,
        "asked": list(result.asked.as_tuple()),
    }


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _correlations(values: list) -> dict:
    defined = [v for v in values if v is not None]
    return {
        "mean": _mean(defined),
        "median": float(np.median(defined)) if defined else None,
        "defined": len(defined),
        "of": len(values),
    }


def add_random_pairs(records: list[dict], seed: int) -> None:
    """Give every `measured` record the correlation of its original region with the original
    region of another task from a different work, drawn with a seeded generator (the
    `random_other_window` reference; None when there is no other work)."""
    rng = np.random.default_rng([seed, 7])
    first = [r for r in records if r["condition"] == CONDITIONS[0]]
    for i, r in enumerate(first):
        others = [j for j, o in enumerate(first) if j != i and o["work"] != r["work"]]
        other = first[int(rng.choice(others))] if others else None
        r["random_other_work"] = None if other is None else other["work"]
        r["random_other_correlation"] = (
            None
            if other is None
            else correlation(
                np.array(r["pitch_classes"]["original"], dtype=float),
                np.array(other["pitch_classes"]["original"], dtype=float),
            )
        )


def summarize(records: list[dict]) -> dict:
    """Per condition: correlation, empty bars, notes per bar; and the two references."""
    conditions = {}
    for kind in CONDITIONS:
        rows = [r for r in records if r["condition"] == kind]
        gen = [n for r in rows for n in r["notes_generated"]]
        orig = [n for r in rows for n in r["notes_original"]]
        conditions[kind] = {
            "tasks": len(rows),
            "bars": len(gen),
            "pitch_class_correlation": _correlations([r["correlation"] for r in rows]),
            "empty_bars": {
                "generated": _mean([n == 0 for n in gen]),
                "original": _mean([n == 0 for n in orig]),
            },
            "notes_per_bar": {
                "generated": _mean(gen),
                "original": _mean(orig),
                "ratio": _mean(gen) / _mean(orig) if gen and _mean(orig) else None,
            },
            "density_within_1_of_original": _mean(
                [abs(r["density_generated"] - r["density_original"]) <= 1 for r in rows]
            ),
        }
    first = [r for r in records if r["condition"] == CONDITIONS[0]]
    return {
        "conditions": conditions,
        "baselines": {
            "random_other_window": _correlations([r["random_other_correlation"] for r in first]),
            "context_bars": _correlations([r["context_correlation"] for r in first]),
        },
    }


def evaluate_infill(
    engine: Engine, tasks: list[Task], seed: int = 0, options: SamplingOptions | None = None
) -> dict:
    """Refill every task in both conditions; returns the JSON-ready report. `options` (the
    server's defaults when None) get a derived seed per task."""
    options = options or SamplingOptions()
    records: list[dict] = []
    began = time.perf_counter()
    for i, task in enumerate(tasks):
        # the same seed in both conditions: their difference is the condition, not the draw
        sampling = dataclasses.replace(options, seed=seed * 1_000_003 + i)
        for kind in CONDITIONS:
            piece = without_bars(task.piece, task.track, task.bars) if kind == "blank" else None
            results, _done = infill(engine, task, None, sampling, piece=piece)
            records.append(
                {
                    "condition": kind,
                    "task": i,
                    "work": task.work,
                    "track": task.track,
                    "bars": list(task.bars),
                    **_record(results[0]),
                }
            )
    seconds = time.perf_counter() - began
    add_random_pairs(records, seed)
    report = summarize(records)
    report.update(run_record(tasks, options, seed, len(tasks) * len(CONDITIONS), seconds))
    report.update({"bars_requested": sum(len(t.bars) for t in tasks), "records": records})
    return report


def plot_correlations(report: dict, path: Path | str) -> None:
    """Distributions of the per-task pitch-class correlation: both conditions and references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = report["records"]
    first = [r for r in records if r["condition"] == CONDITIONS[0]]
    series = {
        kind: [r["correlation"] for r in records if r["condition"] == kind] for kind in CONDITIONS
    }
    series["context bars"] = [r["context_correlation"] for r in first]
    series["random other window"] = [r["random_other_correlation"] for r in first]
    labels, data = [], []
    for name, values in series.items():
        values = [v for v in values if v is not None]
        if values:
            labels.append(f"{name}\n(n={len(values)}, mean {np.mean(values):.2f})")
            data.append(values)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    if data:
        old = tuple(int(x) for x in matplotlib.__version__.split(".")[:2]) < (3, 10)
        ax.boxplot(
            data, showmeans=True, **({"vert": False} if old else {"orientation": "horizontal"})
        )
        ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.axvline(0, color="#bbbbbb", linewidth=0.8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("pitch-class histogram correlation with the original bars")
    ax.set_title(f"infill plausibility, {report['tasks']} held-out selections", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
