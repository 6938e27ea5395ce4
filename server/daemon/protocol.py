"""The OSC protocol, version 2: every message as a pydantic model, and the limits.

docs/osc-protocol.md is the contract the DAW clients are written against. Its reference part
(messages, arguments, ranges, limits, error codes) is generated from this module by
protocoldoc.py, and a test fails when the two differ, so the document cannot drift from what the
server parses and sends. Indices on the wire (tracks, bars, variations, chunks) count from 1,
as a DAW shows them; times are integer ticks, TICKS per quarter note.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import oscwire
from .errors import ErrorCode as ErrorCode  # re-exported: handlers use p.ErrorCode
from .oscmessage import BadMessage as BadMessage
from .oscmessage import Message, cap, limit

PROTOCOL_VERSION = 2
PREFIX = "/midigen"
TICKS = 96  # per quarter note: the model's finest step (1/8 of its 1/12-quarter grid)
INT32 = 2**31 - 1

# Limits. The doc's limits table is generated from LIMITS.
NOTES_PER_MESSAGE = 60  # /upload/notes and /notes: 4 + 60 x 4 = 244 atoms, under Max's 256
MAX_CHUNKS = 20_000
MAX_TRACKS = 32
MAX_BARS = 512
MAX_NOTES = 20_000  # per uploaded piece
MAX_SELECTIONS = 64
MAX_NEW_BARS = 64  # bars one continue job may add
MAX_VARIATIONS = 16  # generation.MAX_VARIATIONS (a test checks they agree)
MAX_NAME = 64
DEFAULT_QUEUE = 16  # jobs waiting, all clients; --max-queue changes it
QUEUE_PER_CLIENT = 8
PIECES_PER_CLIENT = 8
STORED_NOTES = 400_000  # notes of all clients' pieces
UPLOAD_IDLE_S = 60  # an unfinished upload idle this long is dropped
PIECE_IDLE_S = 30 * 60  # a complete piece unused this long is dropped
RESULTS_PER_CLIENT = 16
RESULTS_KEPT = 256
RESULT_TTL_S = 15 * 60
MAX_CLIENTS = 64
HEARTBEAT_S = 10  # a client with live jobs sends something this often...
SILENT_S = 30  # ...and its live jobs are cancelled ("gone") after this much silence
REFUSALS_PER_S = 20  # per host
REPLAY_BURST, REPLAY_GAP_MS = 4, 25  # paced /result: 4 datagrams, then 25 ms
UPLOAD_BURST, UPLOAD_GAP_MS = 32, 20  # clients' upload pacing: 32 datagrams, then 20 ms
RCVBUF = 4 << 20  # the server asks the OS for this receive buffer; /welcome says what it got

LIMITS: list[tuple[str, str, str]] = [
    ("incoming datagram", f"{oscwire.MAX_IN:,} bytes",
     f"bundles nest <= {oscwire.MAX_DEPTH} deep, <= {oscwire.MAX_MESSAGES} messages in all"),
    ("notes per /upload/notes and per /notes", str(NOTES_PER_MESSAGE), "244 atoms"),
    ("chunks per upload", f"{MAX_CHUNKS:,}", ""),
    ("tracks / bars per piece", f"{MAX_TRACKS} / {MAX_BARS}", f"continue adds <= {MAX_NEW_BARS}"),
    ("notes per piece", f"{MAX_NOTES:,}", ""),
    ("selections per job / variations", f"{MAX_SELECTIONS} / {MAX_VARIATIONS}", ""),
    ("track name", f"{MAX_NAME} characters", ""),
    ("waiting jobs", f"{QUEUE_PER_CLIENT} per client, {DEFAULT_QUEUE} in all",
     "`--max-queue`; then `queue_full`"),
    ("pieces per client", str(PIECES_PER_CLIENT),
     "open or complete; the least recently used goes first"),
    ("notes stored, all pieces", f"{STORED_NOTES:,}",
     "least recently used complete piece evicted; else `too_large`"),
    ("unfinished upload idle", f"{UPLOAD_IDLE_S} s", "then dropped (checked every second)"),
    ("complete piece idle", f"{PIECE_IDLE_S // 60} min", "then dropped"),
    ("results kept", f"{RESULTS_PER_CLIENT} per client, {RESULTS_KEPT} in all",
     f"dropped {RESULT_TTL_S // 60} min after the job ended"),
    ("clients known", str(MAX_CLIENTS), "the longest-silent without live jobs is forgotten"),
    ("liveness", f"a message every {HEARTBEAT_S} s while a job is live",
     f"live jobs are cancelled (`gone`) after {SILENT_S} s of silence"),
    ("error text", "200 characters", "quoting <= 40 characters of the input"),
    ("refusals sent", f"{REFUSALS_PER_S} per second per host", "the rest are counted"),
    ("replay pacing", f"{REPLAY_BURST} datagrams per {REPLAY_GAP_MS} ms", "one replay per client"),
    ("upload pacing (clients)", f"{UPLOAD_BURST} datagrams per {UPLOAD_GAP_MS} ms", ""),
    ("ticks per quarter note", str(TICKS), "all note and bar times"),
]  # fmt: skip


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
    """Loop a finished variation of a loop job on the --midi-out port: at once when stopped,
    else from the next loop boundary; later variations of the client's loop jobs swap in."""

    address, incoming = PREFIX + "/play", True
    token: Token
    job: Job
    variation: Annotated[
        int, _int("variation, 1-based; 0 = the newest finished", 0, MAX_VARIATIONS)
    ]


class Stop(Message):
    """Stop the MIDI out: every sounding note gets its note-off, then all-notes-off."""

    address, incoming = PREFIX + "/stop", True
    token: Token


