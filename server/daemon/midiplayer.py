"""The live loop player: which loop sounds, where in the song it is, and when each note goes.

It does no I/O. A backend (midiout.py) calls `process(t_a, t_b, daw)` with its own clock in
seconds (JACK: frames / sample rate; elsewhere: time.monotonic) once per audio period or
whenever something is due, hands it the DAW's clock messages with their times, and sends the
(time, message) pairs it gets back at those times.

Song position follows the MIDI spec: 24 clocks per quarter; Start sets the position to 0,
Continue keeps it, Song Position Pointer (in 16ths) moves it while stopped, and the first Clock
after Start or Continue *is* that position. So a note at song position p goes out with the clock
that reaches 24·p, never the one before. Without the DAW's clock (none heard for
SYNC_TIMEOUT_S) the player free-runs at its own tempo from the loop's first bar.

At song position p a loop plays its offset (p - first bar) mod length: it is always in phase
with its own first bar, after a swap, a stop and start or a jump alike. A loop asked for while
another sounds comes in at the playing loop's next boundary; at every boundary the sounding
notes are released. `/playing` is announced when a loop's first notes are due, so it always
means sound.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable

from .midiloop import NOTE_OFF, NOTE_ON, Follow, Loop

log = logging.getLogger("midigen.midiout")

CONTROL, ALL_NOTES_OFF = 0xB0, 123
CLOCK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
TRANSPORT = (CLOCK, START, CONTINUE, STOP, SONG_POSITION)
SYNC_TIMEOUT_S = 0.5  # the DAW is gone this long after its last clock: the player free-runs
EPS = 1e-6  # quarters: positions closer than this are the same (grid steps are 1/12)
Out = list[tuple[float, tuple[int, ...]]]  # (time in the backend's seconds, MIDI message)


class Player:
    """Thread-safe: the OSC side calls play/stop/set_tempo/forget, the backend process."""

    def __init__(self, on_swap: Callable[[Loop], None] | None = None, tempo: float = 120.0):
        self._lock = threading.RLock()
        self.loop: Loop | None = None  # loaded: sounds whenever a clock source runs
        self.follow: Follow | None = None
        self.pending: tuple[Loop, Follow | None] | None = None  # in at the next boundary
        self.source: str | None = None  # None (silent), "free" or "daw"
        self.tempo = tempo  # free-running quarters per minute
        self.position = 0.0  # song position of the last window's end, quarters
        self.next_tick = 0  # the DAW's song position at its next clock, in clocks
        self.daw_running = False
        self.tick_s: float | None = None  # measured seconds per DAW clock
        self._last_tick: float | None = None  # backend time of the last DAW clock
        self._daw_seen = -math.inf  # time.monotonic() of the last DAW clock or transport
        self._free: list | None = None  # [t0 or None (next window), p0]
        self._cycle: float | None = None  # start of the cycle the loop is in
        self._announced: Loop | None = None
        self._sounding: set[tuple[int, int]] = set()
        self._outbox: list[tuple[int, ...]] = []  # from the OSC side, sent at the next window
        self.wake: Callable[[], None] = lambda: None  # set by the backend
        self._notices: queue.SimpleQueue = queue.SimpleQueue()
        self.on_swap = on_swap
        self._notifier = threading.Thread(target=self._notify, name="midigen-playing", daemon=True)
        self._notifier.start()

    # -- the OSC side -----------------------------------------------------------------------
    @property
    def sounding(self) -> bool:
        return self.source is not None and self.loop is not None

    @property
    def idle(self) -> bool:
        """Nothing to send and no clock to follow (read without the lock: a change shows at
        the next period at worst)."""
        return not self._outbox and self.source is None

    def daw_present(self) -> bool:
        return time.monotonic() - self._daw_seen < SYNC_TIMEOUT_S

    def play(self, loop: Loop, follow: Follow | None = None, tempo: float | None = None) -> str:
        """Load `loop`. Returns what happens: "next boundary" (another loop sounds), "now"
        (free-running, or the DAW runs), or "on start" (the DAW is there but stopped)."""
        with self._lock:
            if tempo is not None:
                self._retempo(tempo)
            if self.sounding:
                self.pending = (loop, follow)
                return "next boundary"
            self.loop, self.follow, self.pending = loop, follow, None
            self._cycle = None
            if self.source == "daw":
                return "now"
            if self.daw_present():
                return "on start"
            self.source, self._free = "free", [None, loop.start]
        self.wake()
        return "now"

    def set_tempo(self, bpm: float) -> None:
        """The free-running tempo, from the next window on (the DAW's clock ignores it)."""
        with self._lock:
            self._retempo(bpm)
        self.wake()

    def _retempo(self, bpm: float) -> None:
        """Free-running, the next window goes on from where the last ended, at `bpm`."""
        if bpm != self.tempo and self.source == "free" and self._free[0] is not None:
            self._free = [None, self.position]
        self.tempo = bpm

    def stop(self) -> None:
        """Unload: release every sounding note, all-notes-off on every channel; nothing plays
        (not even on the DAW's next Start) until the next /play."""
        with self._lock:
            self.loop = self.follow = self.pending = None
            self._cycle = self._announced = None
            if self.source == "free":
                self.source = None
            for ch, pitch in sorted(self._sounding):
                self._outbox.append((NOTE_OFF | ch, pitch, 0))
            self._sounding.clear()
            for ch in range(16):
                self._outbox.append((CONTROL | ch, ALL_NOTES_OFF, 0))
        self.wake()

    def forget(self, owner: object) -> None:
        """A client left: unload its loop if it is loaded (or waiting to come in)."""
        with self._lock:
            if self.pending is not None and self.pending[0].owner == owner:
                self.pending = None
            mine = self.loop is not None and self.loop.owner == owner
        if mine:  # outside the lock: stop wakes the backend, whose thread takes it
            self.stop()

    def close(self) -> None:
        self._notices.put(None)

    # -- the backend --------------------------------------------------------------------------
    def process(self, t_a: float, t_b: float, daw: Iterable[tuple[float, list[int]]] = ()) -> Out:
        """Everything due in [t_a, t_b): the OSC side's messages, the DAW's clock messages (in
        time order, each at its time) and, free-running, the loop's notes in that window."""
        out: Out = []
        with self._lock:
            for msg in self._outbox:
                out.append((t_a, msg))
            self._outbox.clear()
            for t, message in daw:
                self._daw(t, message, out)
            if self.source == "daw" and self.daw_running and not self.daw_present():
                self._lose_daw(t_a)
            if self.source == "free" and self.loop is not None:
                if self._free[0] is None:
                    self._free[0] = t_a
                t0, p0 = self._free
                beat = 60.0 / self.tempo
                self._window(p0 + (t_a - t0) / beat, p0 + (t_b - t0) / beat, t0, p0, beat, out)
        return out

    def next_due(self, now: float) -> float | None:
        """When process has something to do next (a backend without periods sleeps until
        then); None: nothing until the OSC side or the DAW says something."""
        with self._lock:
            if self._outbox:
                return now
            if self.source == "daw" and self.daw_running:
                return now + SYNC_TIMEOUT_S / 2  # to notice a DAW that went away
            if self.source != "free" or self.loop is None or self._free[0] is None:
                return now if self.source == "free" else None
            t0, p0 = self._free
            beat = 60.0 / self.tempo
            p = p0 + (now - t0) / beat
            loop = self.loop
            rel = (p - loop.start) % loop.length
            later = [o for o in loop.offsets if o > rel + EPS]
            step = (later[0] if later else loop.length) - rel
            return now + max(step, 0.0) * beat

    # -- the DAW's clock ----------------------------------------------------------------------
    def _daw(self, t: float, message: list[int], out: Out) -> None:
        status = message[0] if message else 0
        if status not in TRANSPORT:
            return
        self._daw_seen = time.monotonic()
        if status == CLOCK:
            if self._last_tick is not None and 0 < t - self._last_tick < 0.2:
                d = t - self._last_tick
                self.tick_s = d if self.tick_s is None else 0.8 * self.tick_s + 0.2 * d
            self._last_tick = t
            if self.source == "daw" and self.daw_running:
                q = self.next_tick / 24.0
                self.next_tick += 1
                spq = (self.tick_s or 60.0 / self.tempo / 24.0) * 24.0
                self._window(q, q + 1 / 24.0, t, q, spq, out)
        elif status in (START, CONTINUE):
            self._release(t, out)
            if status == START:
                self.next_tick = 0
            self.source, self.daw_running = "daw", True
            self._restart()
        elif status == STOP:
            self.daw_running = False
            if self.source is not None:
                self.source = None
                self._release(t, out)
            self._announced = None
        elif status == SONG_POSITION and len(message) == 3:
            self._release(t, out)
            self.next_tick = (message[1] | message[2] << 7) * 6  # 16ths to clocks
            self._restart()

    def _restart(self) -> None:
        """A start or jump: the waiting loop comes in now, the cycle is found afresh."""
        if self.pending is not None:
            (self.loop, self.follow), self.pending = self.pending, None
        self._cycle = None

    def _lose_daw(self, t: float) -> None:
        """The DAW's clock stopped without a Stop: free-run as if it had gone on ticking at its
        last tempo (the notes of the timeout itself are not sent late)."""
        if self.tick_s:
            self.tempo = min(max(60.0 / (24.0 * self.tick_s), 20.0), 400.0)
        self.daw_running = False
        t0 = t if self._last_tick is None else self._last_tick + 60.0 / self.tempo / 24.0
        self.source, self._free = "free", [t0, self.next_tick / 24.0]
        log.info("the DAW's MIDI clock stopped: free-running at %.1f bpm", self.tempo)

    # -- scheduling ---------------------------------------------------------------------------
    def _window(self, pa: float, pb: float, t0: float, p0: float, beat: float, out: Out) -> None:
        """Send the loop's events at song positions [pa, pb); position p is at time
        t0 + (p - p0) * beat. Crossing into a new cycle releases and maybe swaps."""
        p = pa
        while self.loop is not None and p < pb - EPS:
            loop = self.loop
            cycle = loop.start + math.floor((p - loop.start + EPS) / loop.length) * loop.length
            if self._cycle is not None and abs(cycle - self._cycle) > EPS:
                self._release(t0 + (max(cycle, pa) - p0) * beat, out)
                self._cycle = None
                if self.pending is not None:
                    (self.loop, self.follow), self.pending = self.pending, None
                elif self.follow is not None:
                    self.loop = self.follow(loop) or loop
                continue
            if self._cycle is None:
                self._cycle = cycle
            if self._announced is not loop:
                self._announced = loop
                self._notices.put(loop)
            end = min(pb, cycle + loop.length)
            if end <= p:  # the arithmetic above rules it out; never spin the audio thread
                break
            for offset, _, msg in loop.between(p - cycle - EPS, end - cycle - EPS):
                self._note(t0 + (max(cycle + offset, pa) - p0) * beat, msg, out)
            p = end
        self.position = pb

    def _note(self, t: float, msg: tuple[int, ...], out: Out) -> None:
        key = (msg[0] & 0x0F, msg[1])
        if msg[0] & 0xF0 == NOTE_ON:
            if key in self._sounding:  # retrigger: end the old one first
                out.append((t, (NOTE_OFF | key[0], key[1], 0)))
            self._sounding.add(key)
        elif key in self._sounding:
            self._sounding.discard(key)
        else:
            return  # its note-on was never sent (cut by a jump or a swap)
        out.append((t, msg))

    def _release(self, t: float, out: Out) -> None:
        for ch, pitch in sorted(self._sounding):
            out.append((t, (NOTE_OFF | ch, pitch, 0)))
        self._sounding.clear()

    def _notify(self) -> None:
        """Tell clients on a thread of our own: the backend's may be a real-time one."""
        while (loop := self._notices.get()) is not None:
            if self.on_swap is not None:
                try:
                    self.on_swap(loop)
                except Exception:  # telling the client must never stop the music
                    log.exception("announcing a loop failed")
