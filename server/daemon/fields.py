"""The argument types of protocol 2's messages (ranges and meanings, which the generated
document shows) and the repeated groups: notes, missing chunks, selections."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .limits import (
    INT32,
    MAX_BARS,
    MAX_CHUNKS,
    MAX_NEW_BARS,
    MAX_TRACKS,
    MAX_VARIATIONS,
)
from .oscmessage import limit


def _int(description: str, lo: int | None = None, hi: int | None = None) -> Any:
    return Field(description=description, ge=lo, le=hi)


Token = Annotated[int, _int("from /welcome", 1, INT32)]
ReplyPort = Annotated[
    int, _int("UDP port the client listens on (replies go to its host)", 1, 65535)
]
Job = Annotated[int, _int("job number chosen by the client, unique among its live jobs", 1, INT32)]
PieceNo = Annotated[int, _int("piece number chosen by the client", 1, INT32)]
Track = Annotated[int, limit("track, 1-based", 1, MAX_TRACKS)]
BarNo = Annotated[int, limit("bar, 1-based", 1, MAX_BARS + MAX_NEW_BARS)]
Variation = Annotated[int, limit("variation, 1-based", 1, MAX_VARIATIONS)]
Pitch = Annotated[int, _int("MIDI note number", 0, 127)]
Tick = Annotated[int, _int("onset in ticks from the piece start", 0, INT32)]
Ticks = Annotated[int, _int("length in ticks", 1, INT32)]
Velocity = Annotated[int, _int("MIDI velocity", 1, 127)]
Flag = Annotated[int, _int("0 off, 1 on", 0, 1)]
Level = Annotated[int, _int("level 1-10, or -1 for any", -1, 10)]
DurClass = Annotated[int, _int("duration class 0 (32nd) .. 5 (whole), or -1 for any", -1, 5)]
Register = Annotated[
    int, _int("MIDI note number bounding the written notes, or -1 for any", -1, 127)
]
Ms = Annotated[float, Field(description="milliseconds")]
Text = Annotated[str, Field(description="one line for people, <= 200 characters", max_length=200)]


class _Group(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class NoteArgs(_Group):
    pitch: Pitch
    start: Tick
    duration: Ticks
    velocity: Velocity


class ChunkArgs(_Group):
    chunk: Annotated[int, _int("a missing chunk number", 1, MAX_CHUNKS)]


class SelectionArgs(_Group):
    track: Track
    first_bar: Annotated[int, limit("first bar to write, 1-based", 1, MAX_BARS + MAX_NEW_BARS)]
    last_bar: Annotated[int, limit("last bar to write, inclusive", 1, MAX_BARS + MAX_NEW_BARS)]
    program: Annotated[int, _int("GM program to write the track as, or -1 to keep", -1, 127)]
    density: Level
    poly_min: Level
    poly_max: Level
    dur_min: DurClass
    dur_max: DurClass
    pitch_min: Register
    pitch_max: Register
