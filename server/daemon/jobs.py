"""Jobs: a bounded FIFO queue, one worker thread driving the engine, cancel, supersede, results.

The network thread only validates and queues, so it never waits for the model; the worker runs
one job at a time because an Engine is not thread-safe (one KV cache). Every reply a job sends
is also kept, so a client that lost datagrams can ask for the result again.

Supersede rule (docs/osc-protocol.md): a new job from the same client that writes a track an
older queued or running job of that client writes cancels the older one ("superseded"): the
DAW user pressed generate again on that track, and the old answer is no longer wanted.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine import generation as gen
from ..engine.session import Engine, EngineError
from ..language.piece import Piece
from . import protocol as p

log = logging.getLogger("midigen.jobs")

Client = tuple[str, int]  # (host, reply port): who a job belongs to and where replies go
Send = Callable[[Client, p.Message], None]


class Rejected(Exception):
    """A job that cannot be queued; carries the protocol error code."""

    def __init__(self, code: p.ErrorCode, text: str):
        super().__init__(text)
        self.code = code


@dataclass
class Job:
    client: Client
    id: int
    piece: Piece
    request: gen.Request
    submitted: float = field(default_factory=time.perf_counter)
    state: str = "queued"  # queued | running | done | cancelled | failed
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: str = "cancel"
    replies: list[p.Message] = field(default_factory=list)  # kept for /result

    @property
    def tracks(self) -> set[int]:
        return {s.track for s in self.request.selection}

    @property
    def live(self) -> bool:
        return self.state in ("queued", "running")


class Scheduler:
    """Owns the queue, the worker thread and every client's recent jobs."""

    def __init__(
        self,
        engine: Engine,
        send: Send,
        max_queue: int = p.DEFAULT_QUEUE,
        on_bar: Callable[[Job, gen.BarDone], None] | None = None,
    ):
        self.engine, self.send, self.max_queue, self.on_bar = engine, send, max_queue, on_bar
        self._lock = threading.Condition()
        self._queue: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._jobs: dict[Client, collections.OrderedDict[int, Job]] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="midigen-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel everything (clients hear "shutdown") and wait for the worker to finish."""
        with self._lock:
            self._stopping = True
            for job in list(self._queue):
                self._cancel_queued(job, "shutdown")
            if self._running is not None:
                self._running.reason = "shutdown"
                self._running.cancel.set()
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- called from the network thread ---------------------------------------------------
    def submit(self, job: Job) -> int:
        """Queue a job, send /accepted and return its position; Rejected when it cannot."""
        with self._lock:
            mine = self._jobs.setdefault(job.client, collections.OrderedDict())
            old = mine.get(job.id)
            if old is not None and old.live:
                raise Rejected(p.ErrorCode.job_in_use, f"job {job.id} is still {old.state}")
            if len(self._queue) >= self.max_queue:
                raise Rejected(
                    p.ErrorCode.queue_full,
                    f"{len(self._queue)} jobs are waiting (the limit); send /generate again later",
                )
            for other in list(mine.values()):
                if other.live and other.tracks & job.tracks:
                    self._cancel(other, "superseded")
            mine.pop(job.id, None)
            mine[job.id] = job
            while len(mine) > p.RESULTS_KEPT:  # forget the oldest finished jobs
                oldest = next((k for k, j in mine.items() if not j.live), None)
                if oldest is None:
                    break
                del mine[oldest]
            self._queue.append(job)
            position = len(self._queue) - 1 + (self._running is not None)
            # sent before the worker can see the job, so /accepted comes before its replies
            self.send(job.client, p.Accepted(job=job.id, position=position))
            self._lock.notify_all()
            return position

    def cancel(self, client: Client, job_id: int) -> bool:
        """Cancel a queued or running job; False when the client has no such live job."""
        with self._lock:
            job = self._jobs.get(client, {}).get(job_id)
            if job is None or not job.live:
                return False
            self._cancel(job, "cancel")
            return True

    def is_live(self, client: Client, job_id: int) -> bool:
        job = self.find(client, job_id)
        return job is not None and job.live

    def find(self, client: Client, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(client, {}).get(job_id)

    def _cancel(self, job: Job, reason: str) -> None:
        if job.state == "queued":
            self._cancel_queued(job, reason)
        else:  # running: the worker notices within one model step and sends /cancelled
            job.reason = reason
            job.cancel.set()

    def _cancel_queued(self, job: Job, reason: str) -> None:
        self._queue.remove(job)
        job.state, job.reason = "cancelled", reason
        self._reply(job, p.Cancelled(job=job.id, reason=reason))

    # -- the worker -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job = self._running = self._queue.popleft()
                job.state = "running"
            try:
                self._run(job)
            except Exception as e:  # a bug must not kill the worker: report it and go on
                log.exception("job %d of %s:%d failed", job.id, *job.client)
                job.state = "failed"
                self._reply(job, p.error(job.id, p.ErrorCode.internal, _line(e)))
            finally:
                with self._lock:
                    self._running = None

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        queue_ms = (started - job.submitted) * 1e3
        bars, total, done = 0, 1, None
        try:
            for event in gen.generate(self.engine, job.piece, job.request, job.cancel):
                if isinstance(event, gen.Progress):
                    total = max(1, event.bars_total)
                    self._progress(job, event.bars_done / total)
                elif isinstance(event, gen.BarDone):
                    self._bar(job, event)
                    bars += 1
                    self._progress(job, bars / max(1, total))
                elif isinstance(event, gen.Done):
                    done = event
        except (gen.GenerationError, gen.LanguageError, EngineError) as e:
            job.state = "failed"
            self._reply(job, p.error(job.id, p.ErrorCode.invalid_request, _line(e)))
            log.info("job %d of %s:%d refused: %s", job.id, *job.client, _line(e))
            return
        if done is None or done.cancelled:
            job.state = "cancelled"
            self._reply(job, p.Cancelled(job=job.id, reason=job.reason))
            log.info("job %d of %s:%d cancelled (%s)", job.id, *job.client, job.reason)
            return
        job.state = "done"
        reply = p.Done(
            job=job.id,
            variations=job.request.variations,
            bars=bars,
            queue_ms=round(queue_ms, 3),
            first_bar_ms=round(done.first_bar_ms or 0.0, 3),
            model_ms=round(done.model_ms, 3),
            total_ms=round(done.total_ms, 3),
            tokens=done.tokens,
            seed=done.seed,
        )
        self._reply(job, reply)
        log.info(
            "job %d of %s:%d: %d bars, %d tokens, first bar %.0f ms, total %.0f ms",
            job.id, *job.client, bars, done.tokens, done.first_bar_ms or 0, done.total_ms,
        )  # fmt: skip

    def _bar(self, job: Job, event: gen.BarDone) -> None:
        where = dict(job=job.id, variation=int(event.variation) + 1, track=int(event.track) + 1)
        where["bar"] = int(event.bar) + 1
        notes = [
            p.NoteArgs(
                pitch=int(n.pitch),
                start=float(n.start),
                duration=float(n.duration),
                velocity=int(n.velocity),
            )
            for n in event.notes
        ]
        for i in range(0, len(notes), p.NOTES_PER_REPLY):
            self._reply(job, p.Notes(**where, notes=notes[i : i + p.NOTES_PER_REPLY]))
        end = float(event.end)
        self._reply(job, p.Bar(**where, notes=len(notes), start=float(event.start), end=end))
        if self.on_bar is not None:
            self.on_bar(job, event)

    def _progress(self, job: Job, fraction: float) -> None:
        self.send(job.client, p.Progress(job=job.id, fraction=min(1.0, fraction)))

    def _reply(self, job: Job, message: p.Message) -> None:
        job.replies.append(message)
        self.send(job.client, message)


def _line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
