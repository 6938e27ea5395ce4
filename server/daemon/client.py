"""The Python reference client for protocol 2: the model for DAW-side code, and what the tests
drive the server with. It says /hello with a stable id, keeps every reply it receives, uploads
with the pacing rule and resends only what /upload/missing lists, and assembles /notes + /bar
groups into bars (ticks back to quarters).
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..language.piece import Note, Piece
from . import oscwire
from . import protocol as p

FINAL = (p.Done, p.Cancelled, p.Failed)


class Refused(RuntimeError):
    """The server refused a request the client made (the /refused message is `.reply`)."""

    def __init__(self, reply: p.Refused):
        super().__init__(f"{reply.request}: {reply.code}: {reply.message}")
        self.reply = reply


@dataclass(frozen=True)
class Selection:
    """One track's bars to write (1-based, inclusive) and its controls (None: any)."""

    track: int
    first_bar: int
    last_bar: int
    program: int | None = None
    density: int | None = None
    poly_min: int | None = None
    poly_max: int | None = None
    dur_min: int | None = None
    dur_max: int | None = None
    pitch_min: int | None = None
    pitch_max: int | None = None

    def args(self) -> list[int]:
        rest = (self.program, self.density, self.poly_min, self.poly_max, self.dur_min)
        rest += (self.dur_max, self.pitch_min, self.pitch_max)
        return [self.track, self.first_bar, self.last_bar] + [-1 if v is None else v for v in rest]


def ticks(quarters: float) -> int:
    """The protocol's rounding rule: floor(quarters * 96 + 0.5)."""
    return int(quarters * p.TICKS + 0.5)


def new_client_id(prefix: str = "py") -> str:
    """A fresh random client id (64 bits); a real client stores it and reuses it."""
    return prefix + secrets.token_hex(8)


