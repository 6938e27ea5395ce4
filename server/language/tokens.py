"""The token language: a `Window` (with holes to fill) <-> token ids.

    <piece> <vel_on|vel_off> <mt_on|mt_off>
      per track: <track>|<drum_track> inst:P density:D poly_min:A poly_max:B dur_min:C dur_max:E
                 per bar: <bar> ts:N/D  (pos:T vel:V? (mt:O? pitch:X dur:Y vel:V?)+)*  <bar_end>
                      or: <bar> ts:N/D <hole> <bar_end>
                 <track_end>
      per hole, in track order then bar order: <fill> (same note tokens as a bar) <fill_end>
    <end>

Within an onset, notes go up in pitch; with velocity on, a bar's first note states its velocity
bin and `vel:` appears again only where the velocity changes (running status, reset every bar);
`mt:` precedes a note whose onset is off the grid (when microtiming is on). Everything needed
to read a sequence back is in the sequence itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import controls as ctl
from .grid import GridNote, LanguageError, Window, WindowTrack, default_velocity_bin
from .vocab import ANY, CONTROL_FAMILIES, Vocabulary


@dataclass
class Encoded:
    """A decoded sequence: the window (holes filled where fill sections were present)."""

    window: Window
    holes: list[tuple[int, int]]  # (track, bar) in fill order
    controls: list[ctl.Controls]
    velocity: bool
    microtiming: bool
    filled: int = 0  # how many holes had a complete fill section
    ended: bool = False  # <end> was read
    fills: list[list[GridNote]] = field(default_factory=list)


def encode_notes(vocab: Vocabulary, notes: Iterable[GridNote], velocity: bool, mt: bool) -> list:
    """Token ids of one bar's notes (sorted by tick then pitch)."""
    pos0, vel0, pitch0 = vocab["pos"].start, vocab["vel"].start, vocab["pitch"].start
    mt_id, dur_id = vocab.id_of["mt"], vocab.id_of["dur"]
    out: list[int] = []
    append = out.append
    last_tick = last_vel = -1
    for tick, pitch, duration, vel, offset in notes:
        if tick != last_tick:
            append(pos0 + tick)
            last_tick = tick
        if velocity and vel != last_vel:
            append(vel0 + vel)
            last_vel = vel
        if mt and offset:
            append(mt_id[offset])
        append(pitch0 + pitch)
        append(dur_id[duration])
    return out


def encode(
    window: Window,
    vocab: Vocabulary,
    holes: Iterable[tuple[int, int]] = (),
    controls: Sequence[ctl.Controls | None] | None = None,
    velocity: bool = True,
    microtiming: bool = False,
    fills: bool = True,
) -> list[int]:
    """Token ids of `window`. Cells in `holes` become <hole> bars; with `fills` their notes follow
    as fill sections and the sequence ends with <end> (a training example); without, the sequence
    stops after the last track (a prompt; the grammar then forces <fill>). Controls not given are
    measured on each track's holes, or on all its bars when it has none."""
    sp = vocab.special
    holes = sorted(set(holes))
    ticks = window.bar_ticks(vocab)
    hole_bars: dict[int, list[int]] = {}
    for t, b in holes:
        if not (0 <= t < len(window.tracks) and 0 <= b < len(ticks)):
            raise LanguageError(f"hole (track {t}, bar {b}) is outside the window")
        hole_bars.setdefault(t, []).append(b)
    out = [
        sp("<piece>"),
        sp("<vel_on>" if velocity else "<vel_off>"),
        sp("<mt_on>" if microtiming else "<mt_off>"),
    ]
    ts_ids = [vocab["ts"].id(ts) for ts in window.time_signatures]
    for t, track in enumerate(window.tracks):
        c = controls[t] if controls is not None else None
        if c is None:
            c = ctl.measure(vocab, track, ticks, hole_bars.get(t) or range(len(ticks)))
        out.append(sp("<drum_track>" if track.is_drum else "<track>"))
        out.append(vocab["inst"].start + track.program)
        out += [vocab[f].id(v) for f, v in zip(CONTROL_FAMILIES, c.values())]
        own = set(hole_bars.get(t, ()))
        for b, notes in enumerate(track.bars):
            out += [sp("<bar>"), ts_ids[b]]
            if b in own:
                out.append(sp("<hole>"))
            else:
                out += encode_notes(vocab, notes, velocity, microtiming)
            out.append(sp("<bar_end>"))
        out.append(sp("<track_end>"))
    if fills:
        for t, b in holes:
            out.append(sp("<fill>"))
            out += encode_notes(vocab, window.tracks[t].bars[b], velocity, microtiming)
            out.append(sp("<fill_end>"))
        out.append(sp("<end>"))
    return out


