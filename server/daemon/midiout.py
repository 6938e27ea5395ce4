"""Live MIDI out: a loop job's bars played on a virtual MIDI port, each new variation swapped in
at a loop boundary, following the DAW's MIDI clock or free-running at a tempo sent over OSC.

Song position is in quarter notes. The loop's cycle 0 starts at the loop's first bar, so a DAW
playing the song with MIDI clock hears the loop in phase with its own bars; a swapped-in loop
starts its cycle at the boundary where it came in. Every note-on is paired with a note-off:
notes are cut at the loop end, a boundary, a jump (song position pointer) and stop release what
still sounds, and stop also sends all-notes-off on all 16 channels.

MIDI clock is 24 ticks per quarter and the token grid is 12 ticks per quarter, so with clock
sync every grid note falls exactly on a clock tick and is sent when that tick arrives.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ..language.piece import Note

log = logging.getLogger("midigen.midiout")

NOTE_ON, NOTE_OFF, CONTROL = 0x90, 0x80, 0xB0
ALL_NOTES_OFF = 123
CLOCK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
MELODIC_CHANNELS = [c for c in range(16) if c != 9]


class MidiError(RuntimeError):
    """No MIDI port could be opened; one line for the user."""


def channel(track: int, is_drum: bool) -> int:
    """Drums on channel 10 (9 here), other tracks on the remaining 15 channels in track order."""
    return 9 if is_drum else MELODIC_CHANNELS[track % len(MELODIC_CHANNELS)]


@dataclass(frozen=True)
class Loop:
    owner: object  # who to tell when it starts playing (the client)
    job: int
    variation: int  # 1-based
    start: float  # the loop's first bar in the piece, quarters
    length: float  # quarters
    events: tuple[tuple[float, int, tuple[int, ...]], ...]  # (offset, 0 off / 1 on, message)

    @property
    def offsets(self) -> list[float]:
        return [e[0] for e in self.events]


def build_loop(
    owner: object,
    job: int,
    variation: int,
    start: float,
    length: float,
    tracks: Iterable[tuple[int, bool, Iterable[Note]]],
) -> Loop:
    """A loop from (track, is_drum, notes) with piece times; notes are cut at the loop end."""
    events = []
    for track, is_drum, notes in tracks:
        ch = channel(track, is_drum)
        for n in notes:
            on = n.start - start
            if not 0 <= on < length:
                continue
            off = min(n.start + n.duration - start, length)
            events.append((on, 1, (NOTE_ON | ch, n.pitch, n.velocity)))
            events.append((off, 0, (NOTE_OFF | ch, n.pitch, 0)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))  # offs before ons at the same time
    return Loop(owner, job, variation, start, length, tuple(events))


class Player:
    """Plays the current loop; thread-safe. `out` is anything with send_message(list)."""

    def __init__(self, out: object, on_swap: Callable[[Loop], None] | None = None):
        self.out, self.on_swap = out, on_swap
        self._lock = threading.RLock()
        self.loop: Loop | None = None
        self.pending: Loop | None = None
        self.playing = False
        self.synced = False  # True once the DAW's MIDI clock is heard
        self.tempo = 120.0
        self.tempo_set = False  # an OSC /tempo wins over the piece's tempo
        self.position = 0.0  # song position, quarters
        self._anchor = 0.0  # song position where the current loop's cycle 0 starts
        self._sounding: set[tuple[int, int]] = set()
        self._t0, self._p0 = time.monotonic(), 0.0
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="midigen-midi", daemon=True)
        self._thread.start()

    # -- control (OSC side) -----------------------------------------------------------------
    def play(self, loop: Loop) -> None:
        """Loop `loop`: at once when stopped, else from the next loop boundary."""
        with self._lock:
            if self.playing and self.loop is not None:
                self.pending = loop
                return
            self.loop, self.pending = loop, None
            self._anchor = loop.start
            if not self.synced:  # free-running until the DAW's clock is heard
                self._restart(loop.start)
                self.playing = True
            elif self.playing:  # the DAW is playing: join at its position
                self._emit_at(self.position)
            self._announce(loop)
        self._wake.set()

    def offer(self, loop: Loop) -> None:
        """A new variation finished: swap it in at the next boundary if this loop is playing."""
        with self._lock:
            if self.playing and self.loop is not None and self.loop.owner == loop.owner:
                self.pending = loop

    def set_tempo(self, bpm: float, explicit: bool = True) -> None:
        with self._lock:
            if not explicit and self.tempo_set:
                return
            if self.playing and not self.synced and self.loop is not None:
                self._advance(self._now_position())
                self._restart(self.position)
            self.tempo, self.tempo_set = bpm, self.tempo_set or explicit
        self._wake.set()

    def stop(self) -> None:
        """Stop: release every sounding note and send all-notes-off on every channel."""
        with self._lock:
            self.playing = False
            self._release()
            for ch in range(16):  # one message a channel: a JACK period holds ~40 events
                self._send((CONTROL | ch, ALL_NOTES_OFF, 0))
        self._wake.set()

    def close(self) -> None:
        self.stop()
        self._closed = True
        self._wake.set()
        self._thread.join(1)

    # -- the DAW's clock (MIDI input callback) ----------------------------------------------
    def on_midi(self, event: tuple[list[int], float], data: object = None) -> None:
        message = event[0]
        if not message:
            return
        status = message[0]
        with self._lock:
            if status in (CLOCK, START, CONTINUE, STOP, SONG_POSITION):
                self.synced = True
            if status == CLOCK and self.playing:
                self._advance(self.position + 1 / 24)
            elif status == START:
                self._release()
                self.position, self.playing = 0.0, True
                if self.loop is not None:
                    self._emit_at(self.position)
            elif status == CONTINUE:
                self.playing = True
            elif status == STOP:
                self.playing = False
                self._release()
            elif status == SONG_POSITION and len(message) == 3:
                self._release()
                self.position = (message[1] | message[2] << 7) / 4.0  # in 16ths
                if self.playing and self.loop is not None:
                    self._emit_at(self.position)

    # -- free-running ------------------------------------------------------------------------
    def _now_position(self) -> float:
        return self._p0 + (time.monotonic() - self._t0) * self.tempo / 60.0

    def _restart(self, position: float) -> None:
        self._t0, self._p0 = time.monotonic(), position
        self.position = position

    def _run(self) -> None:
        """Free-running clock: sleep until the next event (at most 10 ms), then send it."""
        first = True
        while not self._closed:
            delay = 0.01
            with self._lock:
                if self.playing and not self.synced and self.loop is not None:
                    if first:
                        self._emit_at(self.position)
                    self._advance(self._now_position())
                    gap = self._to_next_event()
                    delay = min(delay, max(0.0, gap * 60.0 / self.tempo))
                    first = False
                else:
                    first = True
            self._wake.wait(delay)
            self._wake.clear()

    # -- scheduling ---------------------------------------------------------------------------
    def _emit_at(self, position: float) -> None:
        """Send the events lying exactly at `position` (a start or a jump lands on them)."""
        loop = self.loop
        offset = (position - self._anchor) % loop.length
        for at, _, msg in loop.events:
            if math.isclose(at, offset, abs_tol=1e-9):
                self._note(msg)
        self.position = position + 1e-9

    def _advance(self, new: float) -> None:
        """Send every event in (position, new], swapping loops at boundaries."""
        cur = self.position
        while self.loop is not None and cur < new:
            loop = self.loop
            cycle = math.floor((cur - self._anchor) / loop.length + 1e-9)
            cycle_start = self._anchor + cycle * loop.length
            cycle_end = cycle_start + loop.length
            end = min(new, cycle_end)
            offsets = loop.offsets
            lo = bisect.bisect_right(offsets, cur - cycle_start + 1e-9)
            hi = bisect.bisect_right(offsets, end - cycle_start + 1e-9)
            for _, _, msg in loop.events[lo:hi]:
                self._note(msg)
            if end >= cycle_end - 1e-9:  # a boundary: release, swap, start the next cycle
                self._release()
                self._anchor = cycle_end
                if self.pending is not None:
                    self.loop, self.pending = self.pending, None
                    self._announce(self.loop)
                for at, _, msg in self.loop.events:  # events at offset 0 of the new cycle
                    if at > 1e-9:
                        break
                    self._note(msg)
            cur = end
        self.position = max(self.position, new)

    def _to_next_event(self) -> float:
        loop = self.loop
        offset = (self.position - self._anchor) % loop.length
        i = bisect.bisect_right(loop.offsets, offset + 1e-9)
        return (loop.offsets[i] if i < len(loop.events) else loop.length) - offset

    # -- output -------------------------------------------------------------------------------
    def _note(self, msg: tuple[int, ...]) -> None:
        key = (msg[0] & 0x0F, msg[1])
        if msg[0] & 0xF0 == NOTE_ON:
            if key in self._sounding:  # retrigger: end the old one first
                self._send((NOTE_OFF | key[0], key[1], 0))
            self._sounding.add(key)
        elif key in self._sounding:
            self._sounding.discard(key)
        else:
            return  # its note-on was never sent (cut by a jump or a swap)
        self._send(msg)

    def _release(self) -> None:
        for ch, pitch in sorted(self._sounding):
            self._send((NOTE_OFF | ch, pitch, 0))
        self._sounding.clear()

    def _send(self, msg: tuple[int, ...]) -> None:
        try:
            self.out.send_message(list(msg))
        except Exception as e:  # a port that went away must not stop the server
            log.warning("MIDI out: %s", e)

    def _announce(self, loop: Loop) -> None:
        if self.on_swap is not None:
            try:
                self.on_swap(loop)
            except Exception:  # telling the client must never stop the music
                log.exception("announcing a loop failed")


class LoopBook:
    """Finished variations of loop jobs, assembled from the bars the worker streams, so /play
    can start any of them and a playing loop can take each new one at its next boundary."""

    KEEP = 64  # finished loops remembered (all clients)

    def __init__(self, player: Player):
        self.player = player
        self._bars: dict[tuple, list] = {}
        self.loops: collections.OrderedDict[tuple, Loop] = collections.OrderedDict()

    def add_bar(self, owner: object, job: int, piece: object, request: object, bar: object) -> None:
        """Called by the worker for every finished bar (generation.BarDone) of every job."""
        if request.mode != "loop":
            return
        cells = sum(s.last_bar - s.first_bar + 1 for s in request.selection)
        key = (owner, job, int(bar.variation) + 1)
        bars = self._bars.setdefault(key, [])
        bars.append(bar)
        if len(bars) < cells:
            return
        del self._bars[key]
        start, end = min(b.start for b in bars), max(b.end for b in bars)
        tracks = [(int(b.track), piece.tracks[b.track].is_drum, b.notes) for b in bars]
        loop = build_loop(owner, job, key[2], start, end - start, tracks)
        self.loops[key] = loop
        while len(self.loops) > self.KEEP:
            self.loops.popitem(last=False)
        self.player.offer(loop)

    def get(self, owner: object, job: int, variation: int) -> Loop | None:
        """Variation 1..K of a job, or 0 for the newest finished one."""
        if variation:
            return self.loops.get((owner, job, variation))
        mine = [k for k in self.loops if k[:2] == (owner, job)]
        return self.loops[mine[-1]] if mine else None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """ALSA and JACK print to fd 2 while we probe them; their errors come back as exceptions."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class InputPoller:
    """Reads a MIDI input on a Python thread and hands each message to `handler`.

    Not rtmidi's `set_callback`: that runs Python on the MIDI backend's own thread, and JACK
    cancels its client threads when a client closes; a thread cancelled while taking the GIL
    leaves it locked and the whole process hangs (seen in this project's tests). Polling every
    half millisecond keeps Python off JACK's threads for a latency far below a clock tick.
    """

    def __init__(self, port: object, handler: Callable[[tuple[list[int], float]], None]):
        self.port, self.handler = port, handler
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="midigen-midi-in", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            event = self.port.get_message()
            if event:
                self.handler(event)
            else:
                time.sleep(0.0005)

    def close(self) -> None:
        """Stop reading (before the port is closed)."""
        self._stop.set()
        self._thread.join(1)


