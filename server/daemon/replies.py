"""Protocol 2's server-to-client messages (protocol.py has the client's and re-exports these)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .fields import (
    BarNo,
    ChunkArgs,
    Job,
    Ms,
    NoteArgs,
    PieceNo,
    Text,
    Token,
    Track,
    Variation,
    _int,
)
from .limits import INT32, NOTES_PER_MESSAGE, PREFIX
from .oscmessage import Message


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
