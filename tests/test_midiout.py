"""Live MIDI out through a real JACK server (`jackd -d dummy`, started and stopped here):
python-rtmidi's JACK API receives what the player sends and checks timing, loop swaps at
boundaries, MIDI clock sync, and that every note-on gets its note-off and stop silences all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

import tiny_bundle
from midigen.server.daemon import protocol as p
from midigen.server.daemon.client import Client, Selection, bars
from midigen.server.daemon.main import Daemon
from midigen.server.daemon.midiout import (
    ALL_NOTES_OFF,
    CLOCK,
    CONTROL,
    NOTE_OFF,
    NOTE_ON,
    START,
    STOP,
    InputPoller,
    Player,
    build_loop,
    open_ports,
)
from midigen.server.engine.session import Engine
from midigen.server.language.midifiles import read_midi
from midigen.server.language.piece import Note

rtmidi = pytest.importorskip("rtmidi")
TOLERANCE = 0.03  # seconds: JACK periods (5.3 ms here) plus a loaded machine's scheduling


def test_python_rtmidi_has_jack_compiled_in():
    assert rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api()


@pytest.fixture(scope="module")
def jack():
    """A private JACK server (its own name, so parallel runs do not meet) on the dummy driver."""
    if not shutil.which("jackd"):
        if os.environ.get("MIDIGEN_REQUIRE_PEERS"):
            pytest.fail("jackd missing: apt-get install jackd2")
        pytest.skip("jackd (Debian package jackd2) not installed")
    name = f"midigen-test-{os.getpid()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JACK_DEFAULT_SERVER", name)
        mp.setenv("JACK_NO_START_SERVER", "1")
        proc = subprocess.Popen(
            ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", "256"],
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


class Receiver:
    """A JACK MIDI input connected to one of our ports; keeps (arrival time, message)."""

    def __init__(self, port_name: str):
        self.events: list[tuple[float, list[int]]] = []
        self.lock = threading.Lock()
        self.port = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="receiver")
        self.port.ignore_types(sysex=True, timing=True, active_sense=True)
        names = self.port.get_ports()
        self.port.open_port(next(i for i, n in enumerate(names) if n.endswith(port_name)))
        self.reader = InputPoller(self.port, self._got)  # never a callback on JACK's thread

    def _got(self, event):
        with self.lock:
            self.events.append((time.monotonic(), event[0]))

    def close(self):
        self.reader.close()
        self.port.close_port()
        self.port.delete()

    def note_ons(self, since=0.0):
        return [(t, m[1]) for t, m in self.events if m[0] & 0xF0 == NOTE_ON and m[2] and t >= since]


def paired(events):
    """Every note-on is followed by its note-off (or all-notes-off), none left hanging."""
    sounding = {}
    for _, m in events:
        kind, ch = m[0] & 0xF0, m[0] & 0x0F
        if kind == NOTE_ON and m[2]:
            assert (ch, m[1]) not in sounding, f"note-on {m} while sounding"
            sounding[(ch, m[1])] = True
        elif kind == NOTE_OFF or (kind == NOTE_ON and not m[2]):
            sounding.pop((ch, m[1]), None)
        elif kind == CONTROL and m[1] == ALL_NOTES_OFF:
            sounding = {k: v for k, v in sounding.items() if k[0] != ch}
    assert not sounding, f"no note-off for {sorted(sounding)}"


@pytest.fixture
def ports(jack):
    out, clock, api = open_ports("midigen-test", apis=[rtmidi.API_UNIX_JACK])
    assert api.lower() == "jack" and clock is not None
    receiver = Receiver("midigen-test")
    yield out, clock, receiver
    receiver.close()
    for port in (clock, out):
        port.close_port()
        port.delete()  # leave JACK now, not at garbage collection after jackd is gone


def loop_a(owner="a"):
    notes = [Note(0, 60, 1), Note(1, 62, 0.5), Note(2, 64, 2), Note(3.5, 67, 1)]  # last two cut
    return build_loop(owner, 1, 1, 0.0, 4.0, [(0, False, notes)])


def loop_b(owner="a"):
    notes = [Note(0, 36, 0.25), Note(2, 38, 0.25)]
    return build_loop(owner, 1, 2, 0.0, 4.0, [(2, True, notes)])  # drums: channel 10


def test_free_running_loop_swaps_at_the_boundary_and_stops_clean(ports):
    out, _, rx = ports
    swaps = []
    player = Player(out, on_swap=lambda loop: swaps.append(loop.variation))
    try:
        player.set_tempo(240)  # a quarter is 0.25 s, the 4/4 loop 1 s
        player.play(loop_a())
        time.sleep(0.3)
        player.offer(loop_b())  # finished while A plays: comes in at the next boundary
        time.sleep(1.85)
        player.stop()
        time.sleep(0.1)
    finally:
        player.close()
    ons = rx.note_ons()
    t0 = ons[0][0]
    want = [(0.0, 60), (0.25, 62), (0.5, 64), (0.875, 67), (1.0, 36), (1.5, 38), (2.0, 36)]
    assert [pitch for _, pitch in ons] == [pitch for _, pitch in want]
    for (t, _), (w, _) in zip(ons, want):
        assert abs(t - t0 - w) < TOLERANCE, [round(t - t0, 3) for t, _ in ons]
    assert swaps == [1, 2]
    paired(rx.events)
    offs = {m[0] & 0x0F for _, m in rx.events if m[0] & 0xF0 == CONTROL and m[1] == ALL_NOTES_OFF}
    assert offs == set(range(16))
    drum = [m for _, m in rx.events if m[0] & 0xF0 == NOTE_ON and m[1] == 36]
    assert all(m[0] & 0x0F == 9 for m in drum)


def test_midi_clock_from_the_daw_drives_the_loop(ports):
    out, clock, rx = ports
    player = Player(out)
    reader = InputPoller(clock, player.on_midi)
    daw = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="daw")
    daw.open_port(next(i for i, n in enumerate(daw.get_ports()) if n.endswith("midigen-test sync")))
    sent = []
    try:
        daw.send_message([STOP])  # a DAW with sync on: the player now waits for its START
        time.sleep(0.05)
        player.play(loop_a())
        time.sleep(0.05)
        assert not rx.note_ons()
        daw.send_message([START])
        sent.append(time.monotonic())
        for _ in range(4 * 24 + 12):  # one loop and a half quarter more, a tick every 8 ms
            time.sleep(0.008)
            daw.send_message([CLOCK])
            sent.append(time.monotonic())
        daw.send_message([STOP])
        time.sleep(0.1)
    finally:
        reader.close()
        daw.close_port()
        daw.delete()
        player.close()
    ons = rx.note_ons()
    assert [pitch for _, pitch in ons] == [60, 62, 64, 67, 60]
    ticks = [0, 24, 48, 84, 96]  # 24 clock ticks per quarter
    for (t, _), tick in zip(ons, ticks):
        assert sent[tick] - 0.002 <= t <= sent[tick] + TOLERANCE, (tick, t - sent[tick])
    paired(rx.events)


def test_daemon_plays_a_loop_job_and_swaps_variations(ports, tmp_path_factory):
    out, _, rx = ports
    engine = Engine(tiny_bundle.build(tmp_path_factory.getbasetemp()), device="cpu", threads=1)
    piece = read_midi(tiny_bundle.MIDI / "prompt_bmw.mid")
    daemon = Daemon(engine, port=0, max_bar_tokens=40, midi_out=out).start()
    try:
        with Client(daemon.address) as c:
            c.hello()
            c.upload(1, piece)
            c.generate(1, 1, "loop", [Selection(1, 1, 1, density=6)], variations=2, seed=4)
            assert isinstance(c.finished(1, 30), p.Done)
            got = bars(c.replies(1))
            c.request(p.Tempo, bpm=400.0)  # a quarter is 0.15 s, the 1-bar loop 0.6 s
            c.request(p.Play, job=1, variation=1)
            c.wait(lambda m: m == p.Playing(job=1, variation=1), 10)
            t_play = time.monotonic()
            time.sleep(0.2)
            c.request(p.Play, job=1, variation=2)  # swapped in at the next boundary (0.6 s)
            c.wait(lambda m: m == p.Playing(job=1, variation=2), 10)
            time.sleep(0.7)
            c.request(p.Stop)
            time.sleep(0.1)
    finally:
        daemon.stop()
    ons = rx.note_ons(since=t_play - 0.05)
    for variation, (lo, hi) in ((1, (0.0, 0.6)), (2, (0.6, 1.2))):
        want = sorted(n.pitch for n in got[(variation, 1, 1)])
        heard = sorted(pitch for t, pitch in ons if lo - 0.02 <= t - t_play < hi - 0.02)
        assert heard == want, (variation, heard, want)
    paired(rx.events)
