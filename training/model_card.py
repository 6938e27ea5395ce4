"""Write a bundle's MODEL_CARD.md from the evaluation results, so every number in it is measured.

    python -m training.model_card --model models/NAME --results DIR [--run RUN_DIR ...]

DIR holds what `python -m training.evaluate` wrote there: nll.json (`nll --out DIR`), controls.json,
infill.json (with density.png, pitch_classes.png) and, optionally, examples.json with its piano
rolls and the comparisons with baselines, baselines-SPLIT.json with their piano rolls (`python -m
training.compare ... --json DIR/baselines-SPLIT.json --rolls DIR`, training/card_baselines.py) and
continue-SPLIT.json (`compare --mode continue`); the PNGs the card shows are copied next to it.
`--run` (repeatable, in training order, e.g. a warm start's first run then the second) adds the
training runs' steps, minutes, tokens and validation NLL from their log.jsonl (and last/trainer.pt
when present, or a run.json stating `init` and `tokens` for a run whose trainer state is gone).
bench.json and int8.json, when present (training/evaluate_model.sh writes them), add speed,
size and int8 goals and a "Speed and int8" section (training/card_speed.py).

Each goal of issue #6 is stated with its result and, where the result misses it, a "falls short"
line: NLL at least 25 % below the 4-gram, density within +-1 of the request (the issue gives no
share; DENSITY_GOAL is our reading, `--density-goal` changes it), hard limits never exceeded.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from training import card_baselines, card_speed
from training.card_text import num, pct, render

NLL_GOAL = 0.25  # answer NLL at least this much below the 4-gram's
DENSITY_GOAL = 0.90  # share of requests whose generated density is within +-1


def parameters(bundle: Path, meta: dict) -> tuple[int, str]:
    """(count, how it was counted): GPT-2's formula when the ONNX weights agree with it (tied
    embeddings appear twice in the graph), else the ONNX initializers as they are."""
    d, n_layers, vocab, ctx = (
        meta["hidden_size"],
        meta["layers"],
        meta["vocab_size"],
        meta["context_length"],
    )
    gpt2 = vocab * d + ctx * d + n_layers * (12 * d * d + 13 * d) + 2 * d
    try:
        import numpy as np
        import onnx

        graph = onnx.load(bundle / meta["model_file"], load_external_data=False).graph
        weights = sum(int(np.prod(t.dims)) for t in graph.initializer)
    except Exception:  # noqa: BLE001 - onnx missing or unreadable: say so
        weights = None
    if meta.get("architecture") == "gpt2" and weights in (gpt2, gpt2 + vocab * d):
        return gpt2, "GPT-2 with tied input and output embeddings"
    if weights is not None:
        return weights, "weights in the ONNX graph"
    return gpt2, "GPT-2 formula from the bundle's sizes (ONNX graph not read)"


def run_summary(run: Path) -> dict:
    """Steps, minutes (summed over resumed segments), tokens and validation of one run."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line]
    steps = [r for r in rows if "loss" in r]
    minutes, last = 0.0, 0.0
    for r in steps:  # `minutes` restarts at 0 when a run is resumed
        if r["minutes"] < last:
            minutes += last
        last = r["minutes"]
    valid = [r for r in rows if "valid_fill" in r]
    out = {
        "name": run.name,
        "steps": max((r["step"] for r in rows), default=0),
        "minutes": minutes + last,
        "tokens_per_s": steps[-1]["tokens_per_s"] if steps else None,
        "valid_fill": valid[-1]["valid_fill"] if valid else None,
        "best_valid_fill": min((r["valid_fill"] for r in valid), default=None),
        "tokens": None,
        "init": None,
    }
    trainer = run / "last" / "trainer.pt"
    if (run / "run.json").is_file():  # a run whose trainer state did not survive says it here
        stated = json.loads((run / "run.json").read_text())
        out["init"], out["tokens"] = stated.get("init"), stated.get("tokens")
    elif trainer.is_file():
        import torch

        state = torch.load(trainer, map_location="cpu", weights_only=False)
        out["tokens"] = int(state["state"]["tokens"])
        init = state.get("args", {}).get("init")
        if init:  # a shipped bundle (models/NAME) or an earlier run's folder (RUN/best)
            init = Path(init)
            out["init"] = init.name if (init / "midigen.json").is_file() else init.parent.name
    return out


def _load(results: Path, name: str, required: bool = True) -> dict | None:
    path = results / f"{name}.json"
    if not path.is_file():
        if required:
            raise SystemExit(
                f"model_card: {path} is missing; run python -m training.evaluate "
                f"{name} ... --out {results}"
            )
        return None
    return json.loads(path.read_text())


