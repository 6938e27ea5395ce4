"""The model card's comparison with baselines (issue 15), from training/compare.py's reports.

`python -m training.model_card --results DIR` reads DIR/baselines-pop909-test.json and
DIR/baselines-classical-test.json when they are there, written by

    python -m training.compare --model BUNDLE --split SPLIT --json DIR/baselines-SPLIT.json \\
        --rolls DIR

and adds the issue's targets to the card's summary (`goals`; with `--reference DIR`, the
reports of the model it replaces, `reference_goals`) and a section with the tables, the
measures' definitions (training/musicality.py's own text) and one drawn task per split
(`section`). A missing report leaves its rows and table out; nothing is estimated.
"""

from __future__ import annotations

import json
from pathlib import Path

from training import musicality
from training.card_text import num, pct
from training.compare import MODEL, ORIGINAL, table

SPLITS = {
    "pop909-test": "POP909, held-out songs",
    "classical-test": "classical corpus, held-out works",
}
REPEAT = "repeat the bar before"
ONSET_SLACK = 0.05  # grid-onset overlap at most this far below "repeat the bar before"
DENSITY_GOAL = 0.90  # share of refilled bars within +-1 of the requested density


def load(results: Path, prefix: str = "baselines") -> dict[str, dict]:
    """The reports present in `results`, by split, in SPLITS order: `baselines-SPLIT.json`
    (infills), or with prefix "continue" the continuations (`compare --mode continue`)."""
    out = {}
    for split in SPLITS:
        path = Path(results) / f"{prefix}-{split}.json"
        if path.is_file():
            out[split] = json.loads(path.read_text())
    return out


def goals(reports: dict[str, dict]) -> list[tuple[str, str, str, bool]]:
    """(measure, goal, result, met) rows for the card's summary: issue 15's targets."""
    rows = []
    pop = reports.get("pop909-test")
    if pop and MODEL in pop["generators"]:
        model, repeat = pop["generators"][MODEL], pop["generators"][REPEAT]
        density = model["density_within_1"]
        for key, label, goal, slack in (
            ("pc_correlation", "pitch-class correlation", f'at least "{REPEAT}"', 0.0),
            ("onset_overlap", "grid-onset overlap", f'within {ONSET_SLACK} of "{REPEAT}"',
             ONSET_SLACK),
        ):  # fmt: skip
            a, b = model[key], repeat[key]
            diff = _difference(pop, key)
            met = (diff >= -slack) if diff is not None else (None not in (a, b) and a >= b - slack)
            rows.append((f"POP909 4-bar infills: {label}", goal,
                         f"{num(a)} vs {num(b)}{_paired(pop, key)}", met))  # fmt: skip
        rows.append(
            ("POP909 4-bar infills: bars with density within +-1 of the request",
             f"at least {pct(DENSITY_GOAL)}", pct(density),
             density is not None and density >= DENSITY_GOAL)
        )  # fmt: skip
    for split, report in reports.items():
        model = report["generators"].get(MODEL)
        if model is None:
            continue
        outside = model["outside_register"]
        rows.append(
            (f"{SPLITS[split]}: notes outside the register limit", "none",
             "not measured" if outside is None else f"{outside} of {model['notes']} notes",
             outside == 0)
        )  # fmt: skip
        shown = report.get("context")  # reports from session 10 on
        if shown and shown["tasks"]:
            rows.append(
                (f"{SPLITS[split]}: the window shows the 4 bars each side of a 4-bar hole "
                 "(or all the piece has there)", "every task",
                 f"{pct(shown['full'])} of {shown['tasks']} tasks (bars shown before / after: "
                 f"{num(shown['before'])} / {num(shown['after'])})", shown["full"] == 1.0)
            )  # fmt: skip
    return rows


def _pair(report: dict, key: str) -> dict | None:
    """The model minus the baseline, task by task over the tasks both scored (None: not
    measured): what the goals are judged on. Means over each one's own scored tasks would
    compare different tasks (the baseline writes nothing where the bar before the hole is empty,
    and scores no onsets there), so they are shown but not judged."""
    p = report.get("paired", {}).get(REPEAT, {}).get(key)
    return p if p and p["mean"] is not None else None


def _difference(report: dict, key: str) -> float | None:
    p = _pair(report, key)
    return None if p is None else p["mean"]


