"""The OSC protocol, version 1: every message as a pydantic model, the limits and the error codes.

docs/osc-protocol.md is the contract the DAW clients are written against. Its reference part
(messages, arguments, ranges, limits, error codes) is generated from this module by
protocoldoc.py, and a test fails when the two differ, so the document cannot drift from what the
server parses and sends.

Arguments are positional (oscmessage.py). Validation is strict: an int argument must be an OSC
int (a float, string or bool is refused); a float argument takes an OSC float or int. Indices
on the wire (tracks, bars, variations) count from 1, as a DAW shows them.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .oscmessage import BadMessage as BadMessage  # re-exported: handlers catch p.BadMessage
from .oscmessage import Message

PROTOCOL_VERSION = 1
PREFIX = "/midigen"

# Limits. The doc's limits table is generated from LIMITS.
MAX_DATAGRAM = 65_507  # UDP's limit; the server reads datagrams up to this size
NOTES_PER_MESSAGE = 256  # in one /upload/notes message
NOTES_PER_REPLY = 64  # the server's /notes chunks: 64 notes are ~1.4 kB, one Ethernet frame
MAX_TRACKS = 32
MAX_BARS = 512
MAX_NOTES = 20_000  # per uploaded piece
MAX_SELECTIONS = 64
MAX_NEW_BARS = 64  # bars one continue job may add
MAX_VARIATIONS = 16  # generation.MAX_VARIATIONS (a test checks they agree)
DEFAULT_QUEUE = 16  # jobs waiting (not running); --max-queue changes it
MAX_UPLOADS = 8  # unfinished uploads per client
UPLOAD_TIMEOUT_S = 120  # an unfinished upload idle this long is dropped
RESULTS_KEPT = 32  # finished jobs per client whose result /result can send again

LIMITS: list[tuple[str, int, str]] = [
    ("datagram", MAX_DATAGRAM, "bytes in one UDP datagram (UDP's own limit); larger is lost"),
    ("notes per /upload/notes", NOTES_PER_MESSAGE, "keep <= 64 across a real network (MTU)"),
    ("notes per /notes reply", NOTES_PER_REPLY, "a bar with more notes spans several messages"),
    ("tracks per piece", MAX_TRACKS, ""),
    ("bars per piece", MAX_BARS, "continue may add up to 64 more"),
    ("notes per piece", MAX_NOTES, "over all tracks of one upload"),
    ("selections per job", MAX_SELECTIONS, ""),
    ("variations per job", MAX_VARIATIONS, ""),
    ("waiting jobs", DEFAULT_QUEUE, "all clients together; `--max-queue`; then `queue_full`"),
    ("unfinished uploads per client", MAX_UPLOADS, "the oldest is dropped for a new one"),
    ("upload idle timeout (s)", UPLOAD_TIMEOUT_S, "an unfinished upload is dropped after it"),
    ("results kept per client", RESULTS_KEPT, "older finished jobs answer `unknown_job`"),
]


class ErrorCode(str, Enum):
    """The `code` of /midigen/error; the text after it is for people, the code for programs."""

    bad_message = "arguments do not match the message's types, count or ranges"
    unknown_address = "no such address under /midigen/"
    unknown_job = "no such job from this client (never sent, finished too long ago, or expired)"
    job_in_use = "a job with this number is still queued or running"
    no_upload = "/upload/... or /generate without /upload/begin, or /generate before /upload/end"
    upload_incomplete = "the notes received differ from /upload/end's count; upload again"
    too_large = "a limit in the table above is exceeded"
    queue_full = "the queue is full; nothing was queued; send /generate again later"
    invalid_request = "the request cannot be generated (selection, controls, piece); see text"
    not_finished = "/result or /play for a job (or variation) that is still queued or running"
    midi_off = "/play, /stop or /tempo to a server started without --midi-out"
    internal = "a server bug; logged with a traceback; the server keeps running"


# Field shorthands: strict ints; floats take ints too (pydantic's strict float does).
def _int(description: str, lo: int | None = None, hi: int | None = None) -> Any:
    return Field(description=description, ge=lo, le=hi)


ReplyPort = Annotated[
    int, _int("UDP port the client listens on (replies go to its host)", 1, 65535)
]
Job = Annotated[int, _int("job number chosen by the client, unique among its live jobs", 1)]
JobOrNone = Annotated[int, _int("the job, or -1 when none applies", -1)]
Track = Annotated[int, _int("track, 1-based", 1, MAX_TRACKS)]
BarNo = Annotated[int, _int("bar, 1-based", 1, MAX_BARS + MAX_NEW_BARS)]
Variation = Annotated[int, _int("variation, 1-based", 1, MAX_VARIATIONS)]
Pitch = Annotated[int, _int("MIDI pitch", 0, 127)]
Start = Annotated[float, Field(description="onset in quarter notes from the piece start", ge=0)]
Duration = Annotated[float, Field(description="length in quarter notes", gt=0)]
Velocity = Annotated[int, _int("MIDI velocity", 1, 127)]
Flag = Annotated[int, _int("0 off, 1 on", 0, 1)]
Any1 = Annotated[int, _int("level 1-10, or -1 for any", -1, 10)]
AnyDur = Annotated[int, _int("duration class 0 (32nd) .. 5 (whole), or -1 for any", -1, 5)]


class NoteArgs(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    pitch: Pitch
    start: Start
    duration: Duration
    velocity: Velocity


class SelectionArgs(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    track: Track
    first_bar: Annotated[int, _int("first bar to write, 1-based", 1)]
    last_bar: Annotated[int, _int("last bar to write, 1-based, inclusive", 1)]
    program: Annotated[int, _int("GM program to write the track as, or -1 to keep", -1, 127)]
    density: Any1
    poly_min: Any1
    poly_max: Any1
    dur_min: AnyDur
    dur_max: AnyDur


# -- client to server ----------------------------------------------------------------------
class Ping(Message):
    """Hello: the server answers /midigen/pong."""

    address = PREFIX + "/ping"
    incoming = True
    reply_port: ReplyPort


class UploadBegin(Message):
    """Start (or restart) the piece upload of a job; bars 1..`bars` exist even where silent."""

    address = PREFIX + "/upload/begin"
    incoming = True
    reply_port: ReplyPort
    job: Job
    tracks: Annotated[int, _int("number of tracks", 1, MAX_TRACKS)]
    bars: Annotated[int, _int("number of bars", 1, MAX_BARS)]
    tempo: Annotated[float, Field(description="beats (quarters) per minute", ge=20, le=400)]


class UploadTrack(Message):
    """A track's instrument; tracks not described are program 0, not drums."""

    address = PREFIX + "/upload/track"
    incoming = True
    reply_port: ReplyPort
    job: Job
    track: Track
    program: Annotated[int, _int("GM program 0-127 (drums: the kit)", 0, 127)]
    drum: Flag
    name: Annotated[str, Field(description="track name, may be empty", max_length=128)]


