"""Test-side JACK peers for the live MIDI out: a private `jackd -d dummy` server, a stand-in DAW
that writes MIDI clock and transport at exact frames, and a recorder that keeps what arrives
with its frame time. Timing is asserted on these frames, never on wall-clock arrival."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

RATE, PERIOD = 48000, 256


@contextmanager
def jack_server() -> Iterator[str]:
    """A JACK server of our own (unique name, dummy driver, synchronous so a late Python client
    delays the cycle instead of shifting its frames), stopped by its pid."""
    if not shutil.which("jackd"):
        if os.environ.get("MIDIGEN_REQUIRE_PEERS"):
            pytest.fail("jackd missing: apt-get install jackd2")
        pytest.skip("jackd (Debian package jackd2) not installed")
    name = f"midigen-test-{os.getpid()}-{time.monotonic_ns()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JACK_DEFAULT_SERVER", name)
        mp.setenv("JACK_NO_START_SERVER", "1")
        proc = subprocess.Popen(
            ["jackd", "--no-realtime", "--sync", "-t", "5000", "-n", name,
             "-d", "dummy", "-r", str(RATE), "-p", str(PERIOD)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            subprocess.run(["jack_wait", "-w", "-t", "10"], check=True, capture_output=True)
            yield name
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Daw:
    """Writes a script of (frame, message) at exact frames, counted from a base frame set at
    the period after `send` is called; `sent` keeps the absolute frames."""

    def __init__(self, connect_to: str):
        import jack

        self.client = jack.Client("daw", no_start_server=True)
        self.port = self.client.midi_outports.register("out")
        self.lock = threading.Lock()
        self.script: list[tuple[int, list[int]]] = []
        self.base: int | None = None
        self.sent: list[tuple[int, list[int]]] = []
        self.client.set_process_callback(self._process)
        self.client.activate()
        self.client.connect(self.port, connect_to)

    def send(self, script: list[tuple[int, list[int]]]) -> None:
        """Queue messages at frames relative to the next period's first frame."""
        with self.lock:
            self.script, self.base = sorted(script, key=lambda e: e[0]), None

    def _process(self, frames: int) -> None:
        start = self.client.last_frame_time
        self.port.clear_buffer()
        with self.lock:
            if not self.script:
                return
            if self.base is None:
                self.base = start
            while self.script and self.base + self.script[0][0] < start + frames:
                rel, msg = self.script.pop(0)
                frame = self.base + rel
                self.port.write_midi_event(max(frame - start, 0), msg)
                self.sent.append((max(frame, start), msg))

    def done(self) -> bool:
        with self.lock:
            return not self.script

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


class Recorder:
    """Keeps (absolute frame, message) of everything arriving from `source`."""

    def __init__(self, source: str):
        import jack

        self.client = jack.Client("recorder", no_start_server=True)
        self.port = self.client.midi_inports.register("in")
        self.events: list[tuple[int, list[int]]] = []
        self.lock = threading.Lock()
        self.client.set_process_callback(self._process)
        self.client.activate()
        self.client.connect(source, self.port)

    def _process(self, frames: int) -> None:
        start = self.client.last_frame_time
        events = self.port.incoming_midi_events()
        got = [(start + offset, list(bytes(data))) for offset, data in events]
        if got:
            with self.lock:
                self.events.extend(got)

    def take(self) -> list[tuple[int, list[int]]]:
        with self.lock:
            return list(self.events)

    def frame(self) -> int:
        return self.client.frame_time

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def wait_until(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
