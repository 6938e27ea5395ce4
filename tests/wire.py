"""Knowing, by an event rather than a sleep, that no more replies are on their way.

The daemon sends from one socket on loopback, where a datagram is queued at the receiver when
sendto returns: a marker sent to the client after the server has answered something later (or
has closed) arrives after every earlier reply.
"""

from __future__ import annotations

import socket
import time

from midigen.server.daemon import protocol as p
from midigen.server.daemon.client import Client

WAIT = 30.0  # seconds any one reply may take on a loaded 2-core machine


def drained(c: Client) -> None:
    """Returns once every datagram sent to `c` before this call has been read."""
    marker = p.Pong(protocol=-7, version="marker", model="", device="", window_bars=0,
                    max_tracks=0, rcvbuf=0, controls="")  # fmt: skip
    since = len(c.inbox)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(marker.encode(), ("127.0.0.1", c.port))
    c.wait(lambda m: m == marker, WAIT, since)


def replays_over(daemon: object, c: Client) -> None:
    """After `c` has read the final message of its newest replay: returns once the daemon's
    replay pacer holds nothing more to send and `c` has read everything already sent."""
    deadline = time.monotonic() + WAIT
    while daemon.pacer.active():
        assert time.monotonic() < deadline, "a replay never ended"
        time.sleep(0.01)
    drained(c)
