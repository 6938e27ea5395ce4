"""The model beside simple baselines on held-out 4-bar phrase infills, measure by measure.

    python -m training.compare --model models/midigen-base --split pop909-test \\
        --tasks 10 --seeds 3 --json out.json [--rolls DIR]

For each seed, `--tasks` tasks are drawn (training/phrase_tasks.py: the median-density pitched
track, 4 bars with the part playing on both sides) and refilled by every generator:

- `model`: the bundle, through `generation.generate()` as the server runs a DAW selection (the
  whole piece sent, controls left unset so the server measures them from the selected bars, the
  server's sampling defaults unless `--temperature` / `--top-p` / `--rhythm` /
  `--harmony` say otherwise);
- the baselines of training/baselines.py;
- `original`: the bars themselves, a reference row -- what the real music scores on the measures
  that do not compare with it (in-key share, velocity spread, density per bar).

The measures are training/musicality.py's. A task the model refuses (GenerationError: too dense
for its context) is dropped for every generator and counted, so the columns stay side by side.
Prints a Markdown table (means over tasks with their standard errors) and the timing; `--json`
keeps everything, per task, and the model minus each baseline task by task (`paired`: the same
tasks make the difference far less noisy than two means); `--rolls` draws the first task of
each seed as piano rolls (the hole and 4 bars each side: original, model, repeat).
`training.model_card --results DIR` puts the table of DIR/baselines-<split>.json into the card.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from midigen.exporter.bundle import BundleError
from midigen.server.engine.generation import (
    Done,
    GenerationError,
    Request,
    generate,
    plan_steps,
)
from midigen.server.engine.sampling import SamplingOptions
from midigen.server.engine.session import Engine
from midigen.server.language import vocab as vocab_mod
from midigen.server.language.piece import Note, Piece
from midigen.server.language.vocab import Vocabulary
from midigen.server.language.windows import Selection
from midigen.server.tools.pianoroll import check_plot_path
from training import corpus, musicality, phrase_tasks
from training.baselines import BASELINES
from training.heldout import excerpt, run_record
from training.phrase_tasks import TICKS, PhraseTask, notes_in, tick

MODEL, ORIGINAL = "model", "original"
MODES = ("infill", "continue")
PAIRED = ("pc_correlation", "onset_overlap")  # measures compared task by task with baselines
# (summary key, label, format) rows of the table, in the order the card shows them
ROWS = (
    ("pc_correlation", "pitch-class correlation with the original bars", "{:.2f}"),
    ("in_key", "in-key share (original bars: {in_key_original})", "{:.0%}"),
    ("onset_overlap", "onsets on grid positions the original uses", "{:.2f}"),
    ("outside_range", "notes outside the track's own range", "{:.1%}"),
    ("notes_ratio", "generated / original notes per bar", "{:.2f}"),
    ("empty_bars", "empty bars", "{:.0%}"),
    ("velocities_distinct", "distinct velocities per task", "{:.1f}"),
    ("velocity_std", "velocity standard deviation", "{:.1f}"),
    ("density_within_1", "bars with density within +-1 of the request", "{:.0%}"),
    ("poly_violations", "tasks over the polyphony limit", "{}"),
    ("outside_register", "notes outside the register limit", "{}"),
)


def model_notes(
    engine: Engine, task: PhraseTask, options: SamplingOptions, mode: str = "infill"
) -> tuple[list[Note], Done]:
    """The model's notes in the task's hole, and generation's Done (timing, seed)."""
    done = None
    for event in generate(engine, *_inputs(task, options, mode)):
        done = event
    assert isinstance(done, Done)
    return notes_in(done.pieces[0].tracks[task.track].notes, *task.span), done


def context_shown(engine: Engine, task: PhraseTask, mode: str = "infill") -> dict[str, int]:
    """How many bars of the piece the model's windows show before the hole's first bar and after
    its last, and how many the task has there (phrase_tasks.CONTEXT, or up to the piece's
    edge): issue 15 asks for a window that sees 4 bars on each side of a 4-bar hole."""
    steps = plan_steps(engine, *_inputs(task, SamplingOptions(), mode))
    first = next(s for s in steps if task.first in s.bars)
    last = next(s for s in reversed(steps) if task.last in s.bars)
    n_bars = len(task.piece.bars())
    return {
        "context_before": sum(b < task.first for b in first.bars),
        "context_after": sum(b > task.last for b in set(last.bars)),
        "context_before_possible": min(phrase_tasks.CONTEXT, task.first),
        "context_after_possible": min(phrase_tasks.CONTEXT, n_bars - 1 - task.last),
    }


