"""Measures of a refilled phrase against the bars it replaces and the part around it.

Every generator (the model and the baselines, training/baselines.py) hands back the notes it
wrote into a task's hole (training/phrase_tasks.py); `measure` scores them, `summarize` averages
over tasks. Where positions are compared, times are on the token language's grid
(phrase_tasks.TICKS per quarter), and a note belongs to the bar its rounded onset falls in, as
in generation. The measures, as the model card states them:

- **pitch-class correlation**: Pearson correlation of the 12 pitch-class onset counts of the
  generated notes with those of the original bars (training/plausibility.py's definition);
  undefined (left out of the mean) when either histogram is flat, e.g. empty.
- **in-key share**: share of generated notes whose pitch class is in the piece's key. The key is
  the best of the 24 Krumhansl-Kessler major/minor profiles correlated with the duration-weighted
  pitch-class profile of every pitched note the generators may see (all tracks, minus the
  refilled track's notes in the hole); the scale is the major or the natural minor scale. The
  original bars' share is given beside it: melodies leave the scale too.
- **grid-onset overlap**: share of generated onsets on a position within the bar (on the
  language's grid of 12 ticks per quarter) that some original note of the hole starts on.
- **outside the track's range**: generated notes below the lowest or above the highest pitch the
  track plays outside the hole, as a share of generated notes.
- **notes per bar ratio**: generated notes / original notes, summed over the tasks.
- **velocity spread**: distinct velocities among a task's generated notes and their standard
  deviation, averaged over tasks with notes.
- **density within +-1**: share of hole bars whose density level (`controls.density_level` of the
  bar's notes) is within one level of the request, the level of the original hole bars together
  (what the server asks for when the user sets no density).
- **hard limits**: the polyphony limit the server sets when none is given (poly_max measured from
  the original hole by `controls.measure`; no limit at the top level) -- a task violates it when
  any tick of the refilled hole has more of the track's notes sounding (`polyphony`); and the
  register "any" stands for (`server.language.registers.resolve`: the range outside the hole
  plus a margin) -- generated notes outside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from midigen.server.language import controls as ctl
from midigen.server.language import registers
from midigen.server.language.controls import density_level
from midigen.server.language.grid import window_from_piece
from midigen.server.language.piece import Note, Piece
from midigen.server.language.vocab import Vocabulary
from training.phrase_tasks import PhraseTask, notes_in, notes_per_bar, tick
from training.plausibility import correlation

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)


def pitch_class_counts(notes: Sequence[Note]) -> np.ndarray:
    """Onsets per pitch class (12 counts)."""
    return np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(float)


def key_of(profile: np.ndarray) -> tuple[int, str] | None:
    """(tonic pitch class, "major" | "minor") best correlated with a 12-bin pitch-class profile;
    None when the profile is flat (no notes)."""
    best, key = -2.0, None
    for mode, ref in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = correlation(profile, np.roll(np.array(ref), tonic))
            if r is not None and r > best:
                best, key = r, (tonic, mode)
    return key


def scale_of(key: tuple[int, str]) -> set[int]:
    tonic, mode = key
    return {(tonic + step) % 12 for step in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}


def piece_key(task: PhraseTask) -> tuple[int, str] | None:
    """The key of everything a generator may see (see the module doc)."""
    lo, hi = task.span
    profile = np.zeros(12)
    for i, track in enumerate(task.piece.tracks):
        if track.is_drum:
            continue
        hole = set(notes_in(track.notes, lo, hi)) if i == task.track else set()
        for n in track.notes:
            if n not in hole:
                profile[n.pitch % 12] += n.duration
    return key_of(profile)


def in_key_share(notes: Sequence[Note], key: tuple[int, str] | None) -> float | None:
    if not notes or key is None:
        return None
    scale = scale_of(key)
    return sum(n.pitch % 12 in scale for n in notes) / len(notes)


def bar_positions(notes: Sequence[Note], piece: Piece) -> list[int]:
    """Each note's onset as a tick within its bar (bars as generation assigns notes to them)."""
    starts = np.array([tick(b.start) for b in piece.bars()], dtype=np.int64)
    onsets = np.array([tick(n.start) for n in notes], dtype=np.int64)
    bars = np.maximum(0, np.searchsorted(starts, onsets, side="right") - 1)
    return (onsets - starts[bars]).tolist()


def onset_overlap(generated: Sequence[Note], original: Sequence[Note], piece: Piece
                  ) -> float | None:  # fmt: skip
    """Share of generated onsets on in-bar positions the original bars use (None: no notes)."""
    if not generated:
        return None
    used = set(bar_positions(original, piece))
    return sum(p in used for p in bar_positions(generated, piece)) / len(generated)