class Client:
    """Talks to one server; replies are parsed into protocol models and kept in `inbox`."""

    def __init__(
        self,
        server: tuple[str, int] = ("127.0.0.1", 9000),
        host: str = "127.0.0.1",
        client_id: str | None = None,
        rcvbuf: int = 4 << 20,
    ):
        self.server = server
        self.client_id = client_id or new_client_id()
        self.token = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.inbox: list[p.Message] = []
        self.unparsed: list[Any] = []
        self.bytes_in = self.bytes_out = 0  # datagram payload bytes, for amplification figures
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed = True
        self._thread.join(1)
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ----------------------------------------------------------------------------
    def send_bytes(self, data: bytes) -> None:
        self.bytes_out += len(data)
        self.sock.sendto(data, self.server)

    def send(self, address: str, *args: object) -> None:
        """Send any message as is: ints as `i`, floats as `f`, str as `s` (tests send bad ones)."""
        tags = {int: "i", float: "f", str: "s"}
        self.send_bytes(oscwire.encode(address, [(tags[type(a)], a) for a in args]))

    def request(self, cls: type[p.Message], **fields: object) -> None:
        """Send a client-to-server message, validated first, with our token filled in."""
        if "token" in cls.model_fields:
            fields = {"token": self.token, **fields}
        self.send_bytes(cls.model_validate(fields).encode())

    def hello(self, timeout: float = 5.0) -> p.Welcome:
        since = len(self.inbox)
        self.request(p.Hello, protocol=p.PROTOCOL_VERSION, reply_port=self.port,
                     client_id=self.client_id)  # fmt: skip
        welcome = self.expect(lambda m: isinstance(m, p.Welcome), timeout, since, "/hello")
        self.token = welcome.token
        return welcome

    def ping(self, timeout: float = 5.0) -> p.Pong:
        since = len(self.inbox)
        self.request(p.Ping, reply_port=self.port)
        return self.wait(lambda m: isinstance(m, p.Pong), timeout, since)

    def upload(self, number: int, piece: Piece, timeout: float = 10.0, rounds: int = 5) -> int:
        """Upload a piece under `number` with the pacing rule; resend what /upload/missing
        lists until /uploaded (returns its note count). Refused on a refusal."""
        bars = piece.bars()
        tempo = piece.tempos[0][1] if piece.tempos else 120.0
        tracks = [
            dict(track=i, program=t.program, drum=int(t.is_drum), name=t.name[: p.MAX_NAME])
            for i, t in enumerate(piece.tracks, 1)
        ]
        meters, previous = [], None
        for i, bar in enumerate(bars, 1):
            if bar.time_signature != previous:
                ts = previous = bar.time_signature
                meters.append(dict(bar=i, numerator=ts.numerator, denominator=ts.denominator))
        chunks: list[dict] = []
        for i, t in enumerate(piece.tracks, 1):
            for k in range(0, len(t.notes), p.NOTES_PER_MESSAGE):
                notes = [
                    dict(pitch=n.pitch, start=ticks(n.start), duration=max(1, ticks(n.duration)),
                         velocity=n.velocity)
                    for n in t.notes[k : k + p.NOTES_PER_MESSAGE]
                ]  # fmt: skip
                chunks.append(dict(chunk=len(chunks) + 1, track=i, notes=notes))
        count = sum(len(c["notes"]) for c in chunks)
        end = dict(piece=number, tracks=len(tracks), meters=len(meters), chunks=len(chunks))
        pace = Pacing()
        self.request(p.UploadBegin, piece=number, tracks=len(tracks), bars=len(bars), tempo=tempo)
        todo = [(p.UploadTrack, t) for t in tracks] + [(p.UploadMeter, m) for m in meters]
        todo += [(p.UploadNotes, c) for c in chunks]
        for _ in range(rounds):
            for cls, fields in todo:
                pace.step()
                self.request(cls, piece=number, **fields)
            since = len(self.inbox)
            self.request(p.UploadEnd, **end, notes=count)
            answer = self.expect(
                lambda m: isinstance(m, (p.Uploaded, p.UploadMissing)) and m.piece == number,
                timeout, since, p.UploadEnd.address,
            )  # fmt: skip
            if isinstance(answer, p.Uploaded):
                return answer.notes
            todo = [(p.UploadTrack, t) for t in tracks] if answer.tracks else []
            todo += [(p.UploadMeter, m) for m in meters] if answer.meters else []
            todo += [(p.UploadNotes, chunks[c.chunk - 1]) for c in answer.chunks]
        raise TimeoutError(f"piece {number}: still incomplete after {rounds} rounds")

    def generate(
        self,
        job: int,
        piece: int,
        mode: str,
        selections: Iterable[Selection],
        variations: int = 1,
        temperature: float = 1.0,
        top_p: float = 0.0,
        seed: int = -1,
        velocity: bool = True,
        microtiming: bool = False,
    ) -> None:
        """Send /generate (top_p 0: the server's default, 0.95)."""
        args: list[object] = [self.token, job, piece, mode, variations, float(temperature)]
        args += [float(top_p), seed, int(velocity), int(microtiming)]
        for s in selections:
            args += s.args()
        p.Generate.from_args(args)  # refuse to send what the server would refuse
        self.send(p.Generate.address, *args)

    def status(self, job: int, timeout: float = 5.0) -> p.State:
        since = len(self.inbox)
        self.request(p.Status, job=job)
        return self.wait(lambda m: isinstance(m, p.State) and m.job == job, timeout, since)

    def result(
        self, job: int, variation: int = 0, track: int = 0, first: int = 0, last: int = 0
    ) -> None:
        """Ask for a finished job's bars again (0 = all); the replay ends with its final."""
        self.request(p.Result, job=job, variation=variation, track=track, first_bar=first,
                     last_bar=last)  # fmt: skip

    def cancel(self, job: int) -> None:
        self.request(p.Cancel, job=job)

    def bye(self) -> None:
        self.request(p.Bye)

    # -- receiving --------------------------------------------------------------------------
    def _receive(self) -> None:
        while not self._closed:
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.bytes_in += len(data)
            try:
                messages = oscwire.decode(data)
            except oscwire.Malformed as e:
                messages, self.unparsed = [], self.unparsed + [(data, str(e))]
            for m in messages:
                cls = p.OUTGOING.get(m.address)
                with self._cond:
                    try:
                        self.inbox.append(cls.from_osc(m.args))
                    except (AttributeError, p.BadMessage):
                        self.unparsed.append((m.address, m.args))
                    self._cond.notify_all()

    def wait(
        self, predicate: Callable[[p.Message], bool], timeout: float = 10.0, since: int = 0
    ) -> p.Message:
        """The first reply from index `since` on that matches; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.inbox[since:]:
                    if predicate(m):
                        return m
                since = len(self.inbox)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching reply")
                self._cond.wait(left)

    def expect(
        self, predicate: Callable[[p.Message], bool], timeout: float, since: int, address: str
    ) -> p.Message:
        """Like wait, but a /refused of `address` arriving first raises Refused."""
        m = self.wait(
            lambda m: predicate(m) or (isinstance(m, p.Refused) and m.request == address),
            timeout, since,
        )  # fmt: skip
        if isinstance(m, p.Refused):
            raise Refused(m)
        return m

    def finished(self, job: int, timeout: float = 30.0, since: int = 0) -> p.Message:
        """The job's /done, /cancelled or /failed."""
        return self.wait(lambda m: isinstance(m, FINAL) and m.job == job, timeout, since)

    def replies(self, job: int, since: int = 0) -> list[p.Message]:
        with self._cond:
            return [m for m in self.inbox[since:] if getattr(m, "job", None) == job]

    def refusals(self, since: int = 0) -> list[p.Refused]:
        with self._cond:
            return [m for m in self.inbox[since:] if isinstance(m, p.Refused)]


class Pacing:
    """The upload pacing rule: UPLOAD_BURST datagrams, then UPLOAD_GAP_MS of quiet."""

    def __init__(self, burst: int = p.UPLOAD_BURST, gap_ms: float = p.UPLOAD_GAP_MS):
        self.burst, self.gap, self.sent = burst, gap_ms / 1000, 0

    def step(self) -> None:
        if self.sent and self.sent % self.burst == 0:
            time.sleep(self.gap)
        self.sent += 1


def bars(replies: Sequence[p.Message]) -> dict[tuple[int, int, int], list[Note]]:
    """(variation, track, bar) -> notes in quarters, from /notes and /bar replies; a bar whose
    /bar count differs from the notes received (a lost /notes) raises ValueError."""
    pending: dict[tuple[int, int, int], list[Note]] = {}
    out: dict[tuple[int, int, int], list[Note]] = {}
    for m in replies:
        if isinstance(m, p.Notes):
            key = (m.variation, m.track, m.bar)
            pending.setdefault(key, []).extend(
                Note(n.start / p.TICKS, n.pitch, n.duration / p.TICKS, n.velocity) for n in m.notes
            )
        elif isinstance(m, p.Bar):
            key = (m.variation, m.track, m.bar)
            notes = pending.pop(key, [])
            if len(notes) != m.notes:
                raise ValueError(f"bar {key}: {len(notes)} of {m.notes} notes arrived")
            out[key] = notes
    return out
