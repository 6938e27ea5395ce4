"""Pieces: numbered, chunked uploads assembled into a Piece, and the pieces kept for /generate.

A piece rarely fits one UDP datagram, so it arrives as begin, track and meter descriptions,
numbered note chunks and an end that states how many of each were sent. UDP loses datagrams
under bursts, so the end is answered with what is missing (track or meter messages, chunk
numbers) and the upload stays open: the client resends only that. A complete piece stays
until the same number is uploaded again, it idles out, or memory caps evict it — several
/generate can use it, and jobs hold their own reference, so replacing it changes no job.

Memory is bounded three ways: pieces per client, notes stored over all clients (the least
recently used complete piece goes first), and idle expiry run by the daemon's timer.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..language.piece import Note, Piece, TimeSignature, Track
from . import protocol as p
from .errors import ErrorCode, Refusal

DENOMINATORS = (1, 2, 4, 8, 16, 32)
Key = tuple[str, int]  # (client id, piece number)


@dataclass
class Slot:
    """One piece number of one client: an open upload, or a complete piece."""

    begin: p.UploadBegin
    tracks: dict[int, p.UploadTrack] = field(default_factory=dict)  # by 1-based track
    meters: dict[int, tuple[int, int]] = field(default_factory=dict)  # 1-based bar -> (n, d)
    chunks: dict[int, p.UploadNotes] = field(default_factory=dict)
    notes: int = 0  # in `chunks`
    piece: Piece | None = None  # set when complete
    touched: float = field(default_factory=time.monotonic)

    @property
    def complete(self) -> bool:
        return self.piece is not None


class Pieces:
    """Every client's pieces; thread-safe (the network thread adds, the timer expires)."""

    def __init__(self, stored_notes: int = p.STORED_NOTES):
        self.cap = stored_notes
        self._slots: dict[Key, Slot] = {}
        self._lock = threading.Lock()

    @property
    def stored(self) -> int:
        return sum(s.notes for s in self._slots.values())

    # -- the upload messages ----------------------------------------------------------------
    def begin(self, client: str, m: p.UploadBegin) -> None:
        with self._lock:
            mine = [k for k in self._slots if k[0] == client and k[1] != m.piece]
            if len(mine) >= p.PIECES_PER_CLIENT:  # the least recently used goes
                del self._slots[min(mine, key=lambda k: self._slots[k].touched)]
            self._slots[(client, m.piece)] = Slot(m)

    def add_track(self, client: str, m: p.UploadTrack) -> None:
        with self._lock:
            slot = self._open(client, m.piece, m.track)
            slot.tracks[m.track] = m

    def add_meter(self, client: str, m: p.UploadMeter) -> None:
        with self._lock:
            slot = self._open(client, m.piece, 1)
            if m.bar > slot.begin.bars:
                raise Refusal(ErrorCode.bad_message, f"meter at bar {m.bar} of {slot.begin.bars}")
            if m.denominator not in DENOMINATORS:
                raise Refusal(ErrorCode.bad_message, f"meter denominator {m.denominator}")
            slot.meters[m.bar] = (m.numerator, m.denominator)

    def add_notes(self, client: str, m: p.UploadNotes) -> None:
        with self._lock:
            slot = self._open(client, m.piece, m.track)
            old = slot.chunks.get(m.chunk)
            grow = len(m.notes) - (len(old.notes) if old else 0)
            if slot.notes + grow > p.MAX_NOTES:
                raise Refusal(ErrorCode.too_large, f"more than {p.MAX_NOTES} notes in a piece")
            self._make_room(grow, keep=(client, m.piece))
            slot.chunks[m.chunk] = m
            slot.notes += grow

    def end(self, client: str, m: p.UploadEnd) -> p.Message:
        """/uploaded or /upload/missing; Refusal when the counts cannot be met (the upload is
        then discarded)."""
        with self._lock:
            key = (client, m.piece)
            slot = self._slots.get(key)
            if slot is not None and slot.complete:
                slot.touched = time.monotonic()
                return p.Uploaded(piece=m.piece, notes=slot.notes)
            slot = self._open(client, m.piece, 1)
            over = []
            if len(slot.tracks) > m.tracks:
                over.append(f"{len(slot.tracks)} tracks described, {m.tracks} stated")
            if len(slot.meters) > m.meters:
                over.append(f"{len(slot.meters)} meters received, {m.meters} stated")
            if slot.chunks and max(slot.chunks) > m.chunks:
                over.append(f"chunk {max(slot.chunks)} received, {m.chunks} stated")
            if over:
                del self._slots[key]
                raise Refusal(ErrorCode.upload_incomplete, "; ".join(over) + "; upload again")
            missing = [c for c in range(1, m.chunks + 1) if c not in slot.chunks]
            lost_tracks, lost_meters = m.tracks - len(slot.tracks), m.meters - len(slot.meters)
            if missing or lost_tracks or lost_meters:
                chunks = [p.ChunkArgs(chunk=c) for c in missing[: p.NOTES_PER_MESSAGE]]
                return p.UploadMissing(
                    piece=m.piece, tracks=lost_tracks, meters=lost_meters, chunks=chunks
                )
            if slot.notes != m.notes:
                del self._slots[key]
                raise Refusal(
                    ErrorCode.upload_incomplete,
                    f"the {m.chunks} chunks hold {slot.notes} notes, {m.notes} stated; "
                    "upload again",
                )
            try:
                slot.piece = _assemble(slot)
            except Refusal:
                del self._slots[key]
                raise
            slot.tracks, slot.meters, slot.chunks = {}, {}, {}  # the piece holds it all now
            return p.Uploaded(piece=m.piece, notes=slot.notes)

    def _open(self, client: str, piece: int, track: int) -> Slot:
        slot = self._slots.get((client, piece))
        if slot is None or slot.complete:
            state = "is complete" if slot else "has no open upload"
            raise Refusal(ErrorCode.no_upload, f"piece {piece} {state}; send /upload/begin")
        if track > slot.begin.tracks:
            raise Refusal(ErrorCode.bad_message, f"track {track} of {slot.begin.tracks}")
        slot.touched = time.monotonic()
        return slot

    def _make_room(self, notes: int, keep: Key) -> None:
        """Evict the least recently used complete pieces until `notes` more fit the cap."""
        stored = self.stored
        while stored + notes > self.cap:
            done = [k for k, s in self._slots.items() if s.complete and k != keep]
            if not done:
                raise Refusal(
                    ErrorCode.too_large,
                    f"the server holds {stored} uploaded notes (its limit is {self.cap}); "
                    "try again when uploads finish",
                )
            oldest = min(done, key=lambda k: self._slots[k].touched)
            stored -= self._slots.pop(oldest).notes

    # -- using and forgetting ---------------------------------------------------------------
    def piece(self, client: str, number: int) -> Piece:
        """A complete piece for /generate (Refusal `no_upload` otherwise)."""
        with self._lock:
            slot = self._slots.get((client, number))
            if slot is None or not slot.complete:
                state = "is not complete" if slot else "was not uploaded (or has expired)"
                raise Refusal(ErrorCode.no_upload, f"piece {number} {state}")
            slot.touched = time.monotonic()
            return slot.piece

    def forget_client(self, client: str) -> None:
        with self._lock:
            for key in [k for k in self._slots if k[0] == client]:
                del self._slots[key]

    def expire(self, now: float | None = None) -> int:
        """Drop idle uploads and pieces (the daemon's timer calls this); returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            old = [
                k
                for k, s in self._slots.items()
                if now - s.touched > (p.PIECE_IDLE_S if s.complete else p.UPLOAD_IDLE_S)
            ]
            for key in old:
                del self._slots[key]
            return len(old)

    def __len__(self) -> int:
        return len(self._slots)


def _assemble(slot: Slot) -> Piece:
    """The Piece a complete upload describes (ticks become quarters)."""
    begin = slot.begin
    signatures, t, current = [], 0.0, (4, 4)
    for bar in range(1, begin.bars + 1):
        if bar in slot.meters and (slot.meters[bar] != current or not signatures):
            current = slot.meters[bar]
            signatures.append((t, TimeSignature(*current)))
        t += current[0] * 4.0 / current[1]
    length = t
    tracks = []
    for i in range(1, begin.tracks + 1):
        info = slot.tracks.get(i)
        tracks.append(Track(info.program, bool(info.drum), info.name) if info else Track())
    for chunk in slot.chunks.values():
        for n in chunk.notes:
            start = n.start / p.TICKS
            if start >= length - 1e-9:
                raise Refusal(
                    ErrorCode.bad_message,
                    f"a note of track {chunk.track} starts at tick {n.start}, after the last "
                    f"bar (the piece is {round(length * p.TICKS)} ticks long)",
                )
            duration = min(n.duration / p.TICKS, length - start)  # cut at the last bar
            tracks[chunk.track - 1].notes.append(Note(start, n.pitch, duration, n.velocity))
    for track in tracks:
        track.notes.sort()
    return Piece(tracks, signatures, [(0.0, begin.tempo)], length)
