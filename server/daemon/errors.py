"""The codes of /midigen/refused and /midigen/failed: the code is for programs, the text after
it for people. One enum, so the protocol document's table is generated from what the server
can actually send."""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    bad_message = "argument types, count or a value outside its range"
    too_large = "a value beyond a limit of the Limits table"
    unknown_address = "no such address (OSC patterns are not expanded)"
    wrong_protocol = "/hello for a protocol version this server does not speak"
    unknown_client = "no client with this token (or not from this host): send /hello again"
    unknown_job = "no such job of this client (never sent, forgotten or expired)"
    job_in_use = "/generate with the number of a job that is still queued or running"
    no_upload = "/upload/... without an open upload, or /generate on a piece not complete"
    upload_incomplete = "/upload/end's counts cannot be met; upload the piece again"
    queue_full = "the client's or the server's queue is full; nothing was queued"
    invalid_request = "the request cannot be generated on this piece (see the text)"
    not_finished = "/result or /play for a job (or variation) that is still live"
    midi_off = "/play, /stop, /tempo or /channels to a server started without --midi-out"
    internal = "a server bug (logged); the server keeps running"


class Refusal(Exception):
    """A request the server will not act on; handlers answer it with /midigen/refused."""

    def __init__(self, code: ErrorCode, text: str):
        super().__init__(text)
        self.code = code
