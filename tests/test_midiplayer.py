"""The live loop player's rules, driven without any MIDI system: the DAW's clock messages and
free-running windows are handed to Player.process with made-up times, and what it answers is
checked. Timing through a real JACK server is in test_midiout.py."""

from __future__ import annotations

import time
from types import SimpleNamespace as NS

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midigen.server.daemon import midiplayer
from midigen.server.daemon.midiloop import (
    ChannelError,
    LoopBook,
    build_loop,
    channel_map,
)
from midigen.server.daemon.midiplayer import (
    ALL_NOTES_OFF,
    CLOCK,
    CONTINUE,
    CONTROL,
    NOTE_ON,
    SONG_POSITION,
    START,
    STOP,
    Player,
)
from midigen.server.language.piece import Note

TICK = 0.01  # seconds per clock in these tests


def loop_of(pitches_at, start=0.0, length=4.0, owner="a", job=1, variation=1):
    """A one-track loop with a quarter-long note of `pitch` at each (offset, pitch)."""
    notes = [Note(start + at, pitch, 0.25) for at, pitch in pitches_at]
    return build_loop(owner, job, variation, start, length, [(0, False, notes)])


class Daw:
    """Feeds the player the way a DAW's clock would, one message at a time; `ons` keeps
    (clock index since the last Start/Continue, pitch) of each note-on sent."""

    def __init__(self, player):
        self.player, self.t, self.ticks, self.ons, self.all = player, 100.0, 0, [], []

    def send(self, *message):
        self.t += TICK
        out = self.player.process(self.t, self.t, [(self.t, list(message))])
        if message[0] in (START, CONTINUE):
            self.ticks = 0
        self._keep(out)
        if message[0] == CLOCK:
            self.ticks += 1

    def clocks(self, n):
        for _ in range(n):
            self.send(CLOCK)

    def _keep(self, out):
        for t, msg in out:
            self.all.append(msg)
            if msg[0] & 0xF0 == NOTE_ON:
                assert t == pytest.approx(self.t), "a note on the grid leaves at its tick's time"
                self.ons.append((self.ticks, msg[1]))


@pytest.fixture
def player():
    p = Player()
    yield p
    p.close()


def test_a_note_goes_out_on_the_clock_that_reaches_its_position_not_before(player):
    daw = Daw(player)
    daw.send(STOP)
    assert player.play(loop_of([(0, 60), (1, 62), (3.5, 67)])) == "on start"
    daw.send(START)
    assert daw.ons == [], "nothing on Start itself: the first clock is position 0"
    daw.clocks(4 * 24 + 1)
    assert daw.ons == [(0, 60), (24, 62), (84, 67), (96, 60)]


