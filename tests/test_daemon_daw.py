"""A DAW-shaped client against the daemon: what a REAPER script does in its 30 Hz `defer` loop
with LuaSocket (datagrams read 8 KB at a time from a small receive buffer), emulated with a raw
socket and one tick every 33 ms. Protocol 1 lost most of a 20,000-note upload and 345 of 364
replayed datagrams this way; protocol 2's pacing rules make both complete.
"""

from __future__ import annotations

import socket
import time

import pytest

from midigen.server.daemon import oscwire
from midigen.server.daemon import protocol as p
from midigen.server.daemon.client import new_client_id
from midigen.server.daemon.jobs import Job
from midigen.server.daemon.main import Daemon
from midigen.server.daemon.replay import BarGroup

TICK = 1 / 30  # REAPER's defer loop
RECEIVE = 8192  # LuaSocket's default datagram size for receive()


@pytest.fixture
def daemon(engine):
    """The server's receive buffer pinned to stock Linux's 208 KiB (the kernel halves what it
    grants back): these figures must not depend on this machine's larger rmem_max."""
    d = Daemon(engine, port=0, max_bar_tokens=40).start()
    d.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 104 << 10)
    yield d
    d.stop()


class DeferLoopClient:
    """Sends at most UPLOAD_BURST datagrams per tick and, each tick, reads whatever waits."""

    def __init__(self, server: tuple[str, int], rcvbuf: int = 8192):
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.outbox: list[bytes] = []
        self.inbox: list[p.Message] = []
        self.token = 0

    def queue(self, cls: type[p.Message], **fields: object) -> None:
        if "token" in cls.model_fields:
            fields = {"token": self.token, **fields}
        self.outbox.append(cls.model_validate(fields).encode())

    def tick(self) -> None:
        """One pass of the defer loop: send a burst, drain the socket, sleep to the next tick."""
        t0 = time.monotonic()
        burst, self.outbox = self.outbox[: p.UPLOAD_BURST], self.outbox[p.UPLOAD_BURST :]
        for data in burst:
            self.sock.sendto(data, self.server)
        while True:
            try:
                data = self.sock.recv(RECEIVE)
            except BlockingIOError:
                break
            for m in oscwire.decode(data):
                self.inbox.append(p.OUTGOING[m.address].from_osc(m.args))
        time.sleep(max(0.0, TICK - (time.monotonic() - t0)))

    def until(self, predicate, ticks: int = 600) -> p.Message:
        for _ in range(ticks):
            self.tick()
            for m in self.inbox:
                if predicate(m):
                    return m
        raise TimeoutError(f"no matching reply in {ticks} ticks; last: {self.inbox[-3:]}")

    def close(self) -> None:
        self.sock.close()