def polyphony(task: PhraseTask, notes: Sequence[Note], vocab: Vocabulary) -> tuple[int, int]:
    """(the poly_max the server asks for when none is set: measured from the original hole,
    most of the track's notes sounding at once in the hole refilled with `notes`), both counted
    as the grammar counts them: on the language's window of the hole and the two bars before it
    (so notes ringing in from those count), with `controls.measure` and `sounding_counts`."""
    bars = list(range(max(0, task.first - 2), task.last + 1))
    holes = [bars.index(b) for b in task.bars]
    before = window_from_piece(task.piece, vocab, bars, [task.track])
    after = window_from_piece(task.refilled(notes), vocab, bars, [task.track])
    ticks = before.bar_ticks(vocab)
    asked = ctl.measure(vocab, before.tracks[0], ticks, holes).poly_max
    counts = ctl.sounding_counts(after.tracks[0], ticks)[sum(ticks[: holes[0]]) :]
    return asked or vocab.document["polyphony_levels"], int(counts.max(initial=0))


def measure(task: PhraseTask, generated: Sequence[Note], vocab: Vocabulary) -> dict:
    """One task's measures (JSON-ready) for the notes a generator wrote into its hole."""
    piece, track = task.piece, task.piece.tracks[task.track]
    lo, hi = task.span
    generated = notes_in(generated, lo, hi)
    original, outside = task.original(), task.outside()
    key = piece_key(task)
    grid = piece.bars()[task.first : task.last + 1]
    gen_bars, orig_bars = notes_per_bar(generated, grid), notes_per_bar(original, grid)
    request = density_level(vocab, len(original) / len(grid), track.is_drum)
    levels = [density_level(vocab, float(k), track.is_drum) for k in gen_bars]
    low, high = min(n.pitch for n in outside), max(n.pitch for n in outside)
    register = registers.resolve(track, outside, None, None)
    poly_top = vocab.document["polyphony_levels"]
    poly_asked, poly_made = polyphony(task, generated, vocab)
    velocities = [n.velocity for n in generated]
    return {
        "notes_generated": gen_bars.tolist(),
        "notes_original": orig_bars.tolist(),
        "pc_correlation": correlation(pitch_class_counts(generated), pitch_class_counts(original)),
        "key": None if key is None else f"{key[0]} {key[1]}",
        "in_key": in_key_share(generated, key),
        "in_key_original": in_key_share(original, key),
        "onset_overlap": onset_overlap(generated, original, piece),
        "range": [low, high],
        "outside_range": sum(not low <= n.pitch <= high for n in generated),
        "velocities_distinct": len(set(velocities)) if velocities else None,
        "velocity_std": float(np.std(velocities)) if velocities else None,
        "density_request": request,
        "density_levels": levels,
        "poly_max": poly_asked,
        "poly_violation": poly_asked < poly_top and poly_made > poly_asked,
        "register": list(register),
        "outside_register": sum(not register[0] <= n.pitch <= register[1] for n in generated),
    }


def _mean(values: Sequence) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _standard_error(values: Sequence) -> float | None:
    """Of the mean over tasks: how far two columns must differ before the difference is news."""
    values = [v for v in values if v is not None]
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None


def paired(a: Sequence[dict], b: Sequence[dict], key: str) -> dict:
    """Mean and standard error of a[i][key] - b[i][key] over the tasks where both are defined:
    two generators on the same tasks differ by less noise than their two means suggest."""
    diffs = [x[key] - y[key] for x, y in zip(a, b, strict=True)
             if x[key] is not None and y[key] is not None]  # fmt: skip
    return {"mean": _mean(diffs), "se": _standard_error(diffs), "tasks": len(diffs)}


def summarize(records: Sequence[dict]) -> dict:
    """The measures averaged over a generator's task records (see the module doc)."""
    notes = sum(sum(r["notes_generated"]) for r in records)
    original = sum(sum(r["notes_original"]) for r in records)
    bars = [abs(level - r["density_request"]) <= 1 for r in records
            for level in r["density_levels"]]  # fmt: skip
    return {
        "tasks": len(records),
        "notes": notes,
        "pc_correlation": _mean([r["pc_correlation"] for r in records]),
        "pc_correlation_se": _standard_error([r["pc_correlation"] for r in records]),
        "pc_correlation_defined": sum(r["pc_correlation"] is not None for r in records),
        "in_key": _mean([r["in_key"] for r in records]),
        "in_key_original": _mean([r["in_key_original"] for r in records]),
        "onset_overlap": _mean([r["onset_overlap"] for r in records]),
        "onset_overlap_se": _standard_error([r["onset_overlap"] for r in records]),
        "outside_range": sum(r["outside_range"] for r in records) / notes if notes else None,
        "notes_ratio": notes / original if original else None,
        "empty_bars": _mean([k == 0 for r in records for k in r["notes_generated"]]),
        "velocities_distinct": _mean([r["velocities_distinct"] for r in records]),
        "velocity_std": _mean([r["velocity_std"] for r in records]),
        "density_within_1": _mean(bars),
        "poly_violations": sum(r["poly_violation"] for r in records),
        "outside_register": sum(r["outside_register"] for r in records),
    }