def test_song_position_and_continue_play_the_notes_at_the_resume_point(player):
    daw = Daw(player)
    daw.send(STOP)
    player.play(loop_of([(0, 60), (2, 64)], length=4.0))
    daw.send(SONG_POSITION, 12 * 4 % 128, 12 * 4 // 128)  # bar 4 of 4/4: 48 sixteenths
    daw.send(CONTINUE)
    daw.clocks(2 * 24 + 1)
    assert daw.ons == [(0, 60), (48, 64)]  # song quarter 12 is the loop's offset 0


def test_continue_after_stop_resumes_on_the_next_clock(player):
    daw = Daw(player)
    daw.send(STOP)
    player.play(loop_of([(0, 60), (1, 62), (2, 64)]))
    daw.send(START)
    daw.clocks(24)  # quarter 0 played; the next clock is quarter 1
    daw.send(STOP)
    daw.send(CONTINUE)
    daw.clocks(25)
    assert daw.ons == [(0, 60), (0, 62), (24, 64)]


def test_a_loop_is_phased_to_its_own_first_bar_after_a_jump_and_a_swap(player):
    daw = Daw(player)
    daw.send(STOP)
    bars_1_3 = loop_of([(0, 60), (4, 62), (8, 64)], start=0.0, length=12.0)
    player.play(bars_1_3)
    daw.send(SONG_POSITION, 16, 0)  # bar 2
    daw.send(CONTINUE)
    daw.clocks(1)
    assert daw.ons == [(0, 62)], "bar 2 of the song is bar 2 of a loop that starts at bar 1"
    other = loop_of([(0, 70), (4, 72)], start=16.0, length=8.0, job=2)  # bars 5-6
    player.play(other)  # comes in at the playing loop's boundary: song quarter 12
    daw.clocks(12 * 24)  # up to song quarter 16
    assert daw.ons[1:] == [(4 * 24, 64), (8 * 24, 72), (12 * 24, 70)], (
        "song quarter 12 is offset 4 of a loop from quarter 16, quarter 16 its offset 0"
    )
    daw.send(STOP)
    daw.send(START)  # quarter 0: offset 0 of the bars 5-6 loop (16 = 2 x 8)
    daw.clocks(1)
    assert daw.ons[-1] == (0, 70)


def test_play_with_the_daw_stopped_long_ago_free_runs_and_says_so(player, monkeypatch):
    monkeypatch.setattr(midiplayer, "SYNC_TIMEOUT_S", 0.05)
    announced = []
    player.on_swap = announced.append
    daw = Daw(player)
    daw.clocks(3)
    daw.send(STOP)
    assert player.play(loop_of([(0, 60)])) == "on start", "the DAW is there: it starts it"
    time.sleep(0.1)  # the DAW has been silent past the timeout
    assert player.play(loop_of([(0, 61)], variation=2)) == "now"
    out = player.process(200.0, 200.1)
    assert [m[1] for _, m in out if m[0] & 0xF0 == NOTE_ON] == [61]
    time.sleep(0.05)
    assert [loop.variation for loop in announced] == [2], "/playing only for what sounds"


def test_stop_while_the_daw_runs_then_play_joins_on_the_next_clock(player):
    daw = Daw(player)
    daw.send(STOP)
    player.play(loop_of([(0, 60), (1, 62)]))
    daw.send(START)
    daw.clocks(3)
    player.stop()
    daw.clocks(21)
    assert daw.ons == [(0, 60)]
    assert player.play(loop_of([(0, 60), (1, 62)])) == "now"
    daw.clocks(1)
    assert daw.ons == [(0, 60), (24, 62)]


def test_stop_unloads_so_the_daws_next_start_plays_nothing(player):
    daw = Daw(player)
    daw.send(STOP)
    player.play(loop_of([(0, 60)]))
    daw.send(START)
    daw.clocks(2)
    player.stop()
    daw.send(STOP)
    daw.send(START)
    daw.clocks(30)
    assert daw.ons == [(0, 60)]
    offs = {m[0] & 0x0F for m in daw.all if m[0] & 0xF0 == CONTROL and m[1] == ALL_NOTES_OFF}
    assert offs == set(range(16))


def test_a_clock_that_stops_without_stop_hands_over_to_free_running(player, monkeypatch):
    monkeypatch.setattr(midiplayer, "SYNC_TIMEOUT_S", 0.05)
    daw = Daw(player)
    daw.send(STOP)
    player.play(loop_of([(0, 60), (1, 62)]))
    daw.send(START)
    daw.clocks(12)  # the DAW (a tick every 10 ms: 250 bpm) vanishes mid-quarter
    time.sleep(0.1)
    out = player.process(daw.t, daw.t + 0.2)
    assert player.source == "free" and player.tempo == pytest.approx(250, rel=0.01)
    ons = [(t - daw.t, m[1]) for t, m in out if m[0] & 0xF0 == NOTE_ON]
    assert [pitch for _, pitch in ons] == [62]
    assert ons[0][0] == pytest.approx(0.13, abs=1e-6), "the 24th clock, had the DAW gone on"


def test_a_tempo_change_while_free_running_goes_on_from_the_same_position(player):
    player.play(loop_of([(q, 60 + q) for q in range(4)]), tempo=240.0)
    first = player.process(0.0, 0.5)  # quarters 0 and 1, 0.25 s apart
    player.set_tempo(120.0)
    then = player.process(0.5, 1.5)  # quarters 2 and 3, 0.5 s apart
    ons = [(t, m[1]) for t, m in first + then if m[0] & 0xF0 == NOTE_ON]
    assert ons == [(0.0, 60), (0.25, 61), (0.5, 62), (1.0, 63)]


def test_every_finished_variation_cycles_and_a_number_holds_one():
    book = LoopBook()
    piece = NS(tracks=[NS(is_drum=False)])
    request = NS(mode="loop", selection=[NS(first_bar=1, last_bar=1)])

    def finish(variation, pitch):
        notes = [Note(0, pitch, 1)]
        bar = NS(variation=variation - 1, track=0, start=0.0, end=4.0, notes=notes)
        book.add_bar("a", 1, piece, request, bar)

    for v in (1, 2, 3):
        finish(v, 60 + v)
    player = Player()
    try:
        player.play(book.get("a", 1, 1), book.follow("a", 1, 0), 240.0)
        out = player.process(0.0, 3.0)  # a loop is 1 s at 240 bpm: three cycles
        assert [m[1] for _, m in out if m[0] & 0xF0 == NOTE_ON] == [61, 62, 63]
        player.stop()
        player.play(book.get("a", 1, 2), book.follow("a", 1, 2), 240.0)
        out = player.process(10.0, 13.0)
        assert [m[1] for _, m in out if m[0] & 0xF0 == NOTE_ON] == [62, 62, 62]
    finally:
        player.close()
    book.forget("a")
    assert book.get("a", 1, 0) is None


def test_a_job_number_reused_after_a_cancel_starts_from_nothing():
    """Old job 5 finishes bar 1 of a 2-bar loop and is cancelled; a new job 5 must not build a
    loop from the old bar 1 and its own (nor play one before its own bars are all done)."""
    book = LoopBook()
    piece = NS(tracks=[NS(is_drum=False)])

    def bar(number, pitch, variation=0):
        notes = [Note(0, pitch, 1)]
        return NS(variation=variation, track=0, start=4.0 * (number - 1), end=4.0 * number,
                  notes=notes)  # fmt: skip

    old = NS(mode="loop", selection=[NS(first_bar=1, last_bar=2)])
    book.add_bar("a", 5, piece, old, bar(1, 60))
    book.add_bar("a", 5, piece, old, bar(1, 61, variation=1))
    book.add_bar("a", 5, piece, old, bar(2, 62, variation=1))
    assert book.get("a", 5, 2) is not None  # the old job's variation 2 was finished
    new = NS(mode="loop", selection=[NS(first_bar=1, last_bar=2)])
    book.add_bar("a", 5, piece, new, bar(1, 72))
    assert book.get("a", 5, 0) is None, "the old job's bars and variations went with it"
    book.add_bar("a", 5, piece, new, bar(2, 74))
    loop = book.get("a", 5, 0)
    assert loop is not None and loop.variation == 1
    assert sorted(m[1] for _, _, m in loop.events if m[0] & 0xF0 == NOTE_ON) == [72, 74]
    assert book.get("a", 5, 2) is None


def test_partial_loop_bars_are_bounded():
    book = LoopBook()
    piece = NS(tracks=[NS(is_drum=False)])
    notes = [Note(0, 60, 1)]
    for job in range(1, 3 * LoopBook.PARTIAL):  # every job stops after one bar of two
        request = NS(mode="loop", selection=[NS(first_bar=1, last_bar=2)])
        book.add_bar("a", job, piece, request, NS(variation=0, track=0, start=0.0, end=4.0,
                                                   notes=notes))  # fmt: skip
    assert len(book._bars) <= LoopBook.PARTIAL and len(book._requests) <= LoopBook.PARTIAL


def test_channels_are_stable_documented_and_never_wrap():
    assert channel_map([True, False, False]) == [9, 0, 1], "drums first: melodic from channel 1"
    sixteen = channel_map([False] * 16)
    assert sixteen[:15] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15]
    assert sixteen[15] is None
    notes = [Note(0, 60, 1)]
    with pytest.raises(ChannelError, match="track 16 has no MIDI channel"):
        build_loop("a", 1, 1, 0.0, 4.0, [(15, False, notes)], sixteen)
    chosen = channel_map([False] * 16, {15: 9, 0: 3})
    assert chosen[0] == 3 and chosen[15] == 9
    only_third = build_loop(
        "a", 1, 1, 0.0, 4.0, [(2, False, notes)], channel_map([True] + [False] * 2)
    )
    assert only_third.events[0][2][0] == NOTE_ON | 1, "a track keeps its channel in any job"


