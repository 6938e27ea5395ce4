"""Which `ts:` token the model sees for a bar, for every meter a MIDI file can hold.

A file may be in any n/d (n 1..32, d 1..32) and a signature change may cut a bar short; the
language has tokens for a fixed list of meters. A bar is shown to the model as:

1. its own meter, when the language has it and the bar is as long as the meter says;
2. else a meter of the language of exactly the bar's length (10/16 as 5/8, a 4/4 bar cut to
   three quarters as 3/4), the same denominator first, then the nearest one;
3. else, as context only, the shortest longer meter (the bar is shown with a rest at its end);
4. else (a bar longer than every meter), as context only, the longest meter; its notes past
   that meter's end are not shown.

Cases 1 and 2 are *exact*: the model can write such a bar and the notes go back at their real
times. A bar of case 3 or 4 can be context but is refused when it is selected (grid.py).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .piece import EPS, Bar
from .vocab import Vocabulary


class Shown(NamedTuple):
    meter: str  # the ts token value, e.g. "3/4"
    exact: bool  # the shown meter is exactly as long as the bar


def _quarters(meter: str) -> float:
    num, den = (int(x) for x in meter.split("/"))
    return num * 4 / den


def _closeness(meter: str, denominator: int) -> float:
    """How far a meter's denominator is from the bar's (0 = the same), for ties in length."""
    return abs(math.log2(int(meter.split("/")[1]) / denominator))


def shown_meter(vocab: Vocabulary, bar: Bar) -> Shown:
    """The meter `bar` is shown as (see the module docstring)."""
    ts = str(bar.time_signature)
    if bar.regular and ts in vocab.time_signatures:
        return Shown(ts, True)
    den = bar.time_signature.denominator
    meters = vocab.time_signatures
    same = [m for m in meters if abs(_quarters(m) - bar.length) < EPS]
    if same:
        return Shown(min(same, key=lambda m: _closeness(m, den)), True)
    longer = [m for m in meters if _quarters(m) > bar.length]
    if longer:
        return Shown(min(longer, key=lambda m: (_quarters(m), _closeness(m, den))), False)
    return Shown(min(meters, key=lambda m: (-_quarters(m), _closeness(m, den))), False)


def describe(bar: Bar) -> str:
    """The bar as a user sees it in the DAW: 1-based, with its meter (and a cut, if any)."""
    ts = bar.time_signature
    if bar.regular:
        return f"bar {bar.index + 1} ({ts})"
    return f"bar {bar.index + 1} ({ts} cut to {bar.length:g} quarters by a signature change)"