def goals(
    nll: dict, controls: dict, density_goal: float, nll_pop: dict | None = None
) -> list[tuple[str, str, str, bool]]:
    """(measure, goal, result, met) rows of the summary table."""
    hard = controls["hard_limits"]
    poly = controls["poly_max"]
    rows = []
    for scored in (nll, nll_pop):
        if scored is None:
            continue
        reduction = scored["reduction_answer"]
        rows.append(
            (
                f"held-out answer NLL per token vs a 4-gram ({scored['split']})",
                f"at least {pct(NLL_GOAL)} lower",
                f"{pct(abs(reduction))} {'lower' if reduction >= 0 else 'higher'} "
                f"({num(scored['model']['answer'], 3)} vs {num(scored['ngram4']['answer'], 3)})",
                reduction >= NLL_GOAL,
            )
        )
    for kind, words in (("measured", "only density set"), ("open", "density, limits opened")):
        d = controls["density"][kind]
        share, result = d["within_1"], f"{pct(d['within_1'])} of {d['requests']}"
        if d["reachable"] < d["requests"]:  # judged where the hard limits let the level fit
            share = d["within_1_reachable"]
            result = (f"{pct(share)} of the {d['reachable']} the hard limits leave reachable "
                      f"({pct(d['within_1'])} of all {d['requests']})")  # fmt: skip
        rows.append(
            (
                f"density within +-1 of the request ({words})",
                f"at least {pct(density_goal)} of requests",
                result,
                share is not None and share >= density_goal,
            )
        )
    rows.append(
        (
            "poly_max hard limit exceeded",
            "never",
            f"{poly['violations']} of {poly['requests']} requests",
            poly["violations"] == 0,
        )
    )
    rows.append(
        (
            "hard limits over all requests: polyphony (requests over it), duration classes and "
            "bar bounds (notes outside)",
            "never",
            f"{hard['poly_violations']} of {hard['requests']} requests; "
            f"{hard['duration_violations']} and {hard['misplaced_notes']} of {hard['notes']} notes",
            hard["poly_violations"] == 0 == hard["duration_violations"] == hard["misplaced_notes"],
        )
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.model_card",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, help="the bundle folder")
    parser.add_argument("--results", type=Path, required=True, help="training.evaluate's --out")
    parser.add_argument(
        "--run",
        type=Path,
        action="append",
        default=[],
        help="a training run folder (log.jsonl); repeat in training order",
    )
    parser.add_argument("--density-goal", type=float, default=DENSITY_GOAL)
    parser.add_argument(
        "--reference",
        type=Path,
        help="results folder of the model this one replaces (its baselines-SPLIT.json): the "
        "card states whether the classical split is no worse",
    )
    parser.add_argument(
        "--observations",
        type=Path,
        help="Markdown appended as 'Observed in the outputs': what a person saw in them "
        "and the numbers cannot say",
    )
    args = parser.parse_args(argv)
    meta = json.loads((args.model / "midigen.json").read_text())
    nll, controls = _load(args.results, "nll"), _load(args.results, "controls")
    infill, examples = _load(args.results, "infill"), _load(args.results, "examples", False)
    nll_pop = _load(
        args.results, "nll-pop909", False
    )  # nll --pop909 ... --json DIR/nll-pop909.json
    count, counted = parameters(args.model, meta)
    size = sum(
        f.stat().st_size
        for f in args.model.iterdir()
        if f.is_file() and f.suffix in (".onnx", ".data", ".json")
    )
    runs = [run_summary(r) for r in args.run]
    bench, int8 = card_speed.load(args.results)
    compared = card_baselines.load(args.results)
    reference = card_baselines.load(args.reference) if args.reference else {}
    continued = card_baselines.load(args.results, "continue")
    comparison, compared_pictures = card_baselines.section(compared, continued)
    text = render(
        args.model.name,
        meta,
        count,
        counted,
        size,
        nll,
        controls,
        infill,
        examples,
        runs,
        goals(nll, controls, args.density_goal, nll_pop)
        + card_baselines.goals(compared)
        + card_baselines.reference_goals(compared, reference)
        + card_speed.goals(bench, int8, size / 1e6, meta.get("dtype", "fp32")),
        comparison,
        nll_pop,
    )
    pictures = ["density.png", "pitch_classes.png", *compared_pictures]
    for e in (examples or {}).get("examples", []):
        pictures += list(e.get("files", {}).values())
    for name in pictures:
        if (args.results / name).is_file() and args.results.resolve() != args.model.resolve():
            shutil.copyfile(args.results / name, args.model / name)
    text += card_speed.section(bench, int8)
    card_speed.keep_int8_report(int8, args.model)
    if args.observations is not None:
        text += "\n## Observed in the outputs\n\n" + args.observations.read_text().strip() + "\n"
    (args.model / "MODEL_CARD.md").write_text(text)
    print(f"wrote {args.model / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
