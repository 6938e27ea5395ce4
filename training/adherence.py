"""Control adherence: does generated music have the density and polyphony the user asked for?

    python -m training.evaluate controls --model BUNDLE --out DIR [--n 100] [--seed 0]

On held-out tasks (training/heldout.py; one bar of one track by default) every request goes
through `generation.generate()` exactly as the server builds it from a DAW selection: the
controls the user set, the others measured from the original bar. The generated bar is then
measured with `controls.measure`, the function that labels the training data, so "level" means
what the model was trained on. With one selected bar per request, the bars a control describes
(docs/language.md: the track's holes in the window) are that one bar, so "fraction of generated
bars within +-1 of the request" is exactly the fraction of requests.

- density 1..10, twice per task: `measured` = only density set (poly_max, dur_min, dur_max stay
  hard limits measured from the original bar, as a user who only turns the density knob gets
  them) and `open` = density with the hard limits opened (poly_max 10 = "10 or more", durations
  0..5). The server cannot send "any" (an unset control means "measured"), so `open` is the
  closest request to "density alone". A request is `reachable` when the prompt's hard limits
  let at least level-1 onsets fit in the bar (poly_max voices x notes of the shortest allowed
  length, where the track's context notes leave the voice free), so misses forced by the
  limits can be told from misses by the model.
- poly_max k for POLY_LIMITS: a hard limit. `violations` counts requests where some tick under a
  generated note has more than k sounding notes of the track (counted as the grammar counts:
  the window's notes plus notes ringing in from before it); it must be 0.
- every request: durations outside the prompt's dur_min..dur_max classes and notes outside their
  bar or past the window end (also grammar guarantees, also expected 0).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from pathlib import Path

import numpy as np

from midigen.server.engine.sampling import SamplingOptions
from midigen.server.engine.session import Engine
from midigen.server.language import controls as ctl
from training.heldout import Infill, Task, infill, run_record

DENSITY_LEVELS = tuple(range(1, 11))
POLY_LIMITS = (1, 2, 3)
CONDITIONS = ("measured", "open")


def poly_violation_ticks(result: Infill) -> int:
    """Ticks under a generated note where the track sounds more notes than the prompt's hard
    poly_max allows (0 when the prompt sets no hard limit)."""
    top = result.vocab.document["polyphony_levels"]
    limit = result.asked.poly_max
    if limit is None or limit >= top:
        return 0
    counts = result.counts()
    starts = np.cumsum([0, *result.bar_ticks])
    covered = np.zeros(len(counts), dtype=bool)
    for b in result.task.hole_bars:
        for n in result.generated.bars[b]:
            covered[starts[b] + n.tick : starts[b] + n.tick + n.duration] = True
    return int((covered & (counts > limit)).sum())


def duration_violations(result: Infill) -> int:
    """Generated notes whose duration class lies outside the prompt's dur_min..dur_max."""
    vocab, c = result.vocab, result.asked
    classes = len(vocab.document["duration_classes"])
    lo = 0 if c.dur_min is None else c.dur_min
    hi = classes - 1 if c.dur_max is None else c.dur_max
    return sum(
        not lo <= ctl.duration_class(n.duration, vocab.ticks_per_quarter, classes) <= hi
        for b in result.task.hole_bars
        for n in result.generated.bars[b]
    )


def misplaced_notes(result: Infill) -> int:
    """Generated notes (as generation reported them) outside their bar or past the window end."""
    eps = 1e-6
    return sum(
        not (e.start - eps <= n.start < e.end - eps and n.end <= result.window_end + eps)
        for e in result.events
        for n in e.notes
    )


