"""Real-world-shaped MIDI files built with mido, and an independent check of an edited file.

The files hold what songs from DAWs and datasets hold and a rewrite would lose: sustain pedal,
pitch bends, mid-track program changes, lyrics and markers, sysex, odd ticks per beat, tempo
changes and meters the language may not tokenize. `check_edit` re-derives, without midigen's
code, which notes an infill must have replaced and asserts everything else is untouched.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import mido

SHARED_MIDI = Path(__file__).resolve().parents[2] / "shared" / "midi"
SHARED_PROMPTS = sorted(SHARED_MIDI.glob("prompt_*.mid"))


def _track(events: list[tuple[int, object]], name: str | None = None) -> mido.MidiTrack:
    """A MidiTrack from (absolute tick, message) pairs, in the given order for equal ticks."""
    track = mido.MidiTrack()
    if name:
        track.append(mido.MetaMessage("track_name", name=name))
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def song(
    tpb: int = 460, meters: list[tuple[int, int, int]] | None = None, bars: int = 8
) -> mido.MidiFile:
    """A type 1 song: conductor (tempo changes, meters), a piano with pedal, bends, a program
    change mid-track, lyrics, markers, sysex and notes near bar lines, and a bass track.

    `meters` are (bar number from 0, numerator, denominator) changes; default 4/4 throughout.
    Notes are written relative to the bar lines the meters make, so any meter works.
    """
    meters = meters or [(0, 4, 4)]
    starts, tick, sig = [], 0, None
    changes = {b: (n, d) for b, n, d in meters}
    for b in range(bars + 1):
        sig = changes.get(b, sig)
        starts.append(tick)
        tick += sig[0] * 4 * tpb // sig[1]
    conductor = [(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(96)))]
    conductor.append((starts[3] + 7, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(101.5))))
    conductor += [
        (starts[b], mido.MetaMessage("time_signature", numerator=n, denominator=d))
        for b, n, d in meters
    ]
    conductor.append((starts[2], mido.MetaMessage("marker", text="Verse")))
    q = tpb  # one quarter
    piano: list[tuple[int, object]] = [
        (0, mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01])),  # GM on
        (0, mido.Message("program_change", channel=0, program=0)),
        (0, mido.Message("control_change", channel=0, control=7, value=100)),
    ]
    for b in range(bars):
        lo, hi = starts[b], starts[b + 1]
        piano.append((lo, mido.Message("control_change", channel=0, control=64, value=127)))
        piano.append((hi - 5, mido.Message("control_change", channel=0, control=64, value=0)))
        piano.append((lo + 3, mido.MetaMessage("lyrics", text=f"la{b}")))
        for k in range(0, hi - lo, max(1, (hi - lo) // 6)):
            piano.append((lo + k, mido.Message("pitchwheel", channel=0, pitch=k * 7 % 8000 - 4000)))
        notes = [(lo, 60 + b % 24, q // 2), (lo + (hi - lo) // 2, 64 + b % 24, q // 3)]
        notes.append((hi - 1, 67, q // 4))  # a hair before the next bar line: still this bar
        if b == 4:
            notes.append((lo + 1, 48, 3 * (hi - lo)))  # rings over the next bars
        for on, pitch, length in notes:
            velocity = 81 + 2 * (b % 3)  # never a bin's middle (8k + 4), which the model writes
            piano.append((on, mido.Message("note_on", channel=0, note=pitch, velocity=velocity)))
            piano.append((on + length, mido.Message("note_on", channel=0, note=pitch, velocity=0)))
    piano.append((starts[5] + 11, mido.Message("program_change", channel=0, program=4)))
    piano.append((starts[6], mido.MetaMessage("text", text="ritardando")))
    bass = [(0, mido.Message("program_change", channel=1, program=33))]
    for b in range(bars):
        on = starts[b]
        bass.append((on, mido.Message("note_on", channel=1, note=36 + b % 24, velocity=90)))
        bass.append((on + q, mido.Message("note_off", channel=1, note=36 + b % 24, velocity=40)))
        bass.append((on + q, mido.Message("aftertouch", channel=1, value=20)))
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    mid.tracks += [_track(conductor), _track(piano, "Piano"), _track(bass, "Bass")]
    return mid


def absolute(track: mido.MidiTrack) -> list[tuple[int, object]]:
    """(tick, message without its delta) for every event, end_of_track left out."""
    out, tick = [], 0
    for msg in track:
        tick += msg.time
        if msg.type != "end_of_track":
            out.append((tick, msg.copy(time=0)))
    return out


def note_pairs(events: list[tuple[int, object]], channel: int) -> list[tuple[int, int | None]]:
    """(note-on index, note-off index or None) per note of `channel`: oldest open note first."""
    open_notes: dict[int, deque] = {}
    pairs = []
    for i, (_, msg) in enumerate(events):
        if msg.type not in ("note_on", "note_off") or msg.channel != channel:
            continue
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault(msg.note, deque()).append(i)
        elif open_notes.get(msg.note):
            pairs.append((open_notes[msg.note].popleft(), i))
    return pairs + [(i, None) for pending in open_notes.values() for i in pending]


def check_edit(
    original: mido.MidiFile,
    edited: mido.MidiFile,
    mtrack: int,
    channel: int,
    lo: int,
    hi: int,
) -> list[tuple[int, int, int]]:
    """Assert `edited` is `original` with exactly the notes of (mtrack, channel) whose note-on
    tick is in [lo, hi) replaced; returns the new notes as (on tick, off tick, pitch).

    Every other event must be identical (type, tick, data, order). The one allowed change: a kept
    note whose note-off moved earlier, to the onset of a new note of the same pitch.
    """
    assert edited.ticks_per_beat == original.ticks_per_beat
    assert edited.type == original.type and len(edited.tracks) == len(original.tracks)
    for i, (a, b) in enumerate(zip(original.tracks, edited.tracks)):
        if i != mtrack:
            assert absolute(a) == absolute(b), f"track {i} changed"
    before, after = absolute(original.tracks[mtrack]), absolute(edited.tracks[mtrack])
    old, new = _notes(before, channel), _notes(after, channel)
    kept = [n for n in old if not lo <= n[0] < hi]
    fresh = [n for n in new if lo <= n[0] < hi]
    still = [n for n in new if not lo <= n[0] < hi]
    assert [n[0] for n in still] == [n[0] for n in kept], "kept notes differ"
    onsets = {(n[0], n[2]) for n in fresh}
    for want, got in zip(kept, still):
        assert (got[2], got[3], got[4]) == (want[2], want[3], want[4]), f"note {want} changed"
        if got[1] != want[1]:  # shortened: only to where a new note of its pitch starts
            assert got[1] < want[1] and (got[1], got[2]) in onsets, f"note {want} -> {got}"
    assert _others(before, channel) == _others(after, channel), "a non-note-off event changed"
    return [(on, off, pitch) for on, off, pitch, _, _ in fresh]


def _notes(events, channel) -> list[tuple]:
    """(on tick, off tick, pitch, note-on message, note-off message) per note of `channel`, in
    note-on order; an unterminated note has off tick None."""
    out = []
    for on, off in note_pairs(events, channel):
        msg_off = events[off][1] if off is not None else None
        tick_off = events[off][0] if off is not None else None
        out.append((events[on][0], tick_off, events[on][1].note, events[on][1], msg_off))
    return sorted(out, key=lambda n: (n[0], n[2]))


def _others(events, channel) -> list[tuple[int, object]]:
    """Every event except the channel's notes: its order and ticks must survive an edit."""
    return [
        (tick, msg)
        for tick, msg in events
        if not (msg.type in ("note_on", "note_off") and msg.channel == channel)
    ]