def _paired(report: dict, key: str) -> str:
    """ " (task by task on the 84 tasks both scored: -0.046 +- 0.020)", or "" without it."""
    p = _pair(report, key)
    if p is None:
        return ""
    tasks = f" on the {p['tasks']} tasks both scored" if "tasks" in p else ""
    return f" (task by task{tasks}: {p['mean']:+.3f} +- {p['se']:.3f})"


def same_tasks(a: dict, b: dict) -> bool:
    """True when two reports scored the same tasks (same seeds, pieces, tracks and bars)."""
    key = [(r["seed"], r["work"], r["track"], r["bars"]) for r in a["records"][ORIGINAL]]
    return key == [(r["seed"], r["work"], r["track"], r["bars"]) for r in b["records"][ORIGINAL]]


def reference_goals(reports: dict[str, dict], reference: dict[str, dict],
                    splits: tuple[str, ...] = ("classical-test",), least: float = 0.9
                    ) -> list[tuple[str, str, str, bool]]:  # fmt: skip
    """Rows for "no worse than the reference model" (issue 15: the classical split no worse than
    the model it replaces): pitch-class correlation and grid-onset overlap each at least the
    reference's mean minus its standard error, on the same tasks (those both scored, when at
    least `least` of them are)."""
    rows = []
    for split in splits:
        mine, theirs = reports.get(split), reference.get(split)
        if not mine or not theirs or MODEL not in mine["generators"]:
            continue
        name = Path(theirs["model"]).name
        ours, ref, note = _common(mine, theirs, least)
        for key, label in (("pc_correlation", "pitch-class correlation"),
                           ("onset_overlap", "grid-onset overlap")):  # fmt: skip
            measure = f"{SPLITS[split]}: {label} vs `{name}`"
            goal = "no worse (at most one standard error below)"
            if ours is None:
                rows.append((measure, goal, "not comparable: other tasks (rerun it here)", False))
                continue
            a, b = ours[key], ref[key]
            se = ref.get(f"{key}_se") or 0.0
            met = None not in (a, b) and a >= b - se
            rows.append((measure, goal, f"{num(a)} vs {num(b)} +- {num(se)}{note}", met))
    return rows


def _task(record: dict) -> tuple:
    return record["seed"], record["work"], record["track"], tuple(record["bars"])


def _common(mine: dict, theirs: dict, least: float) -> tuple[dict | None, dict, str]:
    """The model's summaries of both reports over the tasks both scored. A newer language can
    plan a few phrases differently (a pickup bar it can now write), so the task lists may
    differ slightly; below `least` of them in common the comparison is refused."""
    if same_tasks(mine, theirs):
        return mine["generators"][MODEL], theirs["generators"][MODEL], ""
    keys = {_task(r) for r in mine["records"][MODEL]} & {_task(r) for r in theirs["records"][MODEL]}
    total = max(len(mine["records"][MODEL]), len(theirs["records"][MODEL]))
    if len(keys) < least * total:
        return None, {}, ""
    pick = lambda report: [r for r in report["records"][MODEL] if _task(r) in keys]  # noqa: E731
    note = f" (the {len(keys)} of {total} tasks both scored)"
    return musicality.summarize(pick(mine)), musicality.summarize(pick(theirs)), note


def _paired_lines(report: dict) -> list[str]:
    """The model minus each baseline, task by task, as a sentence (none without a model)."""
    pairs = report.get("paired") or {}
    parts = [
        f'{label} {p[key]["mean"]:+.2f} +- {num(p[key]["se"])} vs "{name}"'
        for name, p in pairs.items()
        for key, label in (("pc_correlation", "pitch classes"), ("onset_overlap", "onsets"))
        if p[key]["mean"] is not None
    ]
    return (
        ["The model minus each baseline, task by task: " + "; ".join(parts) + ".", ""]
        if parts
        else []
    )


def _definitions() -> list[str]:
    """The measures' list from training/musicality.py's docstring, as Markdown."""
    doc = musicality.__doc__ or ""
    return doc[doc.index("- **") :].strip().splitlines()