TRANSPORT_OPS = st.one_of(
    st.just(("clock",)),
    st.just(("start",)),
    st.just(("continue",)),
    st.just(("stop",)),
    st.tuples(st.just("spp"), st.integers(0, 80)),
    st.just(("play",)),
    st.just(("halt",)),
)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(st.one_of(st.just(("clock",)), TRANSPORT_OPS), max_size=300),
    onsets=st.lists(st.integers(0, 47), min_size=1, max_size=8),
    first_bar=st.integers(0, 3),
)
def test_any_transport_sequence_keeps_notes_on_their_ticks_and_none_hanging(ops, onsets, first_bar):
    """Whatever the DAW and the clients do, each note-on leaves on a clock whose song
    position is one of the loop's onsets (in the loop's own phase), and after /stop nothing
    sounds."""
    length = 2.0
    loop = loop_of([(o / 24, 60 + o % 12) for o in onsets], start=first_bar * length, length=length)
    ons_at = {round(o % 48) for o in onsets}
    player = Player()
    daw = Daw(player)
    daw.send(STOP)
    try:
        for op in ops:
            if op[0] == "clock":
                tick = player.next_tick
                before = len(daw.ons)
                daw.send(CLOCK)
                if len(daw.ons) > before:
                    assert round((tick - first_bar * 48) % 48) in ons_at, (tick, daw.ons[before:])
            elif op[0] == "spp":
                daw.send(SONG_POSITION, op[1], 0)
            elif op[0] in ("start", "continue", "stop"):
                daw.send({"start": START, "continue": CONTINUE, "stop": STOP}[op[0]])
            elif op[0] == "play":
                player.play(loop)
            else:
                player.stop()
        player.stop()
        daw._keep(player.process(daw.t, daw.t))
        sounding = set()
        for msg in daw.all:
            key = (msg[0] & 0x0F, msg[1])
            if msg[0] & 0xF0 == NOTE_ON:
                assert key not in sounding, "a note-on while the same note sounds"
                sounding.add(key)
            elif msg[0] & 0xF0 == 0x80:
                sounding.discard(key)
            elif msg[0] & 0xF0 == CONTROL and msg[1] == ALL_NOTES_OFF:
                sounding = {k for k in sounding if k[0] != key[0]}
        assert not sounding
    finally:
        player.close()


def test_a_loop_needing_a_16th_melodic_channel_is_refused_until_the_client_maps_it():
    book = LoopBook()
    piece = NS(tracks=[NS(is_drum=False) for _ in range(17)])
    request = NS(mode="loop", selection=[NS(first_bar=1, last_bar=1)])
    notes = [Note(0, 60, 1)]
    book.add_bar("a", 1, piece, request, NS(variation=0, track=16, start=0.0, end=4.0, notes=notes))
    with pytest.raises(ChannelError, match="track 17 has no MIDI channel"):
        book.get("a", 1, 1)
    book.set_channels("a", {16: 3})  # the client's /channels: track 17 on channel 4
    assert book.get("a", 1, 1).events[0][2][0] == NOTE_ON | 3
    assert book.get("b", 1, 1) is None, "another client's loops are its own"