def test_a_20000_note_upload_from_a_30hz_loop_arrives_whole(daemon):
    """At the pacing rule's rate into stock Linux's receive buffer, a loaded server may still
    lose a datagram; the client then resends what /upload/missing lists, as the REAPER and Max
    clients do. The piece must arrive whole within a few rounds."""
    c = DeferLoopClient(daemon.address)
    try:
        c.queue(p.Hello, protocol=2, reply_port=c.port, client_id=new_client_id("rpr"))
        c.token = c.until(lambda m: isinstance(m, p.Welcome)).token
        tracks, bars, per_track = 20, 100, 1000  # 20,000 notes: a 16th every 10 ticks of 96
        c.queue(p.UploadBegin, piece=1, tracks=tracks, bars=bars, tempo=120.0)
        headers = {t: dict(piece=1, track=t, program=t, drum=0, name=f"T{t}")
                   for t in range(1, tracks + 1)}  # fmt: skip
        meter = dict(piece=1, bar=1, numerator=4, denominator=4)
        notes = [dict(pitch=40 + i % 40, start=i * 38, duration=24, velocity=90)
                 for i in range(per_track)]  # fmt: skip
        parts = [
            (t, notes[k : k + p.NOTES_PER_MESSAGE])
            for t in range(1, tracks + 1)
            for k in range(0, per_track, p.NOTES_PER_MESSAGE)
        ]
        chunks = {i: dict(piece=1, chunk=i, track=t, notes=part)
                  for i, (t, part) in enumerate(parts, 1)}  # fmt: skip
        todo = [(p.UploadTrack, h) for h in headers.values()] + [(p.UploadMeter, meter)]
        todo += [(p.UploadNotes, chunk) for chunk in chunks.values()]
        t0, rounds = time.monotonic(), 0
        while True:
            rounds += 1
            for cls, fields in todo:
                c.queue(cls, **fields)
            c.inbox = []  # this round's answer only
            c.queue(p.UploadEnd, piece=1, tracks=tracks, meters=1, chunks=len(chunks),
                    notes=20_000)  # fmt: skip
            answer = c.until(lambda m: isinstance(m, (p.Uploaded, p.UploadMissing, p.Refused)))
            if not isinstance(answer, p.UploadMissing) or rounds == 5:
                break
            todo = [(p.UploadTrack, h) for h in headers.values()] if answer.tracks else []
            todo += [(p.UploadMeter, meter)] if answer.meters else []
            todo += [(p.UploadNotes, chunks[m.chunk]) for m in answer.chunks]
        took = time.monotonic() - t0
        assert answer == p.Uploaded(piece=1, notes=20_000), answer
        print(f"\n20,000 notes in {len(chunks)} chunks uploaded from a 30 Hz loop in {took:.2f} s"
              f" ({rounds} round(s))")  # fmt: skip
    finally:
        c.close()


def test_a_big_replay_reaches_a_30hz_client_with_a_small_buffer(daemon):
    c = DeferLoopClient(daemon.address, rcvbuf=8192)
    try:
        c.queue(p.Hello, protocol=2, reply_port=c.port, client_id=new_client_id("rpr"))
        welcome = c.until(lambda m: isinstance(m, p.Welcome))
        c.token = welcome.token
        # a finished job of 16 variations x 20 bars, 2 /notes per bar: 960 datagrams to replay
        notes = tuple((60 + i % 12, 384 + i * 4, 4, 90) for i in range(90))
        groups = [BarGroup(v, 1, b, 384 * (b - 1), 384 * b, notes)
                  for v in range(1, 17) for b in range(1, 21)]  # fmt: skip
        client_id = next(iter(daemon.clients._by_id))
        job = Job(client_id, 5, 1, None, None, state="done", bars=groups, ended=time.monotonic())
        job.final = p.Cancelled(job=5, reason="cancel")
        daemon.scheduler._jobs.setdefault(client_id, {})[5] = job
        c.queue(p.Result, job=5, variation=0, track=0, first_bar=0, last_bar=0)
        t0 = time.monotonic()
        c.until(lambda m: m == job.final, ticks=900)
        took = time.monotonic() - t0
        got = [m for m in c.inbox if isinstance(m, p.Bar)]
        assert len(got) == len(groups)  # every bar group, none dropped by the small buffer
        assert sum(len(m.notes) for m in c.inbox if isinstance(m, p.Notes)) == 90 * len(groups)
        rate = 3 * len(groups) / took
        assert rate <= 1000 / p.REPLAY_GAP_MS * p.REPLAY_BURST * 1.1  # paced
        print(f"\n{3 * len(groups)} datagrams replayed in {took:.1f} s ({rate:.0f}/s), none lost")
        # a filtered replay sends just the slice asked for
        c.inbox.clear()
        c.queue(p.Result, job=5, variation=3, track=1, first_bar=4, last_bar=5)
        c.until(lambda m: m == job.final)
        assert [(m.variation, m.bar) for m in c.inbox if isinstance(m, p.Bar)] == [(3, 4), (3, 5)]
    finally:
        c.close()
