"""Waiting jobs, one FIFO per client, served round-robin across clients.

Protocol 1 had one FIFO for everyone: with 16 busy clients a 1-bar infill waited behind every
job queued before it (p50 3.5 s) and retries after `queue_full` reached 37 s. Round-robin
across clients bounds a client's wait by the number of clients, not by their backlog.
Not thread-safe: the scheduler holds its lock around every call.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Protocol


class Queued(Protocol):
    client: str


class FairQueue:
    def __init__(self) -> None:
        # rotation order: the client served next comes first; served clients move to the end
        self._queues: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()

    def push(self, job: Queued) -> None:
        self._queues.setdefault(job.client, collections.deque()).append(job)

    def pop(self) -> Queued | None:
        for client, queue in self._queues.items():
            job = queue.popleft()
            if queue:
                self._queues.move_to_end(client)
            else:
                del self._queues[client]
            return job
        return None

    def remove(self, job: Queued) -> None:
        queue = self._queues.get(job.client)
        if queue is not None and job in queue:
            queue.remove(job)
            if not queue:
                del self._queues[job.client]

    def count(self, client: str) -> int:
        return len(self._queues.get(client, ()))

    def position(self, job: Queued) -> int:
        """Jobs that will start before `job` if nothing else arrives."""
        mine = self._queues.get(job.client)
        if mine is None or job not in mine:
            return 0
        k = list(mine).index(job)
        ahead, before = k, True
        for client, queue in self._queues.items():
            if client == job.client:
                before = False
                continue
            ahead += min(len(queue), k + 1 if before else k)
        return ahead

    def __iter__(self) -> Iterator[Queued]:
        for queue in self._queues.values():
            yield from queue

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())