def max_density_level(result: Infill) -> int:
    """The highest density level the prompt's hard limits leave possible in the selected bars,
    an upper bound: per bar and per voice of poly_max, notes of the shortest allowed length back
    to back over the ticks where that voice is free of the track's context notes (notes ringing
    in from before the window or from an unselected bar take voices, as the grammar counts
    them). Without a polyphony limit: the top level."""
    vocab, c = result.vocab, result.asked
    levels = vocab.document["density_levels"]
    if c.poly_max is None or c.poly_max >= vocab.document["polyphony_levels"]:
        return levels
    tpq = vocab.ticks_per_quarter
    shortest = min(
        d for d in vocab.durations if c.dur_min is None or ctl.duration_class(d, tpq) >= c.dur_min
    )
    bars = result.task.hole_bars
    context = dataclasses.replace(
        result.original, bars=[[] if b in bars else notes for b, notes in
                               enumerate(result.original.bars)]
    )  # fmt: skip
    counts = ctl.sounding_counts(context, result.bar_ticks)
    for ticks in result.ring_in:
        counts[:ticks] += 1
    starts = np.cumsum([0, *result.bar_ticks])
    onsets = 0
    for b in bars:
        here = counts[starts[b] : starts[b + 1]]
        for voice in range(1, c.poly_max + 1):  # ticks where a voice-th note still fits
            free = np.concatenate([[False], here <= c.poly_max - voice, [False]])
            edges = np.flatnonzero(np.diff(free.astype(np.int8)))
            onsets += sum(-(-int(end - begin) // shortest) for begin, end in edges.reshape(-1, 2))
    return int(ctl.density_level(vocab, onsets / len(bars), result.generated.is_drum))


def _record(result: Infill) -> dict:
    m = result.measured()
    original = ctl.measure(result.vocab, result.original, result.bar_ticks, result.task.hole_bars)
    return {
        "original_density": original.density,
        "asked": list(result.asked.as_tuple()),
        "measured": list(m.as_tuple()),
        "notes": sum(len(result.generated.bars[b]) for b in result.task.hole_bars),
        "poly_violation_ticks": poly_violation_ticks(result),
        "duration_violations": duration_violations(result),
        "misplaced_notes": misplaced_notes(result),
        "max_level": max_density_level(result),
    }


def _requests(vocab_top: int, classes: int) -> list[tuple[str, int, ctl.Controls]]:
    out = [("measured", k, ctl.Controls(density=k)) for k in DENSITY_LEVELS]
    out += [
        ("open", k, ctl.Controls(density=k, poly_max=vocab_top, dur_min=0, dur_max=classes - 1))
        for k in DENSITY_LEVELS
    ]
    out += [("poly_max", k, ctl.Controls(poly_max=k)) for k in POLY_LIMITS]
    return out


def evaluate_controls(
    engine: Engine,
    tasks: list[Task],
    seed: int = 0,
    variations: int = 1,
    options: SamplingOptions | None = None,
) -> dict:
    """Run every request on every task; returns the JSON-ready report (see `summarize`).
    `options` (the server's defaults when None) get a derived seed per request."""
    options = options or SamplingOptions()
    doc = engine.vocab.document
    requests = _requests(doc["polyphony_levels"], len(doc["duration_classes"]))
    records: list[dict] = []
    began = time.perf_counter()
    for i, task in enumerate(tasks):
        for j, (kind, level, controls) in enumerate(requests):
            sampling = dataclasses.replace(options, seed=seed * 1_000_003 + i * 1000 + j)
            results, _done = infill(engine, task, controls, sampling, variations)
            for r in results:
                records.append(
                    {"kind": kind, "level": level, "task": i, "work": task.work, **_record(r)}
                )
    seconds = time.perf_counter() - began
    report = summarize(records)
    report.update(run_record(tasks, options, seed, len(tasks) * len(requests), seconds))
    report.update(
        {
            "bars_per_task": sorted({len(t.bars) for t in tasks}),
            "variations": variations,
            "records": records,
        }
    )
    return report


def _fraction(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def summarize(records: list[dict]) -> dict:
    """Per requested level and overall: counts, fraction within +-1, exact, mean level."""
    density = {}
    for kind in CONDITIONS:
        rows = [r for r in records if r["kind"] == kind]
        levels = {}
        for k in DENSITY_LEVELS:
            got = [r["measured"][0] for r in rows if r["level"] == k]
            reach = [r["measured"][0] for r in rows if r["level"] == k and r["max_level"] >= k - 1]
            levels[str(k)] = {
                "requests": len(got),
                "within_1": _fraction([abs(g - k) <= 1 for g in got]),
                "exact": _fraction([g == k for g in got]),
                "mean_level": float(np.mean(got)) if got else None,
                "reachable": len(reach),
                "within_1_reachable": _fraction([abs(g - k) <= 1 for g in reach]),
            }
        confusion = np.zeros((len(DENSITY_LEVELS), len(DENSITY_LEVELS)), dtype=int)
        for r in rows:
            confusion[r["level"] - 1, r["measured"][0] - 1] += 1
        reachable = [r for r in rows if r["max_level"] >= r["level"] - 1]
        density[kind] = {
            "levels": levels,
            "requests": len(rows),
            "within_1": _fraction([abs(r["measured"][0] - r["level"]) <= 1 for r in rows]),
            "exact": _fraction([r["measured"][0] == r["level"] for r in rows]),
            "reachable": len(reachable),
            "within_1_reachable": _fraction(
                [abs(r["measured"][0] - r["level"]) <= 1 for r in reachable]
            ),
            "confusion": confusion.tolist(),  # rows: requested level, columns: generated level
        }
    poly = {}
    for k in POLY_LIMITS:
        rows = [r for r in records if r["kind"] == "poly_max" and r["level"] == k]
        got = [r["measured"][2] for r in rows if r["measured"][2] is not None]
        poly[str(k)] = {
            "requests": len(rows),
            "violations": sum(r["poly_violation_ticks"] > 0 for r in rows),
            "violating_ticks": sum(r["poly_violation_ticks"] for r in rows),
            "empty": len(rows) - len(got),
            "within_1": _fraction([abs(g - k) <= 1 for g in got]),
            "exact": _fraction([g == k for g in got]),
        }
    poly_rows = [r for r in records if r["kind"] == "poly_max"]
    originals = Counter(
        r["original_density"] for r in records if r["kind"] == "measured" and r["level"] == 1
    )  # once per task
    return {
        "unit": "one request = one track's selected bars in one window step (one bar unless "
        "bars_per_task says otherwise); its level is controls.measure over those bars",
        "density": density,
        "original_density_levels": {str(k): originals[k] for k in DENSITY_LEVELS},
        "poly_max": {
            "limits": poly,
            "requests": len(poly_rows),
            "violations": sum(r["poly_violation_ticks"] > 0 for r in poly_rows),
            "within_1": _fraction(
                [
                    abs(r["measured"][2] - r["level"]) <= 1
                    for r in poly_rows
                    if r["measured"][2] is not None
                ]
            ),
        },
        "hard_limits": {
            "requests": len(records),
            "notes": sum(r["notes"] for r in records),
            "poly_violations": sum(r["poly_violation_ticks"] > 0 for r in records),
            "duration_violations": sum(r["duration_violations"] for r in records),
            "misplaced_notes": sum(r["misplaced_notes"] for r in records),
        },
    }


def plot_density(report: dict, path: Path | str) -> None:
    """Requested vs generated density level: mean and 10-90 % range per condition, the +-1 band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    levels = np.array(DENSITY_LEVELS)
    ax.fill_between(levels, levels - 1, levels + 1, color="#e8e8e8", label="within +-1")
    ax.plot(levels, levels, color="#999999", linewidth=0.8)
    kinds = (
        ("measured", "only density set", "#d1495b", -0.08),
        ("open", "limits opened", "#2e86ab", 0.08),
    )
    for kind, words, colour, shift in kinds:
        rows = [r for r in report["records"] if r["kind"] == kind]
        if not rows:
            continue
        got = [[r["measured"][0] for r in rows if r["level"] == k] for k in DENSITY_LEVELS]
        mean = [np.mean(g) if g else np.nan for g in got]
        lo = [np.percentile(g, 10) if g else np.nan for g in got]
        hi = [np.percentile(g, 90) if g else np.nan for g in got]
        share = report["density"][kind]["within_1"]
        ax.errorbar(
            levels + shift,
            mean,
            yerr=[np.maximum(0, np.subtract(mean, lo)), np.maximum(0, np.subtract(hi, mean))],
            fmt="o-",
            color=colour,
            capsize=3,
            label=f"{words} ({share:.0%} within +-1)",
        )
    ax.set_xlabel("requested density level")
    ax.set_ylabel("generated density level (mean, 10-90 %)")
    ax.set_xticks(levels)
    ax.set_yticks(levels)
    ax.set_xlim(0.5, 10.5)
    ax.set_ylim(0.5, 10.5)
    ax.legend(loc="upper left", fontsize=8)
    bars = " or ".join(str(b) for b in report["bars_per_task"])
    title = f"density adherence, {report['tasks']} held-out selections of {bars} bars"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