def context_summary(shown: list[dict[str, int]]) -> dict:
    """The share of tasks whose windows show every context bar the task has (up to 4 each
    side), and the mean bars shown each side."""
    full = [s["context_before"] >= s["context_before_possible"]
            and s["context_after"] >= s["context_after_possible"] for s in shown]  # fmt: skip
    return {
        "tasks": len(shown),
        "full": float(np.mean(full)) if shown else None,
        "before": float(np.mean([s["context_before"] for s in shown])) if shown else None,
        "after": float(np.mean([s["context_after"] for s in shown])) if shown else None,
    }


def context_line(summary: dict) -> str:
    return (f"context: the model's windows show every context bar a task has (up to "
            f"{phrase_tasks.CONTEXT} each side) in {summary['full']:.0%} of {summary['tasks']} "
            f"tasks; bars shown before / after the hole: {summary['before']:.2f} / "
            f"{summary['after']:.2f}")  # fmt: skip


def _inputs(task: PhraseTask, options: SamplingOptions, mode: str) -> tuple[Piece, Request]:
    """The piece and request the server gets: an infill of the hole in the whole piece, or a
    continuation of the task's track by the hole's bars from a piece that ends where the hole
    starts (`task` is then a phrase_tasks.continuation)."""
    selection = [Selection(task.track, task.first, task.last)]
    if mode == "infill":
        return task.piece, Request("infill", selection, sampling=options)
    piece = task.refilled([])
    piece.length = task.span[0]
    return piece, Request("continue", selection, new_bars=len(task.bars), sampling=options)


def run(engine: Engine | None, items: list, tasks: int, seeds: int, vocab: Vocabulary,
        options: SamplingOptions, rolls: Path | None = None, mode: str = "infill"
        ) -> dict:  # fmt: skip
    """Every generator on every task of every seed; the JSON-ready report. `mode` "continue"
    turns each task into its continuation (phrase_tasks.continuation): the same tasks, so the
    two modes compare task by task."""
    names = ([MODEL] if engine else []) + list(BASELINES) + [ORIGINAL]
    records: dict[str, list[dict]] = {name: [] for name in names}
    seconds = dict.fromkeys(names, 0.0)
    drawn, refused, pictures, model_ms, model_bars, seen = [], [], [], 0.0, 0, []
    for seed in range(seeds):
        for i, task in enumerate(phrase_tasks.choose(items, tasks, seed, vocab)):
            if mode == "continue":
                task = phrase_tasks.continuation(task)
            where = {"seed": seed, "work": task.work, "track": task.track, "bars": list(task.bars)}
            out: dict[str, list[Note]] = {}
            if engine is not None:
                began = time.perf_counter()
                sampling = dataclasses.replace(options, seed=seed * 1_000_003 + i)
                try:
                    out[MODEL], done = model_notes(engine, task, sampling, mode)
                except GenerationError as e:
                    refused.append({**where, "reason": str(e)})
                    continue
                seconds[MODEL] += time.perf_counter() - began
                model_ms, model_bars = model_ms + done.total_ms, model_bars + len(task.bars)
                seen.append({**where, **context_shown(engine, task, mode)})
            for k, (name, baseline) in enumerate(BASELINES.items()):
                began = time.perf_counter()
                out[name] = baseline(task, np.random.default_rng([seed, i, k]))
                seconds[name] += time.perf_counter() - began
            out[ORIGINAL] = task.original()
            for name in names:
                records[name].append({**where, **musicality.measure(task, out[name], vocab)})
            if rolls is not None and i == 0:
                shown = {n: out[n] for n in (ORIGINAL, MODEL, names[1]) if n in out}
                pictures.append({**where, "files": draw(task, shown, rolls)})
            drawn.append(task)
    total = sum(seconds.values())
    report = run_record(
        drawn, options, list(range(seeds)), len(drawn) * (engine is not None), total
    )
    report.update({
        "mode": mode,
        "tasks_per_seed": tasks,
        "seeds": seeds,
        "refused": refused,
        "generators": {name: musicality.summarize(records[name]) for name in names},
        "paired": {  # the model minus each baseline, task by task
            name: {key: musicality.paired(records[MODEL], records[name], key)
                   for key in PAIRED}
            for name in BASELINES if engine is not None
        },
        "generator_seconds": {name: round(s, 2) for name, s in seconds.items()},
        "model_ms_per_bar": model_ms / model_bars if model_bars else None,
        "context": context_summary(seen) if engine is not None else None,
        "context_records": seen,
        "rolls": pictures,
        "records": records,
    })  # fmt: skip
    return report


