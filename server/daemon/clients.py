"""Who is talking: clients by their stable id, their current token and reply address.

Protocol 1 named a client by host and reply port, so a reloaded REAPER script or Max device (a
new port) lost its uploads, jobs and results, and any local process naming another client's
port could act for it. Now a client says /hello with an id it keeps across reloads and gets a
random token; every later message carries the token, which is valid only from the host that
said /hello and only until the next /hello of that id. Replies go to the address bound now, so
a reloaded client's running job streams on to its new port.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import protocol as p
from .errors import ErrorCode, Refusal

Address = tuple[str, int]


@dataclass
class ClientState:
    id: str
    token: int
    address: Address  # the host that said /hello and its reply port
    last_seen: float = field(default_factory=time.monotonic)


class Clients:
    """The known clients, at most `limit`; forgetting one is the caller's `forget(id)`."""

    def __init__(
        self,
        has_live_jobs: Callable[[str], bool],
        forget: Callable[[str], None],
        limit: int = p.MAX_CLIENTS,
    ):
        self.has_live_jobs, self.forget, self.limit = has_live_jobs, forget, limit
        self._by_id: dict[str, ClientState] = {}
        self._by_token: dict[int, ClientState] = {}
        self._lock = threading.Lock()

    def hello(self, host: str, m: p.Hello) -> ClientState:
        """Register or rebind a client; a new token replaces the old one at once."""
        gone = None
        with self._lock:
            state = self._by_id.get(m.client_id)
            if state is None:
                if len(self._by_id) >= self.limit:
                    gone = self._drop_one()
                state = ClientState(m.client_id, 0, (host, m.reply_port))
                self._by_id[m.client_id] = state
            self._by_token.pop(state.token, None)
            state.token = self._new_token()
            state.address = (host, m.reply_port)
            state.last_seen = time.monotonic()
            self._by_token[state.token] = state
        if gone is not None:  # outside the lock: forgetting takes the scheduler's lock
            self.forget(gone)
        return state

    def _new_token(self) -> int:
        while True:
            token = 1 + secrets.randbelow(p.INT32)
            if token not in self._by_token:
                return token

    def _drop_one(self) -> str:
        idle = [s for s in self._by_id.values() if not self.has_live_jobs(s.id)]
        if not idle:
            raise Refusal(
                ErrorCode.too_large, f"{self.limit} clients with live jobs; try again later"
            )
        return self._drop(min(idle, key=lambda s: s.last_seen))

    def _drop(self, state: ClientState) -> str:
        del self._by_id[state.id]
        self._by_token.pop(state.token, None)
        return state.id

    def by_token(self, token: object, host: str) -> ClientState | None:
        """The client this token names, if it said /hello from this host; marks it seen."""
        if type(token) is not int:
            return None
        with self._lock:
            state = self._by_token.get(token)
            if state is None or state.address[0] != host:
                return None
            state.last_seen = time.monotonic()
            return state

    def address(self, client_id: str) -> Address | None:
        """Lock-free on purpose: the worker sends while holding the scheduler's lock, and
        hello() holds this lock while asking the scheduler (a dict read is atomic)."""
        state = self._by_id.get(client_id)
        return state.address if state else None

    def bye(self, state: ClientState) -> None:
        with self._lock:
            if self._by_id.get(state.id) is not state:
                return
            self._drop(state)
        self.forget(state.id)

    def unreachable(self, address: Address, seen: float) -> None:
        """The client at `address` stopped listening (ICMP port unreachable): count it as last
        heard at `seen` unless it speaks again (a reload says /hello from a new port)."""
        with self._lock:
            for state in self._by_id.values():
                if state.address == address:
                    state.last_seen = min(state.last_seen, seen)

    def silent(self, seconds: float) -> list[str]:
        """Ids of clients not heard from for `seconds`."""
        now = time.monotonic()
        with self._lock:
            return [s.id for s in self._by_id.values() if now - s.last_seen > seconds]

    def __len__(self) -> int:
        return len(self._by_id)
