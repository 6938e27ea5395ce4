"""The OSC protocol, version 2: every client-to-server message as a pydantic model; the replies
(replies.py), argument types (fields.py) and limits (limits.py) are re-exported from here.

docs/osc-protocol.md is the contract the DAW clients are written against. Its reference part
(messages, arguments, ranges, limits, error codes) is generated from these modules by
protocoldoc.py, and a test fails when the two differ, so the document cannot drift from what the
server parses and sends. Indices on the wire (tracks, bars, variations, chunks) count from 1,
as a DAW shows them; times are integer ticks, TICKS per quarter note.
"""

# ruff: noqa: F403, F405 -- the star imports re-export fields, limits and replies as one namespace
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .errors import ErrorCode as ErrorCode  # re-exported: handlers use p.ErrorCode
from .fields import *
from .fields import _Group, _int
from .limits import *
from .oscmessage import BadMessage as BadMessage
from .oscmessage import Message, cap, limit
from .replies import *
from .replies import _Server


# -- client to server ----------------------------------------------------------------------
class Hello(Message):
    """Say who you are; the server answers /welcome with the token every later message carries.
    The same client_id again (a reloaded client) gets its pieces and jobs back."""

    address, incoming = PREFIX + "/hello", True
    protocol: Annotated[int, _int("the protocol version the client speaks (2)", 0, INT32)]
    reply_port: ReplyPort
    client_id: Annotated[
        str,
        Field(
            description="8-64 of `A-Za-z0-9_-`, starting with a letter; random, kept by the client",
            pattern=r"^[A-Za-z][A-Za-z0-9_-]{7,63}$",
        ),
    ]


class Ping(Message):
    """Are you there: /pong answers to the sender's host at reply_port (no token needed)."""

    address, incoming = PREFIX + "/ping", True
    reply_port: ReplyPort


class Bye(Message):
    """The client leaves: its live jobs are cancelled (`gone`), its pieces and results dropped."""

    address, incoming = PREFIX + "/bye", True
    token: Token


class UploadBegin(Message):
    """Start (or restart) the upload of a piece; bars 1..`bars` exist even where silent."""

    address, incoming = PREFIX + "/upload/begin", True
    token: Token
    piece: PieceNo
    tracks: Annotated[int, limit("number of tracks", 1, MAX_TRACKS)]
    bars: Annotated[int, limit("number of bars", 1, MAX_BARS)]
    tempo: Annotated[float, Field(description="quarters per minute", ge=20, le=400)]


class UploadTrack(Message):
    """A track's instrument; a track without one is program 0, not drums."""

    address, incoming = PREFIX + "/upload/track", True
    token: Token
    piece: PieceNo
    track: Track
    program: Annotated[int, _int("GM program 0-127 (drums: the kit)", 0, 127)]
    drum: Flag
    name: Annotated[str, limit("track name, may be empty", max_length=MAX_NAME)]


class UploadMeter(Message):
    """A time signature from `bar` on (until the next one); without any, 4/4."""

    address, incoming = PREFIX + "/upload/meter", True
    token: Token
    piece: PieceNo
    bar: BarNo
    numerator: Annotated[int, _int("beats per bar", 1, 32)]
    denominator: Annotated[int, _int("beat unit: 1, 2, 4, 8, 16 or 32", 1, 32)]


class UploadNotes(Message):
    """One numbered chunk of one track's notes; a resent chunk number replaces the earlier."""

    address, incoming = PREFIX + "/upload/notes", True
    token: Token
    piece: PieceNo
    chunk: Annotated[int, limit("chunk number, 1, 2, 3 ... per upload", 1, MAX_CHUNKS)]
    track: Track
    notes: Annotated[list[NoteArgs], Field(min_length=1, max_length=NOTES_PER_MESSAGE)]


class UploadEnd(Message):
    """What the client sent; answered /uploaded, /upload/missing or refused."""

    address, incoming = PREFIX + "/upload/end", True
    token: Token
    piece: PieceNo
    tracks: Annotated[int, limit("distinct tracks described by /upload/track", 0, MAX_TRACKS)]
    meters: Annotated[int, limit("distinct bars given an /upload/meter", 0, MAX_BARS)]
    chunks: Annotated[int, limit("chunks sent (numbered 1..chunks)", 0, MAX_CHUNKS)]
    notes: Annotated[int, limit("notes in all chunks", 0, MAX_NOTES)]


