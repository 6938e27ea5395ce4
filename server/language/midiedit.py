"""Writing generated bars into the user's own MIDI file: edit it, never rewrite it.

A DAW user's song carries far more than notes (sustain pedal, pitch bends, mid-song program
changes, lyrics, markers, sysex, its own ticks per beat and track layout). Rebuilding the file
from a `Piece` would drop all of that, so a result is applied as an edit of the original
`mido.MidiFile`:

- every event of the file is kept as it was (same track, same tick, same data, same order),
  except the notes the edit replaces;
- a note is replaced when its voice (MIDI track and channel) is selected and its **real onset**
  (the note-on tick, before any quantization) lies in a selected bar: [bar start, bar end);
- the generated notes are inserted at their exact times (rounded to the file's ticks);
- a kept note that started before the selection and still sounds when a generated note of the
  same pitch starts is shortened to end there; a generated note that would still sound when a
  kept note of the same pitch starts after the selection is shortened to end there (one channel
  cannot sound one pitch twice).

The daemon streams only the new bars; a DAW client applies them with this same rule
(docs/osc-protocol.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import mido

from .piece import Note, Piece

# Where an event goes among the events of its tick: note-offs that end a note early go first
# (so a same-pitch note starting at that tick is not cut), the file's own events keep their
# order in the middle, generated note-ons go last (after any program change or pedal at the tick).
FIRST, KEPT, LAST = 0, 1, 2


class EditError(ValueError):
    """An edit that does not fit the file (a track the file does not hold)."""


@dataclass(frozen=True)
class BarEdit:
    """The new content of one bar of one track: the notes that replace [start, end)."""

    track: int  # index into the piece's tracks (0-based)
    start: float  # quarters from the piece start
    end: float
    notes: Sequence[Note]


@dataclass
class _Voice:
    """What the edit does to one channel of one MIDI track."""

    ranges: list[tuple[int, int]]  # selected [lo, hi) tick ranges
    notes: list[tuple[int, int, int, int]]  # generated (on, off, pitch, velocity) in ticks

    def selects(self, tick: int) -> bool:
        return any(lo <= tick < hi for lo, hi in self.ranges)


@dataclass
class _Kept:
    """A note of the file that stays; its end moves if a generated note of its pitch cuts it."""

    start: int
    end: int
    off: list | None  # its note-off event, None when the file never ends it


def edit_midi(mid: mido.MidiFile, piece: Piece, edits: Iterable[BarEdit]) -> mido.MidiFile:
    """A new file: `mid` with each edit's bar replaced by its notes (see the module docstring).

    `piece` is `read_midi(mid)`: its tracks know the (MIDI track, channel) they came from.
    `mid` itself is not changed; tracks without edits are carried over message for message.
    """
    tpb = mid.ticks_per_beat
    voices: dict[int, dict[int, _Voice]] = {}
    for edit in edits:
        if not 0 <= edit.track < len(piece.tracks) or piece.tracks[edit.track].source is None:
            raise EditError(f"track {edit.track + 1} does not come from this MIDI file")
        mtrack, channel = piece.tracks[edit.track].source
        voice = voices.setdefault(mtrack, {}).setdefault(channel, _Voice([], []))
        voice.ranges.append((round(edit.start * tpb), round(edit.end * tpb)))
        for n in edit.notes:
            on = round(n.start * tpb)
            off = max(on + 1, round(n.end * tpb))
            voice.notes.append((on, off, n.pitch, min(127, max(1, n.velocity))))
    out = mido.MidiFile(type=mid.type, ticks_per_beat=tpb, charset=mid.charset)
    for i, track in enumerate(mid.tracks):
        if i in voices:
            out.tracks.append(_edit_track(track, voices[i]))
        else:
            out.tracks.append(mido.MidiTrack(track))
    return out


def _edit_track(track: mido.MidiTrack, voices: dict[int, _Voice]) -> mido.MidiTrack:
    """One MIDI track with its selected notes replaced; see `edit_midi`."""
    events: list[list] = []  # [tick, place, order, message]
    tick = 0
    for order, msg in enumerate(track):
        tick += msg.time
        events.append([tick, KEPT, order, msg])
    end_tick = tick
    # Pair note-ons with note-offs as read_midi does: per channel and pitch, oldest first.
    notes: list[tuple[list, list | None]] = []  # (note-on event, note-off event or None)
    open_notes: dict[tuple[int, int], deque] = {}
    for event in events:
        msg = event[3]
        if msg.type not in ("note_on", "note_off") or msg.channel not in voices:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault(key, deque()).append(event)
        elif open_notes.get(key):
            notes.append((open_notes[key].popleft(), event))
    notes += [(on, None) for pending in open_notes.values() for on in pending]

    removed: set[int] = set()
    kept: dict[tuple[int, int], list[_Kept]] = {}
    for on, off in notes:
        channel, pitch = on[3].channel, on[3].note
        if voices[channel].selects(on[0]):
            removed.add(on[2])
            if off is not None:
                removed.add(off[2])
        else:
            end = off[0] if off is not None else end_tick
            kept.setdefault((channel, pitch), []).append(_Kept(on[0], end, off))
    events = [e for e in events if e[2] not in removed]

    note_off = _note_off_style(track)
    order = len(track)
    for channel, voice in voices.items():
        generated = sorted(voice.notes)
        for i, (on, off, pitch, velocity) in enumerate(generated):
            for note in kept.get((channel, pitch), []):
                if note.start < on < note.end:  # a kept note rings into this one: end it here
                    note.end = on
                    if note.off is not None:
                        note.off[0], note.off[1] = on, FIRST
                    else:  # it never ended in the file; now it does
                        events.append([on, FIRST, order, note_off(channel, pitch)])
                        order += 1
                elif on < note.start < off:  # this one would ring into a later kept note
                    off = note.start
            later = [n[0] for n in generated[i + 1 :] if n[2] == pitch and n[0] > on]
            off = min([off, *later])
            note_on = mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)
            events.append([on, LAST, order, note_on])
            events.append([off, FIRST, order + 1, note_off(channel, pitch)])
            order += 2

    body = [e for e in events if e[3].type != "end_of_track"]
    body.sort(key=lambda e: (e[0], e[1], e[2]))
    out = mido.MidiTrack()
    now = 0
    for tick, _, _, msg in body:
        out.append(msg.copy(time=tick - now))
        now = tick
    end = max(end_tick, now)
    out.append(mido.MetaMessage("end_of_track", time=end - now))
    return out


def _note_off_style(track: mido.MidiTrack):
    """A maker of note-offs written the way this track already writes them: a note_on with
    velocity 0 (running status, as many sequencers save) or a note_off."""
    zero_on = any(m.type == "note_on" and m.velocity == 0 for m in track)
    real_off = any(m.type == "note_off" for m in track)
    if zero_on and not real_off:
        return lambda channel, pitch: mido.Message(
            "note_on", channel=channel, note=pitch, velocity=0
        )
    return lambda channel, pitch: mido.Message("note_off", channel=channel, note=pitch)
