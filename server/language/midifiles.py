"""Standard MIDI files <-> `Piece`.

Reading is where real-world files get normalised into the data model: ticks become quarter notes,
(MIDI track, channel) pairs become tracks, and the quirks DAWs and converters produce (overlapping
same-pitch notes, missing note-offs, tempo maps outside track 0) are settled here once so nothing
downstream has to care. Writing produces a plain type 1 file any DAW imports; results that
go back into a user's file are written as an edit of that file instead (midiedit.py), so nothing
but the replaced notes changes.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import BinaryIO

import mido

from .piece import Note, Piece, TimeSignature, Track, bar_grid

DRUM_CHANNEL = 9
# How far (quarters) the end of a file may run past a bar line without opening another bar.
END_SLOP = 1 / 8
# Channels a melodic track may use, in the order they are handed out.
MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]

# General MIDI instrument families, eight programs each: the name of a track with no name.
GM_FAMILIES = [
    "Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
    "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive",
    "Sound Effects",
]  # fmt: skip


class MidiFileError(ValueError):
    """A file that cannot be read as MIDI; the message names the file and what is wrong."""


def default_name(program: int, is_drum: bool) -> str:
    return "Drums" if is_drum else GM_FAMILIES[program // 8]


def _load(source: str | Path | mido.MidiFile) -> tuple[mido.MidiFile, str]:
    """Open the file, turning mido's and the OS's many error types into one MidiFileError."""
    if isinstance(source, mido.MidiFile):
        mid, label = source, str(source.filename or "<MidiFile>")
    else:
        label = str(source)
        try:
            mid = mido.MidiFile(source)
        except FileNotFoundError as e:
            raise MidiFileError(f"{label}: no such file") from e
        except IsADirectoryError as e:
            raise MidiFileError(f"{label}: is a directory, not a MIDI file") from e
        except EOFError as e:
            raise MidiFileError(f"{label}: truncated MIDI file (data ends mid-chunk)") from e
        except (OSError, ValueError, KeyError, IndexError) as e:
            raise MidiFileError(f"{label}: not a valid MIDI file ({e})") from e
    if mid.type == 2:
        raise MidiFileError(f"{label}: type 2 MIDI files (independent sequences) are not supported")
    if mid.ticks_per_beat <= 0 or mid.ticks_per_beat & 0x8000:
        raise MidiFileError(f"{label}: SMPTE or zero time division is not supported")
    return mid, label


def open_midi(source: str | Path) -> mido.MidiFile:
    """The file as mido reads it (for editing it later), or a MidiFileError naming the problem."""
    return _load(source)[0]


def read_midi(source: str | Path | mido.MidiFile) -> Piece:
    """Read a type 0 or type 1 file: one Track per (MIDI track, channel), in file order.

    A (track, channel) with a program change but no notes is kept as an empty track: prompt files
    use such tracks to name an instrument the model should fill in, and it keeps write -> read
    lossless for empty tracks. `length` is where the file ends (its longest track), so trailing
    silent bars survive.
    """
    mid, label = _load(source)
    tpb = mid.ticks_per_beat
    tempos: dict[int, float] = {}
    signatures: dict[int, TimeSignature] = {}
    # Program changes per channel over the whole file (tick, program), for channels whose track
    # sets no program of its own (type 1 files may keep them all in track 0).
    channel_programs: dict[int, list[tuple[int, int]]] = {}
    voices: list[tuple[str, int, dict]] = []  # (track name, channel, voice state)
    end_tick = 0

    for index, mtrack in enumerate(mid.tracks):
        name = ""
        by_channel: dict[int, dict] = {}
        tick = 0
        for msg in mtrack:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos[tick] = mido.tempo2bpm(msg.tempo)
            elif msg.type == "time_signature":
                signatures[tick] = TimeSignature(msg.numerator, msg.denominator)
            elif msg.type == "track_name" and not name:
                name = msg.name
            elif msg.type in ("note_on", "note_off", "program_change"):
                v = by_channel.setdefault(
                    msg.channel,
                    {"program": None, "open": {}, "notes": [], "first": None, "track": index},
                )
                if msg.type == "program_change":
                    channel_programs.setdefault(msg.channel, []).append((tick, msg.program))
                    if v["first"] is None:
                        v["program"] = msg.program
                elif msg.type == "note_on" and msg.velocity > 0:
                    if v["first"] is None:
                        v["first"] = tick
                    v["open"].setdefault(msg.note, []).append((tick, msg.velocity))
                elif v["open"].get(msg.note):  # note-off: the oldest open note of that pitch
                    start, velocity = v["open"][msg.note].pop(0)
                    if tick > start:  # zero-length notes carry nothing a DAW would play
                        v["notes"].append((start, tick, msg.note, velocity))
        end_tick = max(end_tick, tick)
        for channel, v in by_channel.items():
            for pitch, pending in v["open"].items():  # never released: ends with its track
                v["notes"].extend(
                    (start, tick, pitch, vel) for start, vel in pending if tick > start
                )
            if v["notes"] or (len(by_channel) == 1 and v["program"] is not None):
                voices.append((name if len(by_channel) == 1 else "", channel, v))
    # A noteless program change on a channel other tracks play is set-up for them, not a track.
    sounding = {channel for _, channel, v in voices if v["notes"]}
    voices = [voice for voice in voices if voice[2]["notes"] or voice[1] not in sounding]

    time_signatures = [(t / tpb, ts) for t, ts in sorted(signatures.items())]
    length = end_tick / tpb
    # Many writers put end_of_track a tick or so past the last bar line; that slop is not a bar.
    last_bar = bar_grid(time_signatures, length)[-1]
    if last_bar.index > 0 and length - last_bar.start < END_SLOP:
        length = last_bar.start
    piece = Piece(
        time_signatures=time_signatures,
        tempos=[(t / tpb, bpm) for t, bpm in sorted(tempos.items())],
        length=length,
    )
    for name, channel, v in voices:
        program = v["program"]
        if program is None:
            first = v["first"] if v["first"] is not None else end_tick
            changes = sorted(channel_programs.get(channel, []), key=lambda c: c[0])
            earlier = [p for t, p in changes if t <= first]
            program = earlier[-1] if earlier else 0
        is_drum = channel == DRUM_CHANNEL
        notes = sorted(
            Note(start / tpb, pitch, (end - start) / tpb, velocity)
            for start, end, pitch, velocity in v["notes"]
        )
        track_name = name if name.strip() else default_name(program, is_drum)
        piece.tracks.append(Track(program, is_drum, track_name, notes, (v["track"], channel)))
    return piece


def _to_track(events: list[tuple[int, int, mido.Message]], end_tick: int) -> mido.MidiTrack:
    """Absolute (tick, order, message) events -> a track with delta times and an end marker."""
    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now)))
    return track


def build_midi(piece: Piece, ticks_per_beat: int = 480) -> mido.MidiFile:
    """The type 1 file `write_midi` saves: conductor track first, then one track per Track."""

    def ticks(quarters: float) -> int:
        return round(quarters * ticks_per_beat)

    end_tick = ticks(piece.end)
    conductor = [
        (ticks(t), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
        for t, bpm in piece.tempos
    ]
    for t, ts in piece.time_signatures:
        meta = mido.MetaMessage(
            "time_signature", numerator=ts.numerator, denominator=ts.denominator
        )
        conductor.append((ticks(t), 0, meta))
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(_to_track(conductor, end_tick))

    melodic = 0
    for track in piece.tracks:
        if track.is_drum:
            channel = DRUM_CHANNEL
        else:
            channel = MELODIC_CHANNELS[melodic % len(MELODIC_CHANNELS)]
            melodic += 1
        # mido writes meta text as latin-1; anything else would abort the whole save.
        name = track.name.encode("latin-1", "replace").decode("latin-1")
        events = [
            (0, 0, mido.MetaMessage("track_name", name=name)),
            (0, 1, mido.Message("program_change", channel=channel, program=track.program)),
        ]
        for note in sorted(track.notes):
            velocity = min(127, max(1, note.velocity))
            on, off = ticks(note.start), max(ticks(note.end), ticks(note.start) + 1)
            # Order 2 puts note-offs before note-ons (3) at the same tick, so a repeated note is
            # not cut by its predecessor's release; the stable sort keeps score order otherwise.
            note_on = mido.Message("note_on", channel=channel, note=note.pitch, velocity=velocity)
            events.append((on, 3, note_on))
            events.append((off, 2, mido.Message("note_off", channel=channel, note=note.pitch)))
        last = max((tick for tick, _, _ in events), default=0)
        mid.tracks.append(_to_track(events, last))
    return mid


def write_midi(piece: Piece, target: str | Path | BinaryIO, ticks_per_beat: int = 480) -> None:
    """Write `piece` as a type 1 file; paths are written atomically.

    A path gets a temporary file beside it that replaces the target only once fully written, so a
    crash or a bad piece never leaves a half-written file where a DAW would pick it up.
    """
    save_midi(build_midi(piece, ticks_per_beat), target)  # bad data fails before disk is touched


def save_midi(mid: mido.MidiFile, target: str | Path | BinaryIO) -> None:
    """Save a file; a path is written atomically (see `write_midi`)."""
    if not isinstance(target, (str, Path)):
        mid.save(file=target)
        return
    path = Path(target)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:  # plain open, not mkstemp: the file gets the usual permissions
            mid.save(file=f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