class Generate(Message):
    """Queue a job on an uploaded piece; each selection names one track's bars and controls."""

    address, incoming = PREFIX + "/generate", True
    token: Token
    job: Job
    piece: PieceNo
    mode: Annotated[Literal["infill", "continue", "loop"], Field(description="what to write")]
    variations: Annotated[int, limit("alternatives written in parallel", 1, MAX_VARIATIONS)]
    temperature: Annotated[float, Field(description="0 = greedy; 1 usual", ge=0, le=10)]
    top_p: Annotated[float, Field(description="nucleus cut; 0 = default 0.95; 1 = off", ge=0, le=1)]
    seed: Annotated[int, _int("random seed, or -1 for a fresh one (reported in /done)", -1, INT32)]
    velocity: Annotated[int, _int("1: model velocities; 0: the track's mean velocity", 0, 1)]
    microtiming: Annotated[int, _int("1: off-grid onsets; 0: on the 1/12-quarter grid", 0, 1)]
    selections: Annotated[list[SelectionArgs], Field(min_length=1, max_length=MAX_SELECTIONS)]


class Status(Message):
    """Where a job is: answered /state (an unknown job is state `unknown`). Also the heartbeat."""

    address, incoming = PREFIX + "/status", True
    token: Token
    job: Job


class Result(Message):
    """Resend a finished job's bar groups that match the filter (0 = all), paced, then its final
    message."""

    address, incoming = PREFIX + "/result", True
    token: Token
    job: Job
    variation: Annotated[int, _int("variation, or 0 for all", 0, MAX_VARIATIONS)]
    track: Annotated[int, _int("track, or 0 for all", 0, MAX_TRACKS)]
    first_bar: Annotated[int, _int("first bar, or 0 from the first", 0, MAX_BARS + MAX_NEW_BARS)]
    last_bar: Annotated[int, _int("last bar, or 0 to the last", 0, MAX_BARS + MAX_NEW_BARS)]


class Cancel(Message):
    """Cancel a queued or running job: /cancelled follows (bars already sent stay sent)."""

    address, incoming = PREFIX + "/cancel", True
    token: Token
    job: Job


class Play(Message):
    """Loop a finished variation of a loop job on the --midi-out port: at once when nothing
    plays, else from the next loop boundary. Variation 0 cycles through every finished
    variation of the client's newest loop job, one per loop; a number holds that variation."""

    address, incoming = PREFIX + "/play", True
    token: Token
    job: Job
    variation: Annotated[
        int, _int("variation, 1-based; 0 = the newest finished", 0, MAX_VARIATIONS)
    ]


class Stop(Message):
    """Stop and unload the MIDI out's loop: every sounding note gets its note-off, then
    all-notes-off; the DAW's next Start plays nothing until the next /play."""

    address, incoming = PREFIX + "/stop", True
    token: Token


class Tempo(Message):
    """This client's tempo for its free-running loops (without the DAW's MIDI clock); else the
    piece's. Forgotten when the client leaves."""

    address, incoming = PREFIX + "/tempo", True
    token: Token
    bpm: Annotated[float, Field(description="quarters per minute", ge=20, le=400)]


class ChannelArgs(_Group):
    track: Track
    channel: Annotated[int, _int("MIDI channel, 1-16", 1, 16)]


class Channels(Message):
    """This client's MIDI channel for each listed track of its pieces (the rest keep the
    default: drums on 10, melodic tracks on 1-9, 11-16 in order); none listed: all default."""

    address, incoming = PREFIX + "/channels", True
    token: Token
    channels: Annotated[list[ChannelArgs], Field(max_length=MAX_TRACKS)]


MESSAGES: list[type[Message]] = [
    c for c in list(globals().values())
    if isinstance(c, type) and issubclass(c, Message) and c not in (Message, _Server)
]  # fmt: skip
INCOMING = {c.address: c for c in MESSAGES if c.incoming}
OUTGOING = {c.address: c for c in MESSAGES if not c.incoming}


def refused(address: str, code: ErrorCode, number: int, text: str) -> Refused:
    """A refusal with the echoed address and text capped to what every client can take."""
    return Refused(request=cap(address, 64), code=code.name, number=number, message=cap(text))


def failed(job: int, code: ErrorCode, text: str) -> Failed:
    return Failed(job=job, code=code.name, message=cap(text))
