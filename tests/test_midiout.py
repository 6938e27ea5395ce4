"""Live MIDI out through a real JACK server (`jackd -d dummy`, started and stopped here): a
stand-in DAW writes MIDI clock at exact frames into `NAME sync`, a recorder keeps what `NAME`
sends with its frame, and every onset is checked against the frame of the clock tick it
belongs to (jackdaw.py). The rules themselves are tested without JACK in test_midiplayer.py.
"""

from __future__ import annotations

import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jackdaw import PERIOD, RATE, Daw, Recorder, jack_server, wait_until

import tiny_bundle
from midigen.server.daemon import midiplayer
from midigen.server.daemon import protocol as p
from midigen.server.daemon.client import Client, Selection, bars
from midigen.server.daemon.main import Daemon
from midigen.server.daemon.midiloop import build_loop
from midigen.server.daemon.midiout import JackBackend, open_backend
from midigen.server.daemon.midiplayer import (
    ALL_NOTES_OFF,
    CLOCK,
    CONTINUE,
    CONTROL,
    NOTE_OFF,
    NOTE_ON,
    SONG_POSITION,
    START,
    STOP,
    Player,
)
from midigen.server.engine.session import Engine
from midigen.server.language.midifiles import read_midi
from midigen.server.language.piece import Note

jack = pytest.importorskip("jack", reason="python JACK-Client (pip install JACK-Client)")
PORT = "midigen-test"
TICK = 1000  # frames per clock: 120 bpm at 48 kHz
SERVER = Path(sys.executable).parent / "midigen-server"


@pytest.fixture(scope="module")
def server():
    with jack_server() as name:
        yield name


@pytest.fixture
def rig(server, monkeypatch):
    """The player on its JACK backend, a DAW into its sync port and a recorder on its out. The
    DAW counts as there for 5 s after its last message, so a stall of this loaded machine
    between two steps of a test cannot make it look gone."""
    monkeypatch.setattr(midiplayer, "SYNC_TIMEOUT_S", 5.0)
    player = Player()
    backend = open_backend(player, PORT, "jack")
    assert isinstance(backend, JackBackend)
    name = backend.client.name
    recorder, daw = Recorder(f"{name}:{PORT}"), Daw(f"{name}:{PORT} sync")
    yield player, daw, recorder, backend
    for peer in (daw, recorder, backend):
        peer.close()
    player.close()


def note_ons(events):
    return [(f, m[1]) for f, m in events if m[0] & 0xF0 == NOTE_ON and m[2]]


def paired(events):
    """Every note-on is followed by its note-off (or all-notes-off), none left hanging."""
    sounding = set()
    for _, m in events:
        kind, ch = m[0] & 0xF0, m[0] & 0x0F
        if kind == NOTE_ON and m[2]:
            assert (ch, m[1]) not in sounding, f"note-on {m} while sounding"
            sounding.add((ch, m[1]))
        elif kind == NOTE_OFF or (kind == NOTE_ON and not m[2]):
            sounding.discard((ch, m[1]))
        elif kind == CONTROL and m[1] == ALL_NOTES_OFF:
            sounding = {k for k in sounding if k[0] != ch}
    assert not sounding, f"no note-off for {sorted(sounding)}"


def clock_script(start_message, clocks, first=TICK, tick=TICK):
    """A transport message at frame 0, then `clocks` clocks `tick` frames apart, then Stop."""
    script = [(0, start_message)] + [(first + i * tick, [CLOCK]) for i in range(clocks)]
    return script + [(first + clocks * tick, [STOP])]


def run(daw, script):
    daw.send(script)
    assert wait_until(daw.done, 30), "the DAW's script did not finish"
    time.sleep(0.05)  # two periods for the last answers


def test_one_jack_client_holds_both_ports(rig):
    *_, backend = rig
    mine = {port.name for port in backend.client.get_ports(f"{backend.client.name}:")}
    assert mine == {f"{backend.client.name}:{PORT}", f"{backend.client.name}:{PORT} sync"}


def test_each_note_leaves_on_its_clock_tick_at_that_ticks_frame(rig):
    player, daw, recorder, _ = rig
    run(daw, [(0, [STOP])])  # a DAW with sync on: /play waits for its Start
    notes = [Note(0, 60, 1), Note(1, 62, 0.5), Note(2, 64, 2), Note(3.5, 67, 1)]
    assert player.play(build_loop("a", 1, 1, 0.0, 4.0, [(0, False, notes)])) == "on start"
    time.sleep(0.05)
    assert not note_ons(recorder.take())
    run(daw, clock_script([START], 4 * 24 + 12))
    ticks = [f for f, m in daw.sent if m == [CLOCK]]
    ons = note_ons(recorder.take())
    assert [pitch for _, pitch in ons] == [60, 62, 64, 67, 60]
    late = [f - ticks[tick] for (f, _), tick in zip(ons, [0, 24, 48, 84, 96])]
    assert all(0 <= d <= PERIOD for d in late), f"frames after their tick: {late}"
    start = next(f for f, m in daw.sent if m == [START])
    assert ons[0][0] - start >= TICK, "the downbeat is the first clock after Start, not Start"
    paired(recorder.take())