class _Reader:
    """Strict left-to-right reader over precomputed token families and values (decoding is on
    the server's hot path); errors name the token position and what was expected."""

    def __init__(self, vocab: Vocabulary, ids: Sequence[int]):
        self.vocab, self.ids, self.i = vocab, list(ids), 0
        arr = np.asarray(self.ids, dtype=np.int64)
        if len(arr) and (arr.min() < 0 or arr.max() >= len(vocab)):
            bad = int(np.flatnonzero((arr < 0) | (arr >= len(vocab)))[0])
            raise LanguageError(f"token {bad}: id {self.ids[bad]} is outside the vocabulary")
        self.fam_names = list(vocab.families)
        self.kinds = vocab.family_of[arr].tolist()
        self.vals = vocab.value_of[arr].tolist()
        self.k = {name: k for k, name in enumerate(self.fam_names)}

    def peek(self) -> tuple[str, object] | None:
        if self.i >= len(self.ids):
            return None
        fam = self.vocab[self.fam_names[self.kinds[self.i]]]
        return fam.name, fam.values[self.ids[self.i] - fam.start]

    def take(self, family: str, value: object = None) -> object:
        got = self.peek()
        if got is None:
            raise LanguageError(f"token {self.i}: sequence ends where {family} was expected")
        if got[0] != family or (value is not None and got[1] != value):
            want = value if family == "special" else f"{family}:{value or '*'}"
            have = got[1] if got[0] == "special" else f"{got[0]}:{got[1]}"
            raise LanguageError(f"token {self.i}: expected {want}, got {have}")
        self.i += 1
        return got[1]

    def at(self, family: str, value: object = None) -> bool:
        got = self.peek()
        return got is not None and got[0] == family and (value is None or got[1] == value)

    def notes(self, bar_ticks: int, velocity: bool, mt: bool, vbin: int) -> list[GridNote]:
        """One bar's (or fill's) notes; the hot loop, so it works on plain lists and locals."""
        kinds, vals, i, n = self.kinds, self.vals, self.i, len(self.kinds)
        k_pos, k_vel, k_mt = self.k["pos"], self.k["vel"], self.k["mt"]
        k_pitch, k_dur = self.k["pitch"], self.k["dur"]
        notes: list[GridNote] = []
        append = notes.append
        last_tick = -1
        while i < n and kinds[i] == k_pos:
            tick = vals[i]
            if not last_tick < tick < bar_ticks:
                raise LanguageError(f"token {i}: position {tick} not after {last_tick} in bar")
            i += 1
            last_tick, last_pitch = tick, -1
            if velocity and not notes and (i >= n or kinds[i] != k_vel):
                self.i = i
                self.take("vel")  # a bar's first note states its velocity
            while True:
                k = kinds[i] if i < n else -1
                if k == k_vel and velocity:
                    vbin = vals[i]
                    i += 1
                    k = kinds[i] if i < n else -1
                offset = 0
                if k == k_mt and mt:
                    offset = vals[i]
                    i += 1
                    k = kinds[i] if i < n else -1
                if k != k_pitch or i + 1 >= n or kinds[i + 1] != k_dur:
                    self.i = i + (k == k_pitch)
                    self.take("dur" if k == k_pitch else "pitch")
                pitch = vals[i]
                if pitch <= last_pitch:
                    raise LanguageError(f"token {i}: pitch {pitch} not above {last_pitch}")
                append(GridNote(tick, pitch, vals[i + 1], vbin, offset))
                last_pitch = pitch
                i += 2
                k = kinds[i] if i < n else -1
                if k != k_pitch and k != k_mt and k != k_vel:
                    break
        self.i = i
        return notes


