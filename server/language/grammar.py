"""The grammar that makes every sampled sequence decode to exactly the requested bars.

Fed a prompt (an encoded window with holes, see language.py) and then each sampled token, it gives
the boolean mask of legal next tokens. What it guarantees for the fill sections:

- one <fill> ... <fill_end> per hole, in order, then <end> and nothing else;
- positions strictly forward inside the hole's bar; pitches rising within an onset (so no pitch
  twice at one onset); canonical velocity running status and microtiming tokens only when on;
- durations inside the track's duration-class range and never past the window end;
- a hard polyphony limit: with poly_max = k (k below the top level, which means "k or more"),
  no tick of the track ever has more than k sounding notes, counting context notes that ring in;
- a hard register per track when the caller gives one (registers.py): no pitch outside it;
- no dead ends: a position, velocity or microtiming token is legal only where a note can follow.

Static parts of the masks are precomputed per state; each step adds at most a few slice writes.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .controls import duration_class, sounding_counts
from .grid import GridNote, LanguageError, default_velocity_bin
from .tokens import decode
from .vocab import Vocabulary


class GrammarError(LanguageError):
    """A token the grammar does not allow here (a bug in the caller's sampling)."""


@dataclass(frozen=True)
class FilledBar:
    track: int  # window coordinates of the hole
    bar: int
    notes: list[GridNote]


# State kinds
FILL, BAR, POS, VEL, MT, PITCH, NOTE, DONE = range(8)


class _TrackRules:
    """A track's hard limits, and per window tick: where the next note-blocking tick is and
    whether an allowed note can start there. Recomputed (vectorised) after each added note."""

    def __init__(
        self,
        counts: np.ndarray,
        dur_lo: int,
        dur_hi: int,
        limit: int | None,
        shortest: int,
        register: tuple[int, int] = (0, 127),
    ):
        self.counts = counts
        self.low, self.high = register
        self.dur_lo, self.dur_hi = dur_lo, dur_hi  # index range into vocab.durations
        self.limit, self.shortest = limit, shortest
        self.ticks = np.arange(len(counts))
        self._update()

    def _update(self) -> None:
        end = len(self.counts)
        if self.limit:
            blocked = np.where(self.counts >= self.limit, self.ticks, end)
            self.next_full = np.minimum.accumulate(blocked[::-1])[::-1]
        else:
            self.next_full = np.full(end, end)
        self.can_start = self.next_full - self.ticks >= self.shortest

    def add(self, t: int, duration: int) -> None:
        self.counts[t : t + duration] += 1
        if self.limit:
            self._update()


class Grammar:
    def __init__(
        self,
        vocab: Vocabulary,
        prompt: Sequence[int],
        registers: Sequence[tuple[int, int] | None] | None = None,
    ):
        """`registers`: per window track, the (low, high) pitches its fills may use, inclusive
        (None: the whole MIDI range)."""
        enc = decode(prompt, vocab)
        if enc.filled or enc.ended:
            raise LanguageError("the prompt must stop before the first <fill>")
        self.vocab, self.velocity, self.mt = vocab, enc.velocity, enc.microtiming
        self.holes = enc.holes
        window = enc.window
        ticks = window.bar_ticks(vocab)
        self.bar_starts = window.bar_starts(vocab)
        self.bar_ticks = ticks
        self.window_end = int(sum(ticks))
        classes = len(vocab.document["duration_classes"])
        tpq = vocab.ticks_per_quarter
        dur_class = [duration_class(d, tpq, classes) for d in vocab.durations]
        top = vocab.document["polyphony_levels"]
        self.rules: list[_TrackRules] = []
        registers = list(registers or [])
        registers += [None] * (len(window.tracks) - len(registers))
        for track, c, register in zip(window.tracks, enc.controls, registers):
            lo = bisect.bisect_left(dur_class, 0 if c.dur_min is None else c.dur_min)
            hi = bisect.bisect_right(dur_class, classes if c.dur_max is None else c.dur_max)
            limit = c.poly_max if c.poly_max is not None and c.poly_max < top else None
            counts = sounding_counts(track, ticks).astype(np.int32)
            if register is not None and not 0 <= register[0] <= register[1] <= 127:
                raise LanguageError(f"register {register} is not a range of MIDI pitches")
            self.rules.append(
                _TrackRules(counts, lo, hi, limit, vocab.durations[lo], register or (0, 127))
            )
        self._build_static_masks()
        self.default_vel = default_velocity_bin(vocab)
        self.kind = FILL
        self.hole = -1  # index into self.holes of the fill being written
        self.tick = -1  # onset inside the bar
        self.last_pitch = -1
        self.cur_vel = -1  # running velocity bin in this bar
        self.offset = 0
        self.pitch = -1
        self.notes: list[GridNote] = []
        self._mask: np.ndarray | None = None

    def _build_static_masks(self) -> None:
        v, n = self.vocab, len(self.vocab)
        sp = v.special
        self.ids = {name: sp(name) for name in ("<fill>", "<fill_end>", "<end>")}
        self.pos0, self.vel0 = v["pos"].start, v["vel"].start
        self.pitch0, self.dur0 = v["pitch"].start, v["dur"].start
        self.mt_family = v["mt"]
        self.mt_early_stop = self.mt_family.start + sum(o < 0 for o in self.mt_family.values)
        self.none = np.zeros(n, dtype=bool)
        self.only = {}
        for name, tid in self.ids.items():
            m = self.none.copy()
            m[tid] = True
            self.only[name] = m
        # Before a note's pitch: optional velocity change and microtiming.
        self.pre_note = self.none.copy()
        if self.velocity:
            self.pre_note[v["vel"].start : v["vel"].stop] = True
        if self.mt:
            self.pre_note[self.mt_family.start : self.mt_family.stop] = True
        self.all_vel = self.none.copy()
        self.all_vel[v["vel"].start : v["vel"].stop] = True

    def ring_in(self, track: int, ticks: int) -> None:
        """Count a note of window track `track` that started before the window and sounds for
        its first `ticks` ticks. The window itself drops such notes, but a caller generating
        step by step knows them, and the polyphony limit must hold across steps."""
        self.rules[track].add(0, min(ticks, self.window_end))

    @property
    def done(self) -> bool:
        return self.kind == DONE

    @property
    def current_hole(self) -> tuple[int, int] | None:
        return self.holes[self.hole] if 0 <= self.hole < len(self.holes) else None

    # -- helpers over the current hole -------------------------------------------------------
    def _positions(self, m: np.ndarray) -> None:
        """Mark the positions after the current onset where some allowed note still fits."""
        first, start = self.tick + 1, self.start
        if first < self.ticks:
            can = self.rules_now.can_start[start + first : start + self.ticks]
            m[self.pos0 + first : self.pos0 + self.ticks] = can

    def _note_tokens(self, m: np.ndarray) -> None:
        """Mark the pitches above the last one at this onset inside the track's register, if
        another note fits here."""
        rules = self.rules_now
        lo = max(self.last_pitch + 1, rules.low)
        if lo <= rules.high and rules.can_start[self.start + self.tick]:
            m[self.pitch0 + lo : self.pitch0 + rules.high + 1] = True

    # -- the interface ----------------------------------------------------------------------
    def mask(self) -> np.ndarray:
        """Legal next tokens (a fresh array the caller may modify)."""
        kind = self.kind
        if kind == FILL:
            m = self.only["<fill>" if self.hole + 1 < len(self.holes) else "<end>"].copy()
        elif kind == DONE:
            m = self.none.copy()
        elif kind == PITCH:
            rules, t = self.rules_now, self.start + self.tick
            longest = int(rules.next_full[t]) - t
            hi = min(rules.dur_hi, bisect.bisect_right(self.vocab.durations, longest))
            m = self.none.copy()
            m[self.dur0 + rules.dur_lo : self.dur0 + hi] = True
        else:
            if kind in (BAR, NOTE):
                m = self.only["<fill_end>"].copy()
                self._positions(m)
                if kind == NOTE:
                    self._note_tokens(m)
                    if m[self.pitch0 : self.pitch0 + 128].any():
                        m |= self.pre_note
            elif kind == POS and self.velocity and self.cur_vel < 0:
                m = self.all_vel.copy()  # a bar's first note states its velocity
            else:  # after POS, VEL or MT
                m = self.none.copy() if kind == MT else self.pre_note.copy()
                if kind == VEL:
                    m[self.vel0 : self.vel0 + self.vocab.velocity_bins] = False
                self._note_tokens(m)
            if self.velocity and self.cur_vel >= 0 and kind in (NOTE, POS):
                m[self.vel0 + self.cur_vel] = False  # a velocity token always changes it
            if self.mt and self.start + self.tick == 0:
                m[self.mt_family.start : self.mt_early_stop] = False  # nothing before time 0
        self._mask = m
        return m

    def advance(self, token: int) -> FilledBar | None:
        """Take a sampled token; returns the finished bar when the token closes a fill."""
        m = self._mask if self._mask is not None else self.mask()
        self._mask = None
        if not (0 <= token < len(m)) or not m[token]:
            hole = self.current_hole
            raise GrammarError(
                f"token {self.vocab.describe(token)} is not legal here "
                f"(state {self.kind}, hole {hole}, onset {self.tick})"
            )
        v = self.vocab
        if token == self.ids["<fill>"]:
            self.hole += 1
            track, bar = self.holes[self.hole]
            self.rules_now, self.start = self.rules[track], self.bar_starts[bar]
            self.ticks = self.bar_ticks[bar]
            self.kind, self.tick, self.cur_vel, self.notes = BAR, -1, -1, []
        elif token == self.ids["<end>"]:
            self.kind = DONE
        elif token == self.ids["<fill_end>"]:
            track, bar = self.holes[self.hole]
            self.kind = FILL
            return FilledBar(track, bar, self.notes)
        elif token < self.vel0:  # pos
            self.tick, self.last_pitch, self.offset = token - self.pos0, -1, 0
            self.kind = POS
        elif token < self.mt_family.start:  # vel
            self.cur_vel, self.kind = token - self.vel0, VEL
        elif token < self.pitch0:  # mt
            self.offset, self.kind = self.mt_family.values[token - self.mt_family.start], MT
        elif token < self.dur0:  # pitch
            self.pitch, self.kind = token - self.pitch0, PITCH
        else:
            duration = v.durations[token - self.dur0]
            self.rules_now.add(self.start + self.tick, duration)
            vel = self.cur_vel if self.velocity else self.default_vel
            self.notes.append(GridNote(self.tick, self.pitch, duration, vel, self.offset))
            self.last_pitch, self.offset, self.kind = self.pitch, 0, NOTE
        return None
