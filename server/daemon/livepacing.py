"""A job's live replies, paced only when they come faster than a DAW client can read them.

On a CPU the model writes a few bars a second and every reply goes out at once. A fast device
writing 16 variations can send hundreds of datagrams in a tenth of a second, more than a
REAPER script reading 30 times a second can take from its socket buffer. So each client has a
token bucket: replies pass at once while it holds tokens (LIVE_BURST, refilled at LIVE_PER_S);
beyond that they wait in order and a thread sends them at the bucket's rate. At most
LIVE_BACKLOG wait per client; past that a bar's replies are dropped (counted) and the client,
seeing the gap in /status or a /bar's count, asks /result for them. A job's final message is
never dropped.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from . import protocol as p

FINAL = (p.Done, p.Cancelled, p.Failed)


class LivePacer:
    def __init__(
        self,
        send: Callable[[str, p.Message], None],
        rate: float = p.LIVE_PER_S,
        burst: int = p.LIVE_BURST,
        backlog: int = p.LIVE_BACKLOG,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.send, self.rate, self.burst, self.clock = send, rate, burst, clock
        self._tokens: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)
        self._backlog: dict[str, collections.deque[p.Message]] = {}
        self._cond = threading.Condition()  # held while sending: keeps each client's order
        self._stopping = False
        self.waited = self.dropped = 0  # replies that had to wait, or were dropped
        self.limit = backlog
        self._thread = threading.Thread(target=self._run, name="midigen-live", daemon=True)
        self._thread.start()

    def send_live(self, client: str, message: p.Message) -> None:
        with self._cond:
            backlog = self._backlog.get(client)
            if not backlog and self._take(client):
                self.send(client, message)
                return
            backlog = self._backlog.setdefault(client, collections.deque())
            if len(backlog) >= self.limit and not isinstance(message, FINAL):
                self.dropped += 1
                return
            backlog.append(message)
            self.waited += 1
            self._cond.notify()

    def forget(self, client: str) -> None:
        with self._cond:
            self._backlog.pop(client, None)
            self._tokens.pop(client, None)

    def pending(self) -> int:
        with self._cond:
            return sum(len(b) for b in self._backlog.values())

    def stop(self) -> None:
        """Send whatever still waits (the shutdown's /cancelled among it), then stop."""
        with self._cond:
            self._stopping = True
            for client, backlog in self._backlog.items():
                for message in backlog:
                    self.send(client, message)
            self._backlog.clear()
            self._cond.notify()
        self._thread.join(2)

    def _take(self, client: str) -> bool:
        now = self.clock()
        tokens, when = self._tokens.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - when) * self.rate)
        ok = tokens >= 1.0
        self._tokens[client] = (tokens - 1.0 if ok else tokens, now)
        return ok

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                if not self._backlog:
                    self._cond.wait()
                    continue
                for client, backlog in list(self._backlog.items()):
                    while backlog and self._take(client):
                        self.send(client, backlog.popleft())
                    if not backlog:
                        del self._backlog[client]
                self._cond.wait(1.0 / self.rate)
