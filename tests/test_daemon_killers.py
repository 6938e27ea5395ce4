"""The three inputs that disabled protocol 1's server, sent over loopback to a running daemon.

Each test sends the killer and then checks that the server still answers at once. The datagram
tests (negative bundle element size, nesting, a 32-`*` pattern) use only raw sockets and
/midigen/ping, which both protocols share, so they run unchanged against the old server too:
there they fail (the network thread loops forever, a RecursionError traceback reaches the log,
the process freezes for seconds).
"""

from __future__ import annotations

import socket
import struct
import time

import pytest

import tiny_bundle
from midigen.server.daemon.main import Daemon

WAIT = 30.0


@pytest.fixture
def daemon(engine):
    d = Daemon(engine, port=0, max_bar_tokens=40).start()
    yield d
    t0 = time.monotonic()
    d.stop()
    assert time.monotonic() - t0 < 10, "the server did not stop promptly"


def _pad(raw: bytes) -> bytes:
    return raw + b"\0" * (4 - len(raw) % 4)


def message(address: str, *ints: int) -> bytes:
    """An OSC message of int32 arguments, built by hand (no library involved)."""
    return (
        _pad(address.encode())
        + _pad(("," + "i" * len(ints)).encode())
        + b"".join(struct.pack(">i", v) for v in ints)
    )


def bundle(*elements: bytes) -> bytes:
    return (
        b"#bundle\0"
        + struct.pack(">Q", 1)
        + b"".join(struct.pack(">i", len(e)) + e for e in elements)
    )


class Raw:
    """A bare UDP socket: send bytes, wait for a /midigen/pong."""

    def __init__(self, server):
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def ping_s(self, timeout: float = 5.0) -> float:
        """Seconds until /midigen/pong answers a /midigen/ping; inf when it does not."""
        t0 = time.monotonic()
        self.send(message("/midigen/ping", self.port))
        deadline = t0 + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                break
            if data.startswith(b"/midigen/pong\0"):
                return time.monotonic() - t0
        return float("inf")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(daemon):
    r = Raw(daemon.address)
    yield r
    r.close()


def test_a_negative_bundle_element_size_does_not_stop_the_server(raw, caplog):
    """Protocol 1: these 20 bytes sent python-osc's bundle parser into an endless loop (no
    answers, ~5 MB/s of log, SIGTERM ignored)."""
    assert raw.ping_s() < 5
    killer = b"#bundle\0" + struct.pack(">Q", 1) + struct.pack(">i", -4)
    assert len(killer) == 20
    for _ in range(3):
        raw.send(killer)
    assert raw.ping_s() < 2.0
    assert len(caplog.text) < 10_000  # a line per datagram at most, not a flood


def test_deeply_nested_bundles_are_refused_without_a_traceback(raw, caplog):
    """Protocol 1: bundles nested a few hundred deep raised RecursionError (a traceback per
    datagram in the log)."""
    data = message("/midigen/ping", raw.port)
    for _ in range(400):
        data = bundle(data)
    assert len(data) < 8192
    raw.send(data)
    assert raw.ping_s() < 2.0
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


def test_an_address_pattern_is_not_expanded(raw):
    """Protocol 1: an address of 32 `*` froze the whole process for ~4 s (pattern matching
    against every address; the cost grew as the 7th-8th power of the count)."""
    assert raw.ping_s() < 5
    for address in ("/" + "*" * 32, "/midigen/" + "*" * 32, "/*/" + "*?" * 16 + "{a,b}[!c]"):
        raw.send(message(address, raw.port, 1))
    assert raw.ping_s() < 0.5


def test_a_job_number_over_int32_is_refused_and_the_worker_lives_on(daemon):
    """Protocol 1: a job number >= 2^31 (python-osc sends it as int64) was queued, then
    /accepted could not be encoded, killing the worker thread: no job ever finished again."""
    from midigen.server.daemon import oscwire
    from midigen.server.daemon import protocol as p
    from midigen.server.daemon.client import Client, Selection
    from midigen.server.language.midifiles import read_midi

    with Client(daemon.address) as c:
        c.hello()
        c.upload(1, read_midi(tiny_bundle.MIDI / "prompt_bmw.mid"))
        for job, seed in ((2**31, -1), (2**40, -1), (1, 2**40)):  # job or seed past int32
            since = len(c.inbox)
            args = [("i", c.token), ("h", job), ("i", 1), ("s", "infill"), ("i", 1)]
            args += [("f", 1.0), ("f", 0.0), ("h", seed), ("i", 1), ("i", 0)]
            args += [("i", v) for v in Selection(1, 1, 1).args()]
            c.send_bytes(oscwire.encode(p.Generate.address, args))
            r = c.wait(lambda m: isinstance(m, p.Refused), WAIT, since)
            assert (r.code, r.number) == ("bad_message", 0 if job > p.INT32 else 1), r
        assert not [m for m in c.inbox if isinstance(m, p.Accepted)]  # nothing was queued
        since = len(c.inbox)
        c.generate(7, 1, "infill", [Selection(1, 1, 1)], seed=1)
        assert isinstance(c.finished(7, WAIT, since), p.Done)  # the worker is alive