class UploadMeter(Message):
    """A time signature from `bar` on (until the next change); without any, 4/4."""

    address = PREFIX + "/upload/meter"
    incoming = True
    reply_port: ReplyPort
    job: Job
    bar: BarNo
    numerator: Annotated[int, _int("beats per bar", 1, 32)]
    denominator: Annotated[int, _int("beat unit: 1, 2, 4, 8, 16 or 32", 1, 32)]


class UploadNotes(Message):
    """Notes of one track, in any order and any number of messages."""

    address = PREFIX + "/upload/notes"
    incoming = True
    reply_port: ReplyPort
    job: Job
    track: Track
    notes: Annotated[list[NoteArgs], Field(min_length=1, max_length=NOTES_PER_MESSAGE)]


class UploadEnd(Message):
    """End of upload: the server compares the count and answers /uploaded or an error."""

    address = PREFIX + "/upload/end"
    incoming = True
    reply_port: ReplyPort
    job: Job
    notes: Annotated[int, _int("notes sent in all /upload/notes of this job", 0, MAX_NOTES)]


class Generate(Message):
    """Queue the job on its uploaded piece. Each selection names one track's bars and controls."""

    address = PREFIX + "/generate"
    incoming = True
    reply_port: ReplyPort
    job: Job
    mode: Annotated[Literal["infill", "continue", "loop"], Field(description="what to write")]
    variations: Annotated[int, _int("alternatives to write (K)", 1, MAX_VARIATIONS)]
    temperature: Annotated[
        float, Field(description="sampling temperature, 0 = greedy", ge=0, le=10)
    ]
    top_p: Annotated[float, Field(description="nucleus cut, 1 = off", gt=0, le=1)]
    seed: Annotated[int, _int("random seed, or -1 for a fresh one (reported in /done)", -1)]
    velocity: Annotated[int, _int("1: model velocities; 0: the track's mean velocity", 0, 1)]
    microtiming: Annotated[int, _int("1: off-grid timing; 0: on the 1/12-quarter grid", 0, 1)]
    selections: Annotated[list[SelectionArgs], Field(min_length=1, max_length=MAX_SELECTIONS)]


class Cancel(Message):
    """Cancel a queued or running job: /cancelled follows (bars already sent stay sent)."""

    address = PREFIX + "/cancel"
    incoming = True
    reply_port: ReplyPort
    job: Job


class Result(Message):
    """Send a finished (or cancelled) job's /notes, /bar and /done (or /cancelled) again."""

    address = PREFIX + "/result"
    incoming = True
    reply_port: ReplyPort
    job: Job