def test_song_position_then_continue_plays_the_resume_points_notes(rig):
    player, daw, recorder, _ = rig
    chord = [Note(12.0, pitch, 1) for pitch in (48, 52, 55, 60, 64, 67)]  # the bar-4 downbeat
    loop = build_loop("a", 1, 1, 0.0, 16.0, [(0, False, chord + [Note(13, 72, 1)])])
    run(daw, [(0, [STOP])])
    player.play(loop)
    spp = 12 * 4  # bar 4 in sixteenths
    run(daw, [(0, [SONG_POSITION, spp & 0x7F, spp >> 7])] + clock_script([CONTINUE], 30, 2 * TICK))
    ticks = [f for f, m in daw.sent if m == [CLOCK]]
    ons = note_ons(recorder.take())
    assert sorted(pitch for f, pitch in ons if 0 <= f - ticks[0] <= PERIOD) == [
        48, 52, 55, 60, 64, 67
    ]  # fmt: skip
    assert [pitch for f, pitch in ons if 0 <= f - ticks[24] <= PERIOD] == [72]


def test_free_running_notes_sit_on_exact_frames_and_swap_at_the_boundary(rig):
    player, daw, recorder, _ = rig
    a = build_loop("a", 1, 1, 0.0, 4.0, [(0, False, [Note(q, 60 + q, 0.5) for q in range(4)])])
    b = build_loop("a", 1, 2, 0.0, 4.0, [(0, True, [Note(0, 36, 0.25), Note(2, 38, 0.25)])])
    assert player.play(a, tempo=240.0) == "now"  # never a DAW: a quarter is 12,000 frames
    assert player.play(b) == "next boundary"
    assert wait_until(lambda: len(note_ons(recorder.take())) >= 7, 10)
    player.stop()
    time.sleep(0.05)
    ons = note_ons(recorder.take())[:7]
    assert [pitch for _, pitch in ons] == [60, 61, 62, 63, 36, 38, 36]
    quarter = RATE * 60 // 240
    at = [f - ons[0][0] for f, _ in ons]
    assert at == [0, quarter, 2 * quarter, 3 * quarter, 4 * quarter, 6 * quarter, 8 * quarter]
    events = recorder.take()
    paired(events)
    drums = {m[0] & 0x0F for _, m in events if m[0] & 0xF0 == NOTE_ON and m[1] in (36, 38)}
    assert drums == {9}


def test_play_waits_for_a_stopped_daw_stop_unloads_and_a_silent_daw_lets_it_free_run(
    rig, monkeypatch
):
    player, daw, recorder, _ = rig
    loop = build_loop("a", 1, 1, 0.0, 1.0, [(0, False, [Note(0, 60, 0.5)])])
    run(daw, [(0, [STOP])])
    assert player.play(loop) == "on start"  # the DAW is there, stopped: no sound, no /playing
    time.sleep(0.1)
    assert not note_ons(recorder.take())
    player.stop()
    run(daw, clock_script([START], 48))  # the DAW starts after /stop: the loop is gone
    assert not note_ons(recorder.take())
    monkeypatch.setattr(midiplayer, "SYNC_TIMEOUT_S", 0.05)
    time.sleep(0.1)  # the DAW has been silent past the sync timeout
    assert player.play(loop, tempo=240.0) == "now"
    assert wait_until(lambda: len(note_ons(recorder.take())) >= 2, 5), "free-running sounds"
    player.stop()
    time.sleep(0.05)
    paired(recorder.take())


def test_stop_while_the_daw_plays_then_play_joins_on_its_ticks_in_the_loops_phase(rig):
    player, daw, recorder, _ = rig
    # bars 2-3 of 4/4 (song quarters 4-12), a note on every quarter: quarter q plays 60 + q
    notes = [Note(q, 60 + q, 0.5) for q in range(4, 12)]
    loop = build_loop("a", 1, 1, 4.0, 8.0, [(0, False, notes)])
    run(daw, [(0, [STOP])])
    player.play(loop)
    daw.send(clock_script([START], 16 * 24, 500, tick=500))  # 16 quarters, 0.25 s each
    assert wait_until(lambda: len(note_ons(recorder.take())) >= 2, 10)
    player.stop()
    stopped = len(recorder.take())
    time.sleep(0.6)
    assert not note_ons(recorder.take()[stopped:]), "/stop silences while the DAW plays"
    player.play(loop)  # the DAW still runs: joins on its next ticks, not at its next Start
    assert wait_until(daw.done, 30)
    time.sleep(0.05)
    ticks = [f for f, m in daw.sent if m == [CLOCK]]
    ons = note_ons(recorder.take()[stopped:])
    assert ons, "/play while the DAW plays sounds at once"
    for frame, pitch in ons:
        tick = max(i for i, f in enumerate(ticks) if f <= frame)
        assert frame - ticks[tick] <= PERIOD and tick % 24 == 0, (tick, frame - ticks[tick])
        quarter = tick // 24
        assert pitch == 60 + 4 + (quarter - 4) % 8, "in phase with the loop's own first bar"
    paired(recorder.take())