def section(reports: dict[str, dict], continued: dict[str, dict] | None = None
            ) -> tuple[list[str], list[str]]:  # fmt: skip
    """(Markdown lines of the section, PNG file names it shows); `continued`: the
    continuation reports (load(..., "continue")), shown after the infills."""
    if not reports:
        return [], []
    first = next(iter(reports.values()))
    lines = [
        "## Against simple baselines",
        "",
        "Held-out 4-bar infills of one track, as a DAW user asks for a new phrase of a part: the "
        "piece's median-density pitched track, 4 bars where it plays in the hole and in the 4 "
        "bars on each side, the whole piece sent and the controls left to the server "
        f"(training/phrase_tasks.py). {first['tasks_per_seed']} tasks per seed, seeds "
        f"{', '.join(map(str, first['seed']))}, temperature {first['temperature']}, top_p "
        f"{first['top_p']}, rhythm and harmony priors {first.get('rhythm', 0)} and "
        f"{first.get('harmony', 0)} nats (docs/language.md; 0 = off)."
        " The model goes through `generation.generate()`; beside it, on the "
        f'same tasks: "{REPEAT}" (that bar copied into every bar of the hole), random notes in '
        "the track's own range and density (16th-note grid), the track's own other bars copied "
        "in, and the original bars as a reference (training/baselines.py).",
        "",
    ]
    pictures = []
    for split, report in reports.items():
        tasks = report["generators"][ORIGINAL]["tasks"]
        ms = report.get("model_ms_per_bar")
        lines += [
            f"### {SPLITS[split]} ({tasks} tasks from {report['held_out_pieces']} pieces)",
            "",
            *table(report),
            "",
            *_paired_lines(report),
            f"The model refused {len(report['refused'])} task(s) (too dense for its context); "
            + ("" if ms is None else f"it took {num(ms, 0)} ms per bar here; ")
            + f"{report['seconds']} s for every generator in all.",
            "",
        ]
        if report.get("rolls"):
            roll = report["rolls"][0]
            files = roll["files"]
            pictures += list(files.values())
            bars = roll["bars"]
            lines += [
                f"`{roll['work']}`, track {roll['track'] + 1}, bars {bars[0] + 1}-{bars[-1] + 1} "
                f"(seed {roll['seed']}; the hole shaded, 4 bars of context each side):",
                "",
                "| " + " | ".join(files) + " |",
                "|---" * len(files) + "|",
                "| " + " | ".join(f"![{name}]({f})" for name, f in files.items()) + " |",
                "",
            ]
    commands = [
        f"python -m training.compare --model {r['model']} --split {split} --tasks "
        f"{r['tasks_per_seed']} --seeds {r['seeds']} --json RESULTS/baselines-{split}.json "
        "--rolls RESULTS"
        for split, r in reports.items()
    ]
    lines += continuation_section(continued or {})
    lines += [
        "The measures:",
        "",
        *_definitions(),
        "",
        "Made with:",
        "",
        "```",
        *commands,
        "```",
        "",
    ]
    return lines, pictures


def continuation_section(reports: dict[str, dict]) -> list[str]:
    """Markdown lines for the continuations (`compare --mode continue`): the same tasks as the
    infills, each cut where its hole starts, so the model and the baselines see only the bars
    before. The issue sets no target for them; the tables say how continuing a part compares
    with copying, where no other part plays in the new bars to show the harmony."""
    if not reports:
        return []
    lines = [
        "### Continuing a part",
        "",
        "The same tasks, each as a piece that ends where its hole starts: the track is "
        "continued by the hole's 4 bars (the server's `continue`, as the REAPER scripts send "
        "it), the other parts silent there, and the controls are measured from the bars before "
        "(an infill's come from the selected bars themselves). The baselines see the same "
        '(phrase_tasks.continuation): "own other bars" copies bars from before the hole. The '
        "polyphony row counts tasks over the original hole's own limit, which the server does "
        "not know here.",
        "",
    ]
    for split, report in reports.items():
        tasks = report["generators"][ORIGINAL]["tasks"]
        lines += [
            f"#### {SPLITS[split]}, continued ({tasks} tasks)",
            "",
            *table(report),
            "",
            *_paired_lines(report),
        ]
    r = next(iter(reports.values()))
    lines += [
        "Made with `python -m training.compare --mode continue --model "
        f"{r['model']} --split SPLIT --tasks {r['tasks_per_seed']} --seeds {r['seeds']} "
        "--json RESULTS/continue-SPLIT.json`.",
        "",
    ]
    return lines