class Play(Message):
    """Loop a finished variation of a loop job on the --midi-out port: at once when stopped,
    else from the next loop boundary. While it plays, each variation of the client's loop jobs
    that finishes is swapped in at the next boundary."""

    address = PREFIX + "/play"
    incoming = True
    reply_port: ReplyPort
    job: Job
    variation: Annotated[
        int, _int("variation, 1-based; 0 = the newest finished", 0, MAX_VARIATIONS)
    ]


class Stop(Message):
    """Stop the MIDI out: every sounding note gets its note-off, then all-notes-off."""

    address = PREFIX + "/stop"
    incoming = True
    reply_port: ReplyPort


class Tempo(Message):
    """Tempo of the free-running MIDI out (without the DAW's MIDI clock); else the piece's."""

    address = PREFIX + "/tempo"
    incoming = True
    reply_port: ReplyPort
    bpm: Annotated[float, Field(description="quarters per minute", ge=20, le=400)]


# -- server to client ----------------------------------------------------------------------
class Pong(Message):
    """Answer to /ping: what this server speaks and runs."""

    address = PREFIX + "/pong"
    incoming = False
    protocol: Annotated[int, _int("protocol version (this document)")]
    version: Annotated[str, Field(description="midigen version")]
    model: Annotated[str, Field(description="model bundle name")]
    device: Annotated[str, Field(description="cpu or cuda")]
    window_bars: Annotated[int, _int("bars the model sees at once")]
    max_tracks: Annotated[int, _int("tracks the model sees at once")]
    controls: Annotated[str, Field(description="control ranges, `name=lo..hi` space-separated")]


class Uploaded(Message):
    """The piece of a job arrived complete."""

    address = PREFIX + "/uploaded"
    incoming = False
    job: Job
    notes: Annotated[int, _int("notes received")]


class Accepted(Message):
    """The job is queued."""

    address = PREFIX + "/accepted"
    incoming = False
    job: Job
    position: Annotated[int, _int("jobs ahead of it (0: it starts now)", 0)]


class Progress(Message):
    """Sent when a window step starts and after every bar."""

    address = PREFIX + "/progress"
    incoming = False
    job: Job
    fraction: Annotated[float, Field(description="bars finished / bars to write", ge=0, le=1)]


class Notes(Message):
    """Notes of one finished bar (several messages when it has more than 64)."""

    address = PREFIX + "/notes"
    incoming = False
    job: Job
    variation: Variation
    track: Track
    bar: BarNo
    notes: list[NoteArgs]


class Bar(Message):
    """Closes a bar's group: sent right after its /notes; `notes` tells if one was lost."""

    address = PREFIX + "/bar"
    incoming = False
    job: Job
    variation: Variation
    track: Track
    bar: BarNo
    notes: Annotated[int, _int("notes in this bar's /notes messages", 0)]
    start: Annotated[float, Field(description="bar start, quarters from the piece start")]
    end: Annotated[float, Field(description="bar end, quarters from the piece start")]


class Done(Message):
    """The job finished; every bar was sent before this."""

    address = PREFIX + "/done"
    incoming = False
    job: Job
    variations: Annotated[int, _int("variations written")]
    bars: Annotated[int, _int("bars sent, all variations")]
    queue_ms: Annotated[float, Field(description="time waiting in the queue")]
    first_bar_ms: Annotated[float, Field(description="from start to the first bar")]
    model_ms: Annotated[float, Field(description="time inside the model")]
    total_ms: Annotated[float, Field(description="from start to done")]
    tokens: Annotated[int, _int("tokens sampled, retries included")]
    seed: Annotated[int, _int("the seed used: send it back to repeat the job")]


class Cancelled(Message):
    """The job stopped early; the bars sent before stay valid."""

    address = PREFIX + "/cancelled"
    incoming = False
    job: Job
    reason: Annotated[
        Literal["cancel", "superseded", "shutdown"],
        Field(description="/cancel, a newer job of the client on a shared track, or exit"),
    ]


class Playing(Message):
    """A loop started playing on the MIDI out (after /play, or swapped in at a boundary)."""

    address = PREFIX + "/playing"
    incoming = False
    job: Job
    variation: Variation


class Error(Message):
    """Something the client sent was refused or failed; see the codes below."""

    address = PREFIX + "/error"
    incoming = False
    job: JobOrNone
    code: Annotated[str, Field(description="one of the error codes")]
    message: Annotated[str, Field(description="one line for people")]


MESSAGES: list[type[Message]] = [
    c for c in list(globals().values())
    if isinstance(c, type) and issubclass(c, Message) and c is not Message
]  # fmt: skip
INCOMING = {c.address: c for c in MESSAGES if c.incoming}
OUTGOING = {c.address: c for c in MESSAGES if not c.incoming}


def error(job: int, code: ErrorCode, text: str) -> Error:
    return Error(job=job, code=code.name, message=text)
