"""What a job sent, kept compactly, and /result's paced replay of it.

Protocol 1 kept every reply as a message object (about 4 MB for a big job) and replayed a job
as one unpaced burst: a client polling at 30 Hz with a 16 KB receive buffer got 19 of 364
datagrams, and a bundle of 50 /result blocked the network thread for 1.7 s. Now bars are kept
as integer tuples, /result can ask for a slice (variation, track, bar range), and a Pacer
thread sends every replay at REPLAY_BURST datagrams per REPLAY_GAP_MS, one replay per client
(a new /result replaces that client's running one), so the replies a request can cause are
bounded and never sent from the network thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import protocol as p

NoteTicks = tuple[int, int, int, int]  # pitch, start, duration, velocity


@dataclass(frozen=True)
class BarGroup:
    """One finished bar of one variation, in wire terms (1-based, ticks)."""

    variation: int
    track: int
    bar: int
    start: int
    end: int
    notes: tuple[NoteTicks, ...]

    def messages(self, job: int) -> list[p.Message]:
        """Its /notes (at most NOTES_PER_MESSAGE notes each) and the closing /bar."""
        where = dict(job=job, variation=self.variation, track=self.track, bar=self.bar)
        out: list[p.Message] = []
        step = p.NOTES_PER_MESSAGE
        for i in range(0, len(self.notes), step):
            notes = [
                p.NoteArgs(pitch=a, start=b, duration=c, velocity=d)
                for a, b, c, d in self.notes[i : i + step]
            ]
            out.append(p.Notes(**where, notes=notes))
        out.append(p.Bar(**where, notes=len(self.notes), start=self.start, end=self.end))
        return out

    def matches(self, f: p.Result) -> bool:
        return (
            f.variation in (0, self.variation)
            and f.track in (0, self.track)
            and (f.first_bar == 0 or self.bar >= f.first_bar)
            and (f.last_bar == 0 or self.bar <= f.last_bar)
        )


def replay(job: int, bars: list[BarGroup], final: p.Message, f: p.Result) -> Iterator[p.Message]:
    """The messages /result sends: the matching groups, then the job's final message."""
    for group in bars:
        if group.matches(f):
            yield from group.messages(job)
    yield final


class Pacer:
    """Sends each client's replay at a bounded rate from its own thread."""

    def __init__(
        self,
        send: Callable[[str, p.Message], None],
        burst: int = p.REPLAY_BURST,
        gap_ms: float = p.REPLAY_GAP_MS,
    ):
        self.send, self.burst, self.gap = send, burst, gap_ms / 1000
        self._replays: dict[str, Iterator[p.Message]] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="midigen-replay", daemon=True)
        self._thread.start()

    def start(self, client: str, messages: Iterator[p.Message]) -> None:
        """Replay `messages` to `client`, replacing any replay it has running."""
        with self._cond:
            self._replays[client] = messages
            self._cond.notify()

    def drop(self, client: str) -> None:
        with self._cond:
            self._replays.pop(client, None)

    def active(self) -> int:
        with self._cond:
            return len(self._replays)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(2)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._replays and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch = []
                for client, messages in list(self._replays.items()):
                    for _ in range(self.burst):
                        message = next(messages, None)
                        if message is None:
                            del self._replays[client]
                            break
                        batch.append((client, message))
            for client, message in batch:
                self.send(client, message)
            time.sleep(self.gap)  # not a wait on the condition: a new /result must not hurry it