def test_jitter_against_the_clock_for_benchmarks(rig, capsys):
    """The figures in BENCHMARKS.md: onset frame minus its tick's frame, 4 loops at 240 bpm
    (a clock every 500 frames, not on a period boundary)."""
    player, daw, recorder, _ = rig
    run(daw, [(0, [STOP])])
    notes = [Note(q / 2, 60 + q % 12, 0.25) for q in range(8)]
    player.play(build_loop("a", 1, 1, 0.0, 4.0, [(0, False, notes)]))
    spent, process = [], player.process

    def timed(*args):
        t = time.perf_counter()
        out = process(*args)
        spent.append(time.perf_counter() - t)
        return out

    player.process = timed  # the player's share of each JACK period
    run(daw, clock_script([START], 4 * 96, 500, tick=500))
    ticks = [f for f, m in daw.sent if m == [CLOCK]]
    ons = note_ons(recorder.take())
    assert len(ons) == 4 * 8
    late = [f - ticks[12 * i] for i, (f, _) in enumerate(ons)]
    assert all(0 <= d <= PERIOD for d in late)
    with capsys.disabled():
        print(
            f"\nclock-synced onsets after their tick, frames at {RATE} Hz: median "
            f"{statistics.median(late)}, max {max(late)} (period {PERIOD}); the player's time "
            f"in a period: median {statistics.median(spent) * 1e6:.0f} us, max "
            f"{max(spent) * 1e6:.0f} us of {PERIOD / RATE * 1e6:.0f}"
        )


def test_the_daemon_plays_answers_playing_when_it_sounds_and_stops_on_bye(server, tmp_path_factory):
    engine = Engine(tiny_bundle.build(tmp_path_factory.getbasetemp()), device="cpu", threads=1)
    piece = read_midi(tiny_bundle.MIDI / "prompt_bmw.mid")
    player = Player()
    backend = open_backend(player, PORT, "jack")
    recorder = Recorder(f"{backend.client.name}:{PORT}")
    daemon = Daemon(engine, port=0, max_bar_tokens=40, player=player).start()
    try:
        with Client(daemon.address) as c:
            c.hello()
            c.upload(1, piece)
            c.generate(1, 1, "loop", [Selection(1, 1, 1, density=6)], variations=2, seed=4)
            assert isinstance(c.finished(1, 30), p.Done)
            got = bars(c.replies(1))
            c.request(p.Channels, channels=[dict(track=1, channel=5)])
            c.request(p.Tempo, bpm=400.0)  # a quarter is 0.15 s, the 1-bar loop 0.6 s
            c.request(p.Play, job=1, variation=0)  # cycles through both variations
            with Client(daemon.address) as other:
                other.hello()
                other.request(p.Tempo, bpm=20.0)  # its own tempo: the playing loop keeps 400
                other.ping()
            c.wait(lambda m: m == p.Playing(job=1, variation=1), 10)
            c.wait(lambda m: m == p.Playing(job=1, variation=2), 10)
            assert abs(player.tempo - 400.0) < 1e-9
            time.sleep(0.7)  # one more loop
            playing = [m.variation for m in c.inbox if isinstance(m, p.Playing)]
            c.request(p.Bye)
            assert wait_until(lambda: player.loop is None, 5), "/bye releases the loop"
            time.sleep(0.05)
    finally:
        daemon.stop()
        recorder.close()
        backend.close()
    events = recorder.take()
    ons = note_ons(events)
    assert playing[:3] in ([1, 2, 1], [2, 1, 2]), "the newest finished first, then the cycle"
    first = sorted(n.pitch for n in got[(playing[0], 1, 1)])
    assert sorted(pitch for _, pitch in ons[: len(first)]) == first
    channels = {m[0] & 0x0F for _, m in events if m[0] & 0xF0 == NOTE_ON}
    assert channels == {4}, "/channels put track 1 on channel 5"
    paired(events)


def test_midigen_server_serves_both_ports_on_one_jack_client(server, bundle):
    proc = subprocess.Popen(
        [str(SERVER), "--port", "0", "--device", "cpu", "--model", str(bundle),
         "--midi-out", "e2e", "--midi-backend", "jack"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        assert line.rstrip().endswith("MIDI out 'e2e' (JACK)"), (line, proc.stderr.read())
        probe = jack.Client("probe", no_start_server=True)
        try:
            names = {port.name for port in probe.get_ports("e2e", is_midi=True)}
        finally:
            probe.close()
        assert len(names) == 2 and len({n.split(":")[0] for n in names}) == 1, names
        assert {n.split(":", 1)[1] for n in names} == {"e2e", "e2e sync"}
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
