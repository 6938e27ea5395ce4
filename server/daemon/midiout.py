"""Live MIDI out backends: where the player's notes leave and the DAW's clock comes in.

- JACK (python `JACK-Client`): one JACK client with two ports, `NAME` (out) and `NAME sync`
  (the DAW's clock in). Everything happens in JACK's process callback: the clock messages of a
  period are read with their frame offsets and each note is written at its own frame, so a note
  on a clock tick leaves at that tick's frame, in the same period when the DAW's client runs
  before ours in JACK's graph (else one period later, as with any JACK feedback path).
  Free-running notes are placed on frames computed from the tempo: no jitter at all.
- ALSA, CoreMIDI (python-rtmidi): a virtual output `NAME` and input `NAME sync`. The clock
  arrives on rtmidi's callback thread and the notes of that tick are sent from it at once;
  free-running, a thread sleeps until the next note is due. Latency: the OS's MIDI latency
  plus the callback's, jitter the thread scheduler's (not measured: no ALSA sequencer where
  this was built).
- Windows (WinMM has no virtual ports): an existing output whose name contains `NAME` (a
  loopMIDI port), free-running only.

`--midi-backend auto` takes JACK when a JACK server runs, else ALSA on Linux, CoreMIDI on macOS.
No backend ever starts a JACK server (a DAW's would be disturbed).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator

from .midiplayer import Player

log = logging.getLogger("midigen.midiout")

BACKENDS = ("auto", "jack", "alsa", "coremidi")


class MidiError(RuntimeError):
    """No MIDI port could be opened; one line for the user."""


class JackBackend:
    """Both ports on one JACK client; the player runs in the process callback."""

    name = "JACK"

    def __init__(self, player: Player, port: str, client: str = "midigen"):
        try:
            import jack
        except (ImportError, OSError) as e:  # OSError: the package is there, libjack is not
            raise MidiError(f"JACK: python JACK-Client or libjack missing ({e})") from None
        os.environ.setdefault("JACK_NO_START_SERVER", "1")
        try:
            with _quiet_stderr():
                self.client = jack.Client(client, no_start_server=True)
        except jack.JackError as e:
            raise MidiError(f"JACK: no server running ({e})") from None
        self.player = player
        self.rate = self.client.samplerate
        self.out = self.client.midi_outports.register(port)
        self.sync = self.client.midi_inports.register(f"{port} sync")
        self._queue: list[tuple[int, int, tuple[int, ...]]] = []  # (frame, order, message)
        self._order = itertools.count()
        self._errors = 0
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        try:
            start = self.client.last_frame_time
            end = start + frames
            daw = [
                ((start + offset) / self.rate, list(bytes(data)))
                for offset, data in self.sync.incoming_midi_events()
            ]
            self.out.clear_buffer()
            if not daw and not self._queue and self.player.idle:
                return  # nothing loaded or running: the cheapest possible period
            for t, msg in self.player.process(start / self.rate, end / self.rate, daw):
                heapq.heappush(self._queue, (round(t * self.rate), next(self._order), msg))
            while self._queue and self._queue[0][0] < end:
                frame, _, msg = self._queue[0]
                self.out.write_midi_event(max(frame - start, 0), msg)
                heapq.heappop(self._queue)
        except Exception as e:  # a full buffer waits for the next period; a bug is logged once
            self._errors += 1
            if self._errors == 1:
                log.warning("JACK process: %s: %s", type(e).__name__, e)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


class RtBackend:
    """python-rtmidi ports: the clock through rtmidi's callback, free-running on a thread that
    sleeps until the player's next note (or until woken by a change)."""

    def __init__(self, player: Player, out: object, clock: object | None, name: str):
        self.player, self.out, self.clock, self.name = player, out, clock, name
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._closed = False
        self._last = time.monotonic()
        player.wake = self._wake
        self._thread = threading.Thread(target=self._run, name="midigen-midi", daemon=True)
        self._thread.start()
        if clock is not None:
            clock.set_callback(self._on_clock)

    def _on_clock(self, event: tuple[list[int], float], data: object = None) -> None:
        now = time.monotonic()
        self._send(self.player.process(now, now, [(now, event[0])]))
        self._wake()  # the next due time may have changed

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                self._send(self.player.process(self._last, now + 1e-4))
                self._last = now + 1e-4
                due = self.player.next_due(now)
                self._cond.wait(None if due is None else max(0.0, due - time.monotonic()))

    def _send(self, out: list[tuple[float, tuple[int, ...]]]) -> None:
        """Send now; a note due later (between clock ticks) waits on a timer."""
        for t, msg in out:
            delay = t - time.monotonic()
            if delay > 0.001:
                threading.Timer(delay, self._send, [[(0.0, msg)]]).start()
                continue
            with self._send_lock:
                try:
                    self.out.send_message(list(msg))
                except Exception as e:  # a port that went away must not stop the server
                    log.warning("MIDI out: %s", e)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(1)
        for port in (self.clock, self.out):
            if port is not None:
                port.close_port()


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


def _rtmidi(player: Player, port: str, api_name: str) -> RtBackend:
    import rtmidi

    api = {"alsa": rtmidi.API_LINUX_ALSA, "coremidi": rtmidi.API_MACOSX_CORE}.get(api_name)
    if api is None:  # Windows: the only API, and no virtual ports
        api = rtmidi.API_WINDOWS_MM
    if api not in rtmidi.get_compiled_api():
        raise MidiError(f"{api_name}: not available on this system")
    label = rtmidi.get_api_display_name(api)
    try:
        with _quiet_stderr():
            out = rtmidi.MidiOut(rtapi=api, name="midigen")
        try:
            out.open_virtual_port(port)
        except (NotImplementedError, rtmidi.RtMidiError):
            ports = [i for i, p in enumerate(out.get_ports()) if port.lower() in p.lower()]
            if not ports:
                raise MidiError(f"{label}: no virtual ports and no port named {port}") from None
            out.open_port(ports[0])
            return RtBackend(player, out, None, label)
        clock = rtmidi.MidiIn(rtapi=api, name="midigen")
        clock.ignore_types(sysex=True, timing=False, active_sense=True)
        clock.open_virtual_port(f"{port} sync")
        return RtBackend(player, out, clock, label)
    except rtmidi.RtMidiError as e:
        raise MidiError(f"{label}: {str(e).strip()}") from None


def open_backend(player: Player, port: str, backend: str = "auto") -> JackBackend | RtBackend:
    """Open `port` (and `port sync`) on `backend`; MidiError names what each one tried said."""
    if backend not in BACKENDS:
        raise MidiError(f"--midi-backend {backend}: one of {', '.join(BACKENDS)}")
    if backend == "auto":
        tries = {"darwin": ["coremidi"], "win32": ["winmm"]}.get(sys.platform, ["jack", "alsa"])
    else:
        tries = [backend]
    errors = []
    for name in tries:
        try:
            if name == "jack":
                return JackBackend(player, port)
            return _rtmidi(player, port, name)
        except MidiError as e:
            errors.append(str(e))
    raise MidiError("--midi-out: no MIDI port could be opened (" + "; ".join(errors) + ")")