class Tempo(Message):
    """Tempo of the free-running MIDI out (without the DAW's MIDI clock); else the piece's."""

    address, incoming = PREFIX + "/tempo", True
    token: Token
    bpm: Annotated[float, Field(description="quarters per minute", ge=20, le=400)]


# -- server to client ----------------------------------------------------------------------
class _Server(Message):
    incoming = False


class Welcome(_Server):
    """Answer to /hello: the token, and what this server speaks and runs."""

    address = PREFIX + "/welcome"
    token: Token
    protocol: Annotated[int, _int("protocol version (this document)")]
    version: Annotated[str, Field(description="midigen version")]
    model: Annotated[str, Field(description="model bundle name")]
    device: Annotated[str, Field(description="cpu or cuda")]
    window_bars: Annotated[int, _int("bars the model sees at once")]
    max_tracks: Annotated[int, _int("tracks the model sees at once")]
    rcvbuf: Annotated[int, _int("bytes of receive buffer the OS granted the server")]
    controls: Annotated[str, Field(description="control ranges, `name=lo..hi` space-separated")]


class Pong(_Server):
    """Answer to /ping: /welcome's fields without the token."""

    address = PREFIX + "/pong"
    protocol: Annotated[int, _int("protocol version (this document)")]
    version: Annotated[str, Field(description="midigen version")]
    model: Annotated[str, Field(description="model bundle name")]
    device: Annotated[str, Field(description="cpu or cuda")]
    window_bars: Annotated[int, _int("bars the model sees at once")]
    max_tracks: Annotated[int, _int("tracks the model sees at once")]
    rcvbuf: Annotated[int, _int("bytes of receive buffer the OS granted the server")]
    controls: Annotated[str, Field(description="control ranges, `name=lo..hi` space-separated")]


class Uploaded(_Server):
    """The piece arrived complete and is ready for /generate."""

    address = PREFIX + "/uploaded"
    piece: PieceNo
    notes: Annotated[int, _int("notes received")]


class UploadMissing(_Server):
    """The upload stays open: resend all track (meter) messages when `tracks` (`meters`) > 0,
    the chunks listed (lowest first, at most 60), then /upload/end again."""

    address = PREFIX + "/upload/missing"
    piece: PieceNo
    tracks: Annotated[int, _int("track messages missing", 0)]
    meters: Annotated[int, _int("meter messages missing", 0)]
    chunks: Annotated[list[ChunkArgs], Field(max_length=NOTES_PER_MESSAGE)]


class Accepted(_Server):
    """The job is queued; every check passed."""

    address = PREFIX + "/accepted"
    job: Job
    position: Annotated[int, _int("jobs that run before it (0: it starts now)", 0)]


class Progress(_Server):
    """Sent when a window step starts and after every bar."""

    address = PREFIX + "/progress"
    job: Job
    fraction: Annotated[float, Field(description="bars finished / bars to write", ge=0, le=1)]


class Notes(_Server):
    """Notes of one finished bar (several messages when it has more than 60)."""

    address = PREFIX + "/notes"
    job: Job
    variation: Variation
    track: Track
    bar: BarNo
    notes: Annotated[list[NoteArgs], Field(max_length=NOTES_PER_MESSAGE)]


class Bar(_Server):
    """Closes a bar's group: sent right after its /notes; `notes` tells if one was lost."""

    address = PREFIX + "/bar"
    job: Job
    variation: Variation
    track: Track
    bar: BarNo
    notes: Annotated[int, _int("notes in this bar's /notes messages", 0)]
    start: Annotated[int, _int("bar start, ticks from the piece start", 0)]
    end: Annotated[int, _int("bar end, ticks from the piece start", 0)]


class Done(_Server):
    """The job finished; every bar was sent before this."""

    address = PREFIX + "/done"
    job: Job
    variations: Annotated[int, _int("variations written")]
    bars: Annotated[int, _int("bars sent, all variations")]
    queue_ms: Ms
    first_bar_ms: Ms
    model_ms: Ms
    total_ms: Ms
    tokens: Annotated[int, _int("tokens sampled, retries included")]
    seed: Annotated[int, _int("the seed used: send it back to repeat the job", 0, INT32)]


class Cancelled(_Server):
    """The job stopped early; the bars sent before stay valid."""

    address = PREFIX + "/cancelled"
    job: Job
    reason: Annotated[
        Literal["cancel", "superseded", "shutdown", "gone"],
        Field(description="/cancel, a newer job on the same piece and track, exit, or silence"),
    ]


class Failed(_Server):
    """An accepted job failed while running (never a refusal)."""

    address = PREFIX + "/failed"
    job: Job
    code: Annotated[str, Field(description="`invalid_request` or `internal`")]
    message: Text


class State(_Server):
    """Answer to /status."""

    address = PREFIX + "/state"
    job: Job
    state: Annotated[
        Literal["queued", "running", "done", "cancelled", "failed", "unknown"],
        Field(description="unknown: never sent, forgotten or expired"),
    ]
    position: Annotated[int, _int("jobs that run before it while queued, else 0", 0)]
    bars_sent: Annotated[int, _int("bar groups sent so far", 0)]
    bars_total: Annotated[int, _int("bar groups the job will send (0 until known)", 0)]


class Playing(_Server):
    """A loop started playing on the MIDI out (after /play, or swapped in at a boundary)."""

    address = PREFIX + "/playing"
    job: Job
    variation: Variation


class Refused(_Server):
    """A request the server did not act on (nothing changed); never sent for an accepted job."""

    address = PREFIX + "/refused"
    request: Annotated[str, Field(description="the refused message's address (<= 64 chars)")]
    code: Annotated[str, Field(description="an error code")]
    number: Annotated[int, _int("the job (uploads: the piece) it named, else 0", 0, INT32)]
    message: Text


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