def open_ports(name: str, apis: Iterable[int] | None = None) -> tuple[object, object | None, str]:
    """A virtual output `name` and a virtual clock input `name sync`, on the first MIDI API that
    works (ALSA, then JACK on Linux; CoreMIDI on macOS). Where virtual ports do not exist
    (Windows), an existing output whose name contains `name` (a loopMIDI port) is opened and
    there is no clock input. `apis` narrows the choice (tests ask for JACK).
    Returns (out, clock_in, api name)."""
    import rtmidi

    os.environ.setdefault("JACK_NO_START_SERVER", "1")  # never start a JACK server behind a DAW
    errors = []
    for api in rtmidi.get_compiled_api() if apis is None else apis:
        if api == rtmidi.API_RTMIDI_DUMMY:
            continue
        api_name = rtmidi.get_api_display_name(api)
        try:
            with _quiet_stderr():
                out = rtmidi.MidiOut(rtapi=api, name="midigen")
            try:
                out.open_virtual_port(name)
            except (NotImplementedError, rtmidi.RtMidiError):
                ports = [i for i, p in enumerate(out.get_ports()) if name.lower() in p.lower()]
                if not ports:
                    raise MidiError(
                        f"{api_name}: no virtual ports and no port named {name}"
                    ) from None
                out.open_port(ports[0])
                return out, None, api_name
            clock = rtmidi.MidiIn(rtapi=api, name="midigen")
            clock.ignore_types(sysex=True, timing=False, active_sense=True)
            clock.open_virtual_port(f"{name} sync")
            return out, clock, api_name
        except (rtmidi.RtMidiError, MidiError) as e:
            errors.append(f"{api_name}: {str(e).strip()}")
    raise MidiError("--midi-out: no MIDI port could be opened (" + "; ".join(errors) + ")")
