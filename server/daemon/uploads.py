"""Chunked piece uploads: the /upload/* messages of one job, assembled into a Piece.

A piece rarely fits one UDP datagram, so it arrives as begin, tracks, meters, note chunks and an
end that states how many notes were sent. UDP may lose or duplicate nothing we can see, so the
count is the check: a mismatch discards the upload and the client sends it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..language.piece import Note, Piece, TimeSignature, Track
from . import protocol as p

DENOMINATORS = (1, 2, 4, 8, 16, 32)


class UploadError(ValueError):
    """An upload that cannot become a piece; carries the protocol error code."""

    def __init__(self, code: p.ErrorCode, text: str):
        super().__init__(text)
        self.code = code


@dataclass
class Upload:
    begin: p.UploadBegin
    tracks: dict[int, p.UploadTrack] = field(default_factory=dict)  # by 1-based track
    meters: dict[int, tuple[int, int]] = field(default_factory=dict)  # 1-based bar -> (n, d)
    notes: list[tuple[int, p.NoteArgs]] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)
    piece: Piece | None = None  # set by finish(); /generate takes it

    def add_track(self, m: p.UploadTrack) -> None:
        self._check_track(m.track)
        self.tracks[m.track] = m
        self.touched = time.monotonic()

    def add_meter(self, m: p.UploadMeter) -> None:
        self._check_track(1)
        if m.bar > self.begin.bars:
            raise UploadError(p.ErrorCode.bad_message, f"meter at bar {m.bar} of {self.begin.bars}")
        if m.denominator not in DENOMINATORS:
            raise UploadError(p.ErrorCode.bad_message, f"meter denominator {m.denominator}")
        self.meters[m.bar] = (m.numerator, m.denominator)
        self.touched = time.monotonic()

    def add_notes(self, m: p.UploadNotes) -> None:
        self._check_track(m.track)
        if len(self.notes) + len(m.notes) > p.MAX_NOTES:
            raise UploadError(p.ErrorCode.too_large, f"more than {p.MAX_NOTES} notes in a piece")
        self.notes += [(m.track, n) for n in m.notes]
        self.touched = time.monotonic()

    def _check_track(self, track: int) -> None:
        if self.piece is not None:
            raise UploadError(p.ErrorCode.bad_message, "the upload has ended; begin a new one")
        if track > self.begin.tracks:
            raise UploadError(p.ErrorCode.bad_message, f"track {track} of {self.begin.tracks}")

    def finish(self, expected: int) -> Piece:
        """The piece, once the note count matches what the client says it sent."""
        if expected != len(self.notes):
            raise UploadError(
                p.ErrorCode.upload_incomplete,
                f"received {len(self.notes)} of {expected} notes; upload the piece again",
            )
        signatures, t, current = [], 0.0, (4, 4)
        for bar in range(1, self.begin.bars + 1):
            if bar in self.meters and (self.meters[bar] != current or not signatures):
                current = self.meters[bar]
                signatures.append((t, TimeSignature(*current)))
            t += current[0] * 4.0 / current[1]
        length = t
        tracks = []
        for i in range(1, self.begin.tracks + 1):
            info = self.tracks.get(i)
            tracks.append(Track(info.program, bool(info.drum), info.name) if info else Track())
        for track, n in self.notes:
            if n.start >= length - 1e-9:
                raise UploadError(
                    p.ErrorCode.bad_message,
                    f"a note of track {track} starts at {n.start:g}, after the last bar "
                    f"(the piece is {length:g} quarters long)",
                )
            # a note ringing past the last bar would add a bar the client did not send
            duration = min(n.duration, length - n.start)
            tracks[track - 1].notes.append(Note(n.start, n.pitch, duration, n.velocity))
        for track in tracks:
            track.notes.sort()
        self.piece = Piece(tracks, signatures, [(0.0, self.begin.tempo)], length)
        self.touched = time.monotonic()
        return self.piece


class Uploads:
    """Unfinished uploads by (client, job), with the per-client bound and an idle timeout."""

    def __init__(self) -> None:
        self._open: dict[tuple[tuple[str, int], int], Upload] = {}

    def begin(self, client: tuple[str, int], m: p.UploadBegin) -> None:
        self.expire()
        mine = [k for k in self._open if k[0] == client and k[1] != m.job]
        if len(mine) >= p.MAX_UPLOADS:  # the oldest goes: a client that lost track of it
            oldest = min(mine, key=lambda k: self._open[k].touched)
            del self._open[oldest]
        self._open[(client, m.job)] = Upload(m)

    def get(self, client: tuple[str, int], job: int) -> Upload:
        upload = self._open.get((client, job))
        if upload is None:
            raise UploadError(p.ErrorCode.no_upload, f"job {job}: no /upload/begin received")
        return upload

    def piece(self, client: tuple[str, int], job: int) -> Piece:
        """The job's finished piece (the caller discards the upload once the job is queued)."""
        upload = self.get(client, job)
        if upload.piece is None:
            raise UploadError(p.ErrorCode.no_upload, f"job {job}: no /upload/end received yet")
        return upload.piece

    def discard(self, client: tuple[str, int], job: int) -> None:
        self._open.pop((client, job), None)

    def expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, u in self._open.items() if now - u.touched > p.UPLOAD_TIMEOUT_S]:
            del self._open[key]
