"""The vocabulary and language version: one JSON document that travels with every model bundle.

The token list is derived from a few parameters (grid, time signatures, durations, ...). The JSON
stores both the parameters and the derived list; loading rebuilds the list and refuses a document
whose stored list disagrees, so a bundle's encoder and the model it was trained with cannot drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

LANGUAGE_NAME = "midigen-mmm"
LANGUAGE_VERSION = "1.2"

SPECIALS = [
    "<pad>",
    "<piece>",  # piece start
    "<end>",  # piece end: after the last fill section
    "<vel_on>",
    "<vel_off>",
    "<mt_on>",
    "<mt_off>",
    "<track>",  # melodic track start
    "<drum_track>",
    "<track_end>",
    "<bar>",
    "<bar_end>",
    "<hole>",  # placeholder for a bar to be filled at the end
    "<fill>",  # start of one filled bar
    "<fill_end>",
]

# Meters with their own ts: token. A bar in any other meter is shown as one of these
# (meters.py). 1.2 appended the last four; the later families' ids moved up by four, which
# is safe because every bundle carries the token list it was trained with.
DEFAULT_TIME_SIGNATURES = [
    "2/4", "3/4", "4/4", "5/4", "6/4", "2/2", "3/2", "4/2", "3/8", "5/8", "6/8", "7/8", "9/8",
    "12/8", "1/4", "1/8", "7/4", "11/8",
]  # fmt: skip

CONTROL_FAMILIES = ("density", "poly_min", "poly_max", "dur_min", "dur_max")
ANY = "any"


def _default_durations() -> list[int]:
    """Duration tokens in ticks: every tick up to a whole note, then coarser up to 4 whole notes."""
    return list(range(1, 49)) + list(range(54, 97, 6)) + list(range(108, 193, 12))


def default_document() -> dict:
    """The parameters of the current language version (token list not yet attached)."""
    return {
        "language": LANGUAGE_NAME,
        "version": LANGUAGE_VERSION,
        "ticks_per_quarter": 12,
        "microtiming_steps_per_tick": 8,
        "velocity_bins": 16,
        "time_signatures": DEFAULT_TIME_SIGNATURES,
        "durations": _default_durations(),
        "density_levels": 10,
        "polyphony_levels": 10,
        "duration_classes": ["32nd", "16th", "8th", "quarter", "half", "whole"],
        # Upper bounds (exclusive) of density levels 1..9 in mean note onsets per bar; level 10
        # above. Melodic: deciles measured on the music21 training split by
        # training/measure_density.py (training/density_stats.json); drums: set by hand (the
        # corpus has no drums), see docs/language.md.
        "density_thresholds": {
            "melodic": [1.25, 1.75, 2.5, 3.5, 4.5, 6.0, 8.0, 11.0, 15.0],
            "drum": [4.0, 7.0, 9.0, 11.0, 13.0, 16.0, 19.0, 23.0, 30.0],
        },
        # Polyphony low/high percentiles over a bar's sounding ticks (high 100 = the maximum, so
        # the hard limit the grammar enforces is the quantity the model was trained on).
        "polyphony_percentiles": [10, 100],
    }


@dataclass(frozen=True)
class Family:
    name: str
    start: int  # id of the first token of the family
    values: tuple  # the value each token stands for, in id order

    def id(self, value: object) -> int:
        return self.start + self.values.index(value)

    @property
    def stop(self) -> int:
        return self.start + len(self.values)


class Vocabulary:
    """Token ids <-> (family, value), built from a language document."""

    def __init__(self, document: dict):
        self.document = {k: v for k, v in document.items() if k != "tokens"}
        doc = self.document
        if doc.get("language") != LANGUAGE_NAME:
            raise ValueError(f"not a {LANGUAGE_NAME} language document: {doc.get('language')!r}")
        if str(doc.get("version", "")).split(".")[0] != LANGUAGE_VERSION.split(".")[0]:
            raise ValueError(
                f"language version {doc.get('version')} is not compatible with {LANGUAGE_VERSION}"
            )
        self.ticks_per_quarter: int = doc["ticks_per_quarter"]
        self.mt_steps: int = doc["microtiming_steps_per_tick"]
        self.velocity_bins: int = doc["velocity_bins"]
        self.durations: list[int] = list(doc["durations"])
        self.time_signatures: list[str] = list(doc["time_signatures"])
        half = self.mt_steps // 2
        max_bar_ticks = max(self._bar_ticks(ts) for ts in self.time_signatures)
        layout: list[tuple[str, list]] = [
            ("special", SPECIALS),
            ("inst", list(range(128))),
            ("density", [ANY, *range(1, doc["density_levels"] + 1)]),
            ("poly_min", [ANY, *range(1, doc["polyphony_levels"] + 1)]),
            ("poly_max", [ANY, *range(1, doc["polyphony_levels"] + 1)]),
            ("dur_min", [ANY, *range(len(doc["duration_classes"]))]),
            ("dur_max", [ANY, *range(len(doc["duration_classes"]))]),
            ("ts", self.time_signatures),
            ("pos", list(range(max_bar_ticks))),
            ("vel", list(range(self.velocity_bins))),
            ("mt", [o for o in range(-half, half) if o != 0]),
            ("pitch", list(range(128))),
            ("dur", self.durations),
        ]
        self.families: dict[str, Family] = {}
        tokens: list[str] = []
        for name, values in layout:
            self.families[name] = Family(name, len(tokens), tuple(values))
            tokens += [v if name == "special" else f"{name}:{v}" for v in values]
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        if "tokens" in document and list(document["tokens"]) != tokens:
            raise ValueError(
                "language document's token list disagrees with its parameters "
                f"({len(document['tokens'])} stored, {len(tokens)} derived)"
            )

    def _bar_ticks(self, ts: str) -> int:
        num, den = (int(x) for x in ts.split("/"))
        return num * 4 * self.ticks_per_quarter // den

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, name: str) -> Family:
        return self.families[name]

    def special(self, name: str) -> int:
        return self.index[name]

    def bar_ticks(self, ts: str) -> int:
        return self._bar_ticks(ts)

    @cached_property
    def family_of(self) -> np.ndarray:
        """Family number (position in `families`) of every token id, for fast decoding."""
        out = np.zeros(len(self.tokens), dtype=np.int16)
        for k, fam in enumerate(self.families.values()):
            out[fam.start : fam.stop] = k
        return out

    @cached_property
    def value_of(self) -> np.ndarray:
        """Numeric value of every token id (tick, bin, offset, pitch, ticks...; 0 otherwise)."""
        out = np.zeros(len(self.tokens), dtype=np.int64)
        for fam in self.families.values():
            if all(isinstance(v, int) for v in fam.values):
                out[fam.start : fam.stop] = fam.values
        return out

    @cached_property
    def id_of(self) -> dict[str, dict]:
        """value -> token id per family, for encoding without list searches."""
        return {
            name: {v: fam.start + i for i, v in enumerate(fam.values)}
            for name, fam in self.families.items()
        }

    def to_json(self) -> str:
        return json.dumps({**self.document, "tokens": self.tokens}, indent=1)

    def describe(self, token_id: int) -> str:
        return self.tokens[token_id] if 0 <= token_id < len(self.tokens) else f"<?{token_id}>"


def load(path: str | Path | None = None) -> Vocabulary:
    """The vocabulary from a JSON file, or the package's own language.json when path is None."""
    if path is None:
        text = resources.files("midigen.server.language").joinpath("language.json").read_text()
    else:
        text = Path(path).read_text()
    return Vocabulary(json.loads(text))


def default() -> Vocabulary:
    return Vocabulary(default_document())