def draw(task: PhraseTask, versions: dict[str, list[Note]], out: Path, margin: int = 4
         ) -> dict[str, str]:  # fmt: skip
    """Piano rolls of the hole and `margin` bars each side, one PNG per version; their file
    names by version."""
    from midigen.server.tools.pianoroll import plot_piece

    out.mkdir(parents=True, exist_ok=True)
    first = max(0, task.first - margin)
    last = min(len(task.piece.bars()) - 1, task.last + margin)
    cells = [(task.track, b - first) for b in task.bars]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", task.work)  # "#" or "/" would break a link
    files = {}
    for name, notes in versions.items():
        shown = excerpt(_snapped(task.refilled(notes)), first, last)
        title = f"{task.work} track {task.track + 1}, bars {task.first + 1}-{task.last + 1}: {name}"
        path = out / f"{stem}-{task.first + 1}-{name.replace(' ', '-')}.png"
        plot_piece(shown, cells, path, f"{title} (from bar {first + 1})")
        files[name] = path.name
    return files


def _snapped(piece: Piece) -> Piece:
    """Onsets on the language's grid, so a note played a hair before a bar line is drawn in the
    bar it belongs to (phrase_tasks.tick), not shaded with the bar before."""
    for track in piece.tracks:
        track.notes = [dataclasses.replace(n, start=tick(n.start) / TICKS) for n in track.notes]
    return piece


def table(report: dict) -> list[str]:
    """The Markdown table: one row per measure, one column per generator; means over tasks
    carry their standard error (+-)."""
    gens = report["generators"]
    names = list(gens)
    lines = ["| measure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for key, label, fmt in ROWS:
        ref = gens[names[-1]].get("in_key_original") if key == "in_key" else None
        label = label.format(in_key_original="n/a" if ref is None else f"{ref:.0%}")
        cells = [_cell(gens[n], key, fmt) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _cell(summary: dict, key: str, fmt: str) -> str:
    """A value, with its standard error where the summary has one (e.g. 0.41 +- 0.03)."""
    if summary[key] is None:
        return "n/a"
    se = summary.get(f"{key}_se")
    return fmt.format(summary[key]) + ("" if se is None else " +- " + fmt.format(se))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, help="exported bundle folder (omit: baselines only)")
    parser.add_argument("--split", required=True, choices=phrase_tasks.SPLITS)
    parser.add_argument("--mode", choices=MODES, default="infill",
                        help="infill the hole (default), or continue the track by the hole's "
                        "bars from a piece cut where it starts")  # fmt: skip
    parser.add_argument("--tasks", type=int, default=10, help="tasks per seed (10)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (3)")
    parser.add_argument("--json", type=Path, help="write the whole report here")
    parser.add_argument("--rolls", type=Path, help="draw each seed's first task here (PNG)")
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE, help="corpus cache")
    parser.add_argument("--threads", type=int, default=1, help="engine CPU threads (1)")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--temperature", type=float, help="(the server's default)")
    parser.add_argument("--top-p", type=float, help="(the server's default)")
    parser.add_argument("--rhythm", type=float, help="(the server's default)")
    parser.add_argument("--harmony", type=float, help="(the server's default)")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.seeds < 1:
        parser.error("--tasks and --seeds must be at least 1")
    options = SamplingOptions()
    for name in ("temperature", "top_p", "rhythm", "harmony"):
        if getattr(args, name) is not None:
            options = dataclasses.replace(options, **{name: getattr(args, name)})
    engine = None
    try:
        options.validate()
        if args.rolls is not None:
            check_plot_path(args.rolls / "roll.png")  # matplotlib there, before any work
        if args.model is not None:  # before the data: a wrong path fails in a second
            engine = Engine(args.model, device=args.device, threads=args.threads)
        items = phrase_tasks.load_split(args.split, args.cache)
    except (ValueError, FileNotFoundError, BundleError) as e:
        sys.exit(f"compare: {e}")
    vocab = engine.vocab if engine else vocab_mod.load()
    report = run(engine, items, args.tasks, args.seeds, vocab, options, args.rolls, args.mode)
    report.update({"model": None if args.model is None else str(args.model),
                   "split": args.split, "held_out_pieces": len(items)})  # fmt: skip
    print(f"## {args.split}, {args.mode}: {len(report['records'][ORIGINAL])} tasks "
          f"({args.seeds} seeds), {len(report['refused'])} refused by the model\n")  # fmt: skip
    print("\n".join(table(report)))
    timing = ", ".join(f"{n} {s:.1f} s" for n, s in report["generator_seconds"].items())
    ms = report["model_ms_per_bar"]
    print(f"\ntiming: {timing}" + ("" if ms is None else f"; model {ms:.0f} ms per bar"))
    if report["context"]:
        print(context_line(report["context"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
