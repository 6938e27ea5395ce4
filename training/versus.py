"""Two models' `training.compare` reports on the same split, task by task.

    python -m training.versus CANDIDATE.json SHIPPED.json

Two means over the same held-out tasks differ by less noise than their standard errors suggest:
the tasks, not the models, carry most of the spread. So a candidate (a new checkpoint, another
sampling setting) is judged by the mean and standard error of its per-task differences from the
shipped model, over the tasks both reports hold (the same split, seeds and task count draw the
same tasks). This is how training/README.md and docs/language.md report every "tried on
validation" comparison. Exit 1 with a message when the reports do not share tasks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training import compare, musicality

MEASURES = ("pc_correlation", "onset_overlap", "in_key", "outside_range")
SUMMARY = ("pc_correlation", "onset_overlap", "density_within_1", "notes_ratio")


def _key(record: dict) -> tuple:
    return record["seed"], record["work"], record["track"], tuple(record["bars"])


def versus(candidate: dict, shipped: dict) -> dict:
    """Per measure, the candidate minus the shipped model over their common tasks."""
    a = {_key(r): r for r in candidate["records"][compare.MODEL]}
    b = {_key(r): r for r in shipped["records"][compare.MODEL]}
    common = [k for k in a if k in b]
    if not common:
        raise ValueError("the two reports share no task (same split, seeds and --tasks?)")
    pairs = [a[k] for k in common], [b[k] for k in common]
    return {
        "tasks": len(common),
        "paired": {m: musicality.paired(*pairs, m) for m in MEASURES},
        "means": {name: {m: report["generators"][compare.MODEL].get(m) for m in SUMMARY}
                  for name, report in (("candidate", candidate), ("shipped", shipped))},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.versus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("candidate", type=Path, help="compare --json report of the candidate")
    parser.add_argument("shipped", type=Path, help="... and of the model it would replace")
    args = parser.parse_args(argv)
    try:
        reports = [json.loads(p.read_text()) for p in (args.candidate, args.shipped)]
        if reports[0].get("split") != reports[1].get("split"):
            raise ValueError(f"splits differ: {reports[0].get('split')} vs "
                             f"{reports[1].get('split')}")  # fmt: skip
        result = versus(*reports)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"versus: {e}")
    print(f"{args.candidate} minus {args.shipped}, {result['tasks']} tasks in common:")
    for measure, p in result["paired"].items():
        if p["mean"] is not None:
            se = "n/a" if p["se"] is None else f"{p['se']:.3f}"  # one task has none
            print(f"  {measure}: {p['mean']:+.3f} +- {se} ({p['tasks']} tasks)")
    for name, means in result["means"].items():
        shown = ", ".join(f"{m} {v:.3f}" for m, v in means.items() if v is not None)
        print(f"  {name} means: {shown}")
    for name, report in zip(("candidate", "shipped"), reports):
        if report.get("context"):  # reports from session 10 on
            print(f"  {name} {compare.context_line(report['context'])}")


if __name__ == "__main__":
    main()