def decode(ids: Sequence[int], vocab: Vocabulary, partial: bool = False) -> Encoded:
    """Read a token sequence back. A prompt (no fill sections) or, with `partial`, a sequence cut
    off inside a fill section decodes too; filled holes get their notes, the rest stay empty."""
    r = _Reader(vocab, ids)
    r.take("special", "<piece>")
    mode = r.take("special")
    if mode not in ("<vel_on>", "<vel_off>"):
        raise LanguageError(f"token 1: expected <vel_on> or <vel_off>, got {mode}")
    velocity = mode == "<vel_on>"
    mode = r.take("special")
    if mode not in ("<mt_on>", "<mt_off>"):
        raise LanguageError(f"token 2: expected <mt_on> or <mt_off>, got {mode}")
    microtiming = mode == "<mt_on>"
    vbin0 = default_velocity_bin(vocab)
    window: Window | None = None
    holes: list[tuple[int, int]] = []
    controls: list[ctl.Controls] = []
    while r.at("special", "<track>") or r.at("special", "<drum_track>"):
        is_drum = r.take("special") == "<drum_track>"
        program = r.take("inst")
        values = [r.take(f) for f in CONTROL_FAMILIES]
        controls.append(ctl.Controls(*[None if v == ANY else v for v in values]))
        sigs, bars = [], []
        while r.at("special", "<bar>"):
            r.take("special", "<bar>")
            sigs.append(r.take("ts"))
            if r.at("special", "<hole>"):
                r.take("special", "<hole>")
                holes.append((len(controls) - 1, len(bars)))
                bars.append([])
            else:
                ticks = vocab.bar_ticks(sigs[-1])
                bars.append(r.notes(ticks, velocity, microtiming, vbin0))
            r.take("special", "<bar_end>")
        r.take("special", "<track_end>")
        if window is None:
            window = Window(sigs)
        elif sigs != window.time_signatures:
            raise LanguageError(f"track {len(controls)} has bars {sigs}, not the window's")
        window.tracks.append(WindowTrack(program, is_drum, bars))
    if window is None:
        raise LanguageError(f"token {r.i}: expected <track> or <drum_track>")
    out = Encoded(window, holes, controls, velocity, microtiming)
    for t, b in holes:
        if r.peek() is None and (partial or out.filled == 0):
            return out  # a prompt, or a generation cut off between fills
        r.take("special", "<fill>")
        ticks = vocab.bar_ticks(window.time_signatures[b])
        try:
            notes = r.notes(ticks, velocity, microtiming, vbin0)
            r.take("special", "<fill_end>")
        except LanguageError:
            if partial and r.peek() is None:
                return out
            raise
        window.tracks[t].bars[b] = notes
        out.fills.append(notes)
        out.filled += 1
    if r.peek() is None and (partial or not holes):
        return out  # a prompt, or a generation cut off before <end>
    r.take("special", "<end>")
    out.ended = True
    if r.i != len(r.ids):
        raise LanguageError(f"token {r.i}: tokens after <end>")
    return out


def format_tokens(ids: Sequence[int], vocab: Vocabulary) -> str:
    """Readable text, one bar (or fill) a line, for `midigen tokens` and for debugging."""
    lines, line = [], []
    breaks_before = {"<track>", "<drum_track>", "<bar>", "<fill>", "<track_end>", "<end>"}
    for tid in ids:
        tok = vocab.describe(tid)
        if tok in breaks_before and line:
            lines.append(" ".join(line))
            line = []
        line.append(tok)
    if line:
        lines.append(" ".join(line))
    return "\n".join(lines)
