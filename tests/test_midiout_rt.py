"""The python-rtmidi backend (ALSA, CoreMIDI, WinMM) with stand-in ports, since CI has no ALSA
sequencer: the DAW's clock comes in on rtmidi's callback and the tick's notes leave from that
same call; free-running, a thread sleeps until each note is due and not longer; idle, it does
not wake at all."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from midigen.server.daemon.midiloop import build_loop
from midigen.server.daemon.midiout import MidiError, RtBackend, open_backend
from midigen.server.daemon.midiplayer import CLOCK, NOTE_ON, START, STOP, Player
from midigen.server.language.piece import Note


class Port:
    """Records what is sent; holds the callback a MidiIn would call."""

    def __init__(self):
        self.sent, self.callback, self.closed = [], None, False
        self.lock = threading.Lock()

    def send_message(self, message):
        with self.lock:
            self.sent.append((time.monotonic(), message))

    def set_callback(self, callback):
        self.callback = callback

    def close_port(self):
        self.closed = True

    def ons(self):
        with self.lock:
            return [m[1] for _, m in self.sent if m[0] & 0xF0 == NOTE_ON]


@pytest.fixture
def rt():
    player, out, clock = Player(), Port(), Port()
    backend = RtBackend(player, out, clock, "stand-in")
    yield player, out, clock
    backend.close()
    player.close()
    assert out.closed and clock.closed


def loop():
    return build_loop("a", 1, 1, 0.0, 4.0, [(0, False, [Note(q, 60 + q, 0.5) for q in range(4)])])


def test_a_clock_tick_sends_its_notes_from_the_same_callback(rt):
    player, out, clock = rt
    clock.callback(([STOP], 0.0))
    assert player.play(loop()) == "on start"
    clock.callback(([START], 0.0))
    assert out.ons() == []
    clock.callback(([CLOCK], 0.0))
    assert out.ons() == [60], "sent before the callback returned"
    for _ in range(24):
        clock.callback(([CLOCK], 0.01))
    assert out.ons() == [60, 61]


def test_free_running_sends_each_note_when_due_and_idles_without_waking(rt):
    player, out, _ = rt
    assert player.next_due(time.monotonic()) is None, "idle: the thread waits for a change"
    assert player.play(loop(), tempo=400.0) == "now"  # a quarter is 0.15 s
    deadline = time.monotonic() + 5
    while len(out.ons()) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    player.stop()
    assert out.ons()[:5] == [60, 61, 62, 63, 60]
    times = [t for t, m in out.sent if m[0] & 0xF0 == NOTE_ON][:5]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0.1 < g < 0.3 for g in gaps), gaps  # loose: wall clock on a loaded machine


@pytest.mark.skipif(sys.platform == "darwin", reason="CoreMIDI is there on macOS")
def test_an_unknown_or_missing_backend_is_one_clear_error():
    with pytest.raises(MidiError, match="--midi-backend nonesuch: one of auto, jack"):
        open_backend(Player(), "x", "nonesuch")
    with pytest.raises(MidiError, match="no MIDI port could be opened"):
        open_backend(Player(), "x", "coremidi")  # not compiled in on Linux
