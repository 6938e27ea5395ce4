"""A small Python client for the midigen OSC protocol: the reference for DAW-side code, and what
the tests drive the server with. It listens on its own UDP port (sent as `reply_port` in every
message), keeps every reply it receives, and assembles /notes + /bar groups into bars.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pythonosc import osc_packet
from pythonosc.osc_message_builder import OscMessageBuilder

from ..language.piece import Note, Piece
from . import protocol as p

FINAL = (p.Done, p.Cancelled, p.Error)


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

    def args(self) -> list[int]:
        rest = (self.program, self.density, self.poly_min, self.poly_max, self.dur_min)
        return [self.track, self.first_bar, self.last_bar] + [
            -1 if v is None else v for v in (*rest, self.dur_max)
        ]


class Client:
    """Talks to one server; replies are parsed into protocol models and kept in `inbox`."""

    def __init__(self, server: tuple[str, int] = ("127.0.0.1", 9000), host: str = "127.0.0.1"):
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.inbox: list[p.Message] = []
        self.unparsed: list[tuple[str, list]] = []
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
    def send(self, address: str, *args: object) -> None:
        """Send any message as is (tests use this for malformed ones)."""
        builder = OscMessageBuilder(address)
        for a in args:
            builder.add_arg(a)
        self.sock.sendto(builder.build().dgram, self.server)

    def request(self, cls: type[p.Message], **fields: object) -> None:
        """Send a client-to-server message, validated first, with our reply port filled in."""
        message = cls.model_validate({"reply_port": self.port, **fields})
        self.sock.sendto(message.encode(), self.server)

    def ping(self, timeout: float = 5.0) -> p.Pong:
        since = len(self.inbox)
        self.request(p.Ping)
        return self.wait(lambda m: isinstance(m, p.Pong), timeout, since)

    def upload(self, job: int, piece: Piece, chunk: int = 64, pace: int = 32) -> int:
        """Send the piece in chunks and end with its note count; returns that count. Every
        `pace` datagrams it yields briefly, so a burst does not overrun the server's buffer."""
        bars = piece.bars()
        tempo = piece.tempos[0][1] if piece.tempos else 120.0
        self.request(p.UploadBegin, job=job, tracks=len(piece.tracks), bars=len(bars), tempo=tempo)
        sent, count = 0, 0
        for i, t in enumerate(piece.tracks, 1):
            name = t.name[:128]
            self.request(
                p.UploadTrack, job=job, track=i, program=t.program, drum=int(t.is_drum), name=name
            )
        previous = None
        for i, bar in enumerate(bars, 1):
            ts = bar.time_signature
            if ts != previous:
                self.request(
                    p.UploadMeter,
                    job=job,
                    bar=i,
                    numerator=ts.numerator,
                    denominator=ts.denominator,
                )
                previous = ts
        for i, t in enumerate(piece.tracks, 1):
            for k in range(0, len(t.notes), chunk):
                notes = [
                    dict(pitch=n.pitch, start=n.start, duration=n.duration, velocity=n.velocity)
                    for n in t.notes[k : k + chunk]
                ]
                self.request(p.UploadNotes, job=job, track=i, notes=notes)
                count += len(notes)
                sent += 1
                if sent % pace == 0:
                    time.sleep(0.001)
        self.request(p.UploadEnd, job=job, notes=count)
        return count

    def generate(
        self,
        job: int,
        mode: str,
        selections: Iterable[Selection],
        variations: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = -1,
        velocity: bool = True,
        microtiming: bool = False,
    ) -> None:
        args: list[object] = [self.port, job, mode, variations, float(temperature), float(top_p)]
        args += [seed, int(velocity), int(microtiming)]
        for s in selections:
            args += s.args()
        p.Generate.from_args(args)  # refuse to send what the server would refuse
        self.send(p.Generate.address, *args)

    # -- receiving --------------------------------------------------------------------------
    def _receive(self) -> None:
        while not self._closed:
            try:
                data, _ = self.sock.recvfrom(p.MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            for timed in osc_packet.OscPacket(data).messages:
                m = timed.message
                cls = p.OUTGOING.get(m.address)
                with self._cond:
                    try:
                        self.inbox.append(cls.from_args(m.params))
                    except (AttributeError, p.BadMessage):
                        self.unparsed.append((m.address, m.params))
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

    def finished(self, job: int, timeout: float = 30.0, since: int = 0) -> p.Message:
        """The job's /done, /cancelled or /error."""
        return self.wait(lambda m: isinstance(m, FINAL) and m.job == job, timeout, since)

    def replies(self, job: int, since: int = 0) -> list[p.Message]:
        with self._cond:
            return [m for m in self.inbox[since:] if getattr(m, "job", None) == job]


def bars(replies: Iterable[p.Message]) -> dict[tuple[int, int, int], list[Note]]:
    """(variation, track, bar) -> notes, from /notes and /bar replies; a bar whose /bar count
    differs from the notes received (a lost /notes) raises ValueError."""
    pending: dict[tuple[int, int, int], list[Note]] = {}
    out: dict[tuple[int, int, int], list[Note]] = {}
    for m in replies:
        if isinstance(m, p.Notes):
            key = (m.variation, m.track, m.bar)
            pending.setdefault(key, []).extend(
                Note(n.start, n.pitch, n.duration, n.velocity) for n in m.notes
            )
        elif isinstance(m, p.Bar):
            key = (m.variation, m.track, m.bar)
            notes = pending.pop(key, [])
            if len(notes) != m.notes:
                raise ValueError(f"bar {key}: {len(notes)} of {m.notes} notes arrived")
            out[key] = notes
    return out
