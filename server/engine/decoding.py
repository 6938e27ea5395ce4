"""Decoding one window step for all variations at once: the engine steps, each sampled token
masked by its row's grammar, and the rules around them.

- Priors: before sampling, probability moves inside the onset-position and pitch families
  toward the rhythm and pitch classes around the hole (docs/language.md, "Sampling").
- Budgets: a bar over `max_bar_tokens`, or a context about to fill, is closed.
- Density steering: a bar is kept within one density level of its track's request by refusing
  to end it below the band's note count and refusing new notes at the top (prompts.py computes
  the band); under a one-voice limit, a note may not be so long that the missing notes could no
  longer follow it. Density is a control the model is trained on; steering makes it one the user can
  rely on, the way the grammar makes polyphony and note lengths hard limits.
- Retries (MIDI-GPT's rule): a bar identical to the original, or empty where the density asks for
  notes, is sampled again at a higher temperature, by rewinding that row only.

`done` is the generation's Done event, counting tokens and retries as they happen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

from ..language.grammar import NOTE, PITCH, FilledBar, Grammar
from ..language.piece import Piece
from ..language.windows import Step
from . import prompts
from .sampling import sample
from .session import Engine

RETRY_ROOM = 64  # retries only while at least this much context is left


class Cancel(Protocol):
    def is_set(self) -> bool: ...


class StepDecoder:
    """One window step for all variations: batched decoding, budgets, density steering, retries."""

    def __init__(
        self,
        engine: Engine,
        pieces: list[Piece],
        step: Step,
        request: object,
        rngs: list[np.random.Generator],
        keep: bool = False,
    ):
        """`keep`: the engine keeps this step's prompt cache (a request's first step, which
        the same request sent again repeats)."""
        vocab = self.vocab = engine.vocab
        self.keep = keep
        self.engine, self.request, self.rngs = engine, request, rngs
        ranges = getattr(request, "pitch_range", {})
        self.registers = [ranges.get(track) for track in step.tracks]  # resolved by generate
        self.options = request.sampling
        self.step_prompts = [prompts.build(vocab, p, step, request) for p in pieces]
        self.prompts = [sp.tokens for sp in self.step_prompts]
        self.grammars = [self._grammar(v) for v in range(len(pieces))]
        self.history: list[list[int]] = [[] for _ in pieces]
        self.notes = np.zeros(len(pieces), np.int64)  # notes so far in each row's current bar
        self.fill, self.fill_end = vocab.special("<fill>"), vocab.special("<fill_end>")
        self.pos, self.pitch, self.dur = vocab["pos"], vocab["pitch"], vocab["dur"]
        self.vel = vocab["vel"]
        self.dur_ticks = np.array(vocab.durations)
        self.pitch_values = np.array(self.pitch.values)
        self.sixteenth = max(1, vocab.ticks_per_quarter // 4)
        self.onset = np.zeros(len(vocab), bool)  # the tokens that begin another note
        for family in ("pos", "vel", "pitch"):
            self.onset[vocab[family].start : vocab[family].stop] = True

    def bars(self, cancel: Cancel | None, done: object) -> Iterator[tuple[int, FilledBar, int]]:
        engine, options, k = self.engine, self.options, len(self.grammars)
        temperatures = np.full(k, options.temperature)
        attempts = np.ones(k, np.int64)
        bar_tokens = np.zeros(k, np.int64)
        marks: list[tuple[int, int, int, np.ndarray] | None] = [None] * k
        logits = engine.prefill(self.prompts, self.keep, None if cancel is None else cancel.is_set)
        if logits is None:
            done.cancelled = True
            return
        while True:
            if cancel is not None and cancel.is_set():
                done.cancelled = True
                return
            masks = [
                None if g.done else self._budget(v, g, bar_tokens[v], g.mask())
                for v, g in enumerate(self.grammars)
            ]
            if all(m is None for m in masks):
                return
            tokens = sample(self._priors(logits, masks), masks, temperatures, options, self.rngs)
            feed = np.array([m is not None for m in masks])
            replay: dict[int, np.ndarray] = {}
            for v in np.flatnonzero(feed):
                tok = int(tokens[v])
                filled = self.grammars[v].advance(tok)
                self.history[v].append(tok)
                self.notes[v] += self.pitch.start <= tok < self.pitch.stop
                bar_tokens[v] += 1
                done.tokens += 1
                if filled is None:
                    continue
                if attempts[v] <= options.retries and self._retry(v, filled):
                    mark, kept, saved = marks[v]
                    engine.rewind(v, mark)
                    self._replay(v, kept)
                    feed[v], replay[v] = False, saved
                    attempts[v] += 1
                    temperatures[v] += options.retry_temperature
                    done.retries += 1
                else:
                    yield v, filled, int(attempts[v])
                    attempts[v], temperatures[v] = 1, options.temperature
                bar_tokens[v] = self.notes[v] = 0
            feed &= np.array([not g.done for g in self.grammars])
            if all(g.done for g in self.grammars):
                return
            if feed.any():
                logits = engine.step(tokens, feed)
            for v in np.flatnonzero(feed):
                if tokens[v] == self.fill:  # a bar starts: where a retry would come back to
                    marks[v] = (engine.mark(v), len(self.history[v]), logits[v].copy())
            for v, saved in replay.items():
                logits[v] = saved

    def _priors(self, logits: np.ndarray, masks: list) -> np.ndarray:
        """Logits with the rhythm and harmony priors applied to each row's legal tokens.

        Rhythm: an onset position loses `rhythm` nats times the share of the hole's track's
        context bars that do not use it, and under a one-voice limit a note's duration loses
        half that times the largest share among the positions it would ring over (`_hold`).
        Harmony: a pitch loses `harmony` nats times how much rarer its pitch class is around
        the hole than the commonest one. Each family's legal tokens keep their total
        probability, so whether another note comes (and so the density) stays the model's
        choice; only where it lands, which pitch it takes and how long it is move.
        Drum tracks get no harmony; the rhythm prior picks their kit pieces too (`_kit`, at
        twice its strength), which may also make a further note at the same onset rarer."""
        rhythm, harmony = self.options.rhythm, self.options.harmony
        if rhythm <= 0 and harmony <= 0:
            return logits
        out = logits.copy()  # the engine's own array is replayed by retries: left as it is
        for v, m in enumerate(masks):
            hole = None if m is None else self.grammars[v].current_hole
            if hole is None:
                continue
            prompt = self.step_prompts[v]
            share = prompt.rhythms.get(hole) if rhythm > 0 else None
            if share is not None:
                ticks = np.flatnonzero(m[self.pos.start : self.pos.start + len(share)])
                _lean(out[v], self.pos.start + ticks, rhythm * (1.0 - share[ticks]))
            classes = prompt.harmonies.get(hole[0]) if harmony > 0 else None
            if classes is not None:
                ids = np.flatnonzero(m[self.pitch.start : self.pitch.stop])
                _lean(out[v], self.pitch.start + ids,
                      harmony * (1.0 - classes[self.pitch_values[ids] % 12]))  # fmt: skip
            kit = prompt.kits.get(hole) if rhythm > 0 else None
            grammar = self.grammars[v]
            if kit is not None:
                self._kit(v, out[v], m, kit, share, 2 * rhythm)
            elif share is not None and grammar.kind == PITCH and grammar.rules_now.limit == 1:
                self._hold(out[v], m, grammar.tick, _skipped(share, grammar.tick), rhythm / 2)
        return out

    def _kit(self, v: int, row: np.ndarray, m: np.ndarray, kit: np.ndarray,
             onsets: np.ndarray, nats: float) -> None:  # fmt: skip
        """Lean row v's drum hit toward what its context bars play (prompts.kits; `onsets` is
        the share with an onset at each tick, prompts.rhythms), at `nats`:
        - the next onset does not jump over a position they play (a position loses `nats` times
          the largest share among the ticks it would skip);
        - a key leans toward the keys they play at this onset (at any onset where none plays
          at this one), and loses the largest share among the legal keys below it (half of it
          where none plays at this onset): an onset's notes go up, so it rules them out; the
          keys keep their total probability;
        - after a note, another one at this onset (the keys still allowed and the velocity
          that may precede one) loses what the best of those keys lacks, and moving on (the
          next onset, or the bar's end) loses what it has;
        - ending the bar (after a note, or before any) loses the largest share among the ticks
          after this one;
        - a hit's duration loses the largest share among the ticks it would ring over: under a
          one-voice limit a kick held for a beat and a half rules out the next beat's kick.
        The model, trained on pitched parts, would otherwise stack chords of kit pieces, stop
        early, hold hits over the next beat and leave bars of a steady groove empty."""
        grammar = self.grammars[v]
        tick, length = grammar.tick, len(kit) - 1
        skipped = _skipped(onsets, tick)
        if grammar.kind == PITCH:  # its duration comes next
            self._hold(row, m, tick, skipped, nats)
            return
        ticks = np.flatnonzero(m[self.pos.start : self.pos.start + length])
        if len(ticks):  # the next onset: no jumping over a position the bars around play
            _lean(row, self.pos.start + ticks, nats * skipped[ticks])
        here = 0 <= tick < length and kit[tick].any()
        keys = kit[tick] if here else kit[-1]
        ids = np.flatnonzero(m[self.pitch.start : self.pitch.stop])
        share = keys[self.pitch_values[ids]]
        # an onset's keys go up: a key rules out the legal keys below it for this onset
        below = np.maximum.accumulate(np.concatenate([[0.0], share[:-1]]))
        penalty = nats * (1.0 - share) + (nats if here else nats / 2) * below
        if m[self.fill_end]:  # after a note, or at the bar's start (tick -1)
            row[self.fill_end] -= nats * skipped[-1]
        if grammar.kind == NOTE:
            row[self.pitch.start + ids] -= penalty
            row[self.vel.start : self.vel.stop] -= nats * (1.0 - share.max(initial=0.0))
            if here:  # moving on leaves out the keys still to come at this onset
                row[self.pos.start : self.pos.stop] -= nats * share.max(initial=0.0)
                row[self.fill_end] -= nats * share.max(initial=0.0)
            return
        _lean(row, self.pitch.start + ids, penalty)

    def _hold(self, row: np.ndarray, m: np.ndarray, tick: int, skipped: np.ndarray,
              nats: float) -> None:  # fmt: skip
        """Lean the durations of a note at `tick` (mask `m`): each loses `nats` times the
        largest onset share among the positions it would ring over (`skipped`, from _skipped),
        within the bar; the durations keep their total probability. Under a one-voice limit a
        held note rules those onsets out, and the rhythm prior on positions comes too late."""
        ids = np.flatnonzero(m[self.dur.start : self.dur.stop])
        ends = np.minimum(tick + self.dur_ticks[ids], len(skipped) - 1)
        _lean(row, self.dur.start + ids, nats * skipped[ends])

    def _steer(self, v: int, m: np.ndarray) -> np.ndarray:
        """Keep row v's bar within one density level of its track's request: no <fill_end>
        below the band's note count, no new note at its top. Only ever narrows the grammar's
        mask to a non-empty subset, so the grammar's guarantee of no dead ends still holds (a
        bar with no room left for the notes the band wants gets as many as fit)."""
        grammar = self.grammars[v]
        hole = grammar.current_hole
        band = None if hole is None else self.step_prompts[v].bands.get(hole[0])
        if band is None:
            return m
        lo, hi = band
        tries = []
        if grammar.kind == PITCH:
            if grammar.rules_now.limit == 1:
                tries.append(self._one_voice_durations(v, m, lo))
        elif self.notes[v] < lo:
            # no end yet, and no onset so late that the missing notes could not follow it (a
            # model that jumps ahead would otherwise run out of bar); where a context note or
            # the limits leave too little room, no end yet all the same
            open_ = m.copy()
            open_[self.fill_end] = False
            early = open_.copy()
            early[self.pos.start + max(self._latest(grammar.ticks, lo - self.notes[v]) + 1, 0) :
                  self.pos.stop] = False  # fmt: skip
            tries += [early, open_]
        elif hi is not None and self.notes[v] >= hi:
            tries.append(m & ~self.onset)
        return next((t for t in tries if t.any()), m)

    def _latest(self, bar_ticks: int, need: int) -> int:
        """The last onset in a bar of `bar_ticks` from which `need` notes fit on a 16th grid."""
        return bar_ticks - 1 - (need - 1) * self.sixteenth

    def _one_voice_durations(self, v: int, m: np.ndarray, lo: int) -> np.ndarray:
        """Under a one-voice limit, the durations (of mask `m`) that leave room for the band:
        a note ends where the notes still wanted after it fit (a melody of long notes would
        otherwise fill the bar before the band is reached; at least a 16th, so where they
        cannot all fit as many as can), and rings into the track's next selected bar only as
        far as that bar's own band leaves room."""
        grammar = self.grammars[v]
        track, bar = grammar.current_hole
        longest = grammar.window_end
        if self.notes[v] < lo:
            longest = max(self._latest(grammar.ticks, lo - self.notes[v]) - grammar.tick,
                          self.sixteenth)  # fmt: skip
        if lo > 0 and (track, bar + 1) in grammar.holes[grammar.hole + 1 :]:
            room = self._latest(grammar.bar_ticks[bar + 1], lo)
            longest = min(longest, grammar.ticks + room - grammar.tick)
        shorter = m.copy()
        shorter[self.dur.start : self.dur.stop] &= self.dur_ticks <= longest
        return shorter

    def _budget(self, v: int, grammar: Grammar, bar_tokens: int, m: np.ndarray) -> np.ndarray:
        """Row v's mask: the grammar's mask `m` steered for density, unless the bar is over its
        token budget or the context is nearly full (a random or confused model could otherwise
        run on). Then the bar is closed on the grammar's own mask, steering ignored: steering
        that still wants notes would otherwise keep a dense bar open (more pitches at the same
        onset) until the context overflows."""
        holes_left = len(grammar.holes) - grammar.hole - 1
        short = self.engine.room() <= 2 * holes_left + 8
        if grammar.current_hole is None or not (short or bar_tokens >= self.options.max_bar_tokens):
            return self._steer(v, m)
        if m[self.fill_end]:  # a new array: m may be the grammar's own cached mask
            m = np.zeros_like(m)
            m[self.fill_end] = True
        else:  # mid-note: finish it (a duration) but start nothing new: no onset, pitch, velocity
            closing = m & ~self.onset
            if closing.any():
                m = closing
        return m

    def _retry(self, v: int, filled: FilledBar) -> bool:
        """MIDI-GPT's rule: resample a bar identical to the original, or empty where the
        track's density asks for notes, while there is context left to do it."""
        if self.engine.room() < RETRY_ROOM:
            return False
        original = self.step_prompts[v].originals[(filled.track, filled.bar)]
        if not filled.notes:
            return self.step_prompts[v].wants_notes.get(filled.track, False)
        return bool(original) and list(filled.notes) == list(original)

    def _grammar(self, v: int) -> Grammar:
        """Row v's grammar, told about the notes that ring into the window from bars before it:
        the window drops them, but the polyphony limit must count them (a long note written by
        an earlier step would otherwise let a later step stack notes over it)."""
        grammar = Grammar(self.vocab, self.prompts[v], self.registers)
        for t, ticks in self.step_prompts[v].ring_in:
            grammar.ring_in(t, ticks)
        return grammar

    def _replay(self, v: int, kept: int) -> None:
        """Rebuild row v's grammar at the bar start (just after its <fill>) by replaying."""
        grammar = self._grammar(v)
        for tok in self.history[v][:kept]:
            grammar.advance(tok)
        self.grammars[v] = grammar
        del self.history[v][kept:]


def _skipped(onsets: np.ndarray, tick: int) -> np.ndarray:
    """skipped[t], for t up to the bar's length: the largest of `onsets` (a share per tick)
    strictly between `tick` and t, i.e. what a next onset at t, or a note ending at t, passes
    over."""
    after = np.asarray(onsets, np.float64).copy()
    after[: tick + 1] = 0.0
    return np.maximum.accumulate(np.concatenate([[0.0], after]))


def _lean(row: np.ndarray, ids: np.ndarray, penalty: np.ndarray) -> None:
    """Lower `row`'s `ids` by `penalty` in place, then shift them together so they keep their
    total probability mass."""
    if len(ids) == 0:
        return
    x = row[ids].astype(np.float64)
    y = x - penalty
    row[ids] = y + (np.logaddexp.reduce(x) - np.logaddexp.reduce(y))
