"""Jobs: fair queue, one worker thread driving the engine, cancel, supersede, status, results.

The network thread only validates and queues, so it never waits for the model; the worker runs
one job at a time because an Engine is not thread-safe (one KV cache). What a job sends is kept
compactly (replay.BarGroup) so /result can send it again; the piece itself is let go when the
job ends. Finished jobs are bounded per client and in all, and expire on the daemon's timer.

Supersede rule (docs/osc-protocol.md): a new job of a client that writes a track an older live
job of that client writes **on the same piece number** cancels the older one ("superseded"):
the user pressed generate again on that track of that song.
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
from .errors import ErrorCode, Refusal
from .fairqueue import FairQueue
from .ratelimit import LogLimiter
from .replay import BarGroup

log = logging.getLogger("midigen.jobs")

Send = Callable[[str, p.Message], None]  # (client id, message)


@dataclass(eq=False)
class Job:
    client: str  # client id
    id: int
    piece_no: int
    piece: Piece | None  # let go when the job ends
    request: gen.Request
    tempo: float = 120.0  # the piece's, for the MIDI out (the piece is let go at the end)
    submitted: float = field(default_factory=time.perf_counter)
    state: str = "queued"  # queued | running | done | cancelled | failed
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: str = "cancel"
    bars: list[BarGroup] = field(default_factory=list)  # kept for /result
    bars_total: int = 0
    final: p.Message | None = None  # /done, /cancelled or /failed
    ended: float = 0.0  # time.monotonic() when it ended

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
        self._queue = FairQueue()
        self._running: Job | None = None
        self._jobs: dict[str, collections.OrderedDict[int, Job]] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="midigen-worker", daemon=True)
        self.logs = LogLimiter(log)

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
        """Queue a job, send /accepted and return its position; Refusal when it cannot."""
        with self._lock:
            mine = self._jobs.setdefault(job.client, collections.OrderedDict())
            old = mine.get(job.id)
            if old is not None and old.live:
                raise Refusal(ErrorCode.job_in_use, f"job {job.id} is still {old.state}")
            if self._queue.count(job.client) >= p.QUEUE_PER_CLIENT:
                raise Refusal(
                    ErrorCode.queue_full,
                    f"{p.QUEUE_PER_CLIENT} of your jobs are waiting (the limit per client)",
                )
            if len(self._queue) >= self.max_queue:
                raise Refusal(
                    ErrorCode.queue_full,
                    f"{len(self._queue)} jobs are waiting (the limit); send /generate again later",
                )
            for other in list(mine.values()):
                if other.live and other.piece_no == job.piece_no and other.tracks & job.tracks:
                    self._cancel(other, "superseded")
            mine.pop(job.id, None)
            mine[job.id] = job
            self._trim(job.client)
            self._queue.push(job)
            position = self._queue.position(job) + (self._running is not None)
            # sent before the worker can see the job, so /accepted comes before its replies
            self.send(job.client, p.Accepted(job=job.id, position=position))
            self._lock.notify_all()
            return position

    def cancel(self, client: str, job_id: int) -> bool:
        """Cancel a queued or running job; False when the client has no such live job."""
        with self._lock:
            job = self._jobs.get(client, {}).get(job_id)
            if job is None or not job.live:
                return False
            self._cancel(job, "cancel")
            return True

    def cancel_client(self, client: str, reason: str) -> int:
        """Cancel every live job of a client (it left or went silent); returns how many."""
        with self._lock:
            live = [j for j in self._jobs.get(client, {}).values() if j.live]
            for job in live:
                self._cancel(job, reason)
            return len(live)

    def forget_client(self, client: str) -> None:
        """Cancel a client's live jobs ("gone") and drop its results."""
        self.cancel_client(client, "gone")
        with self._lock:
            mine = self._jobs.get(client, {})
            for job_id in [k for k, j in mine.items() if not j.live]:
                del mine[job_id]

    def has_live(self, client: str) -> bool:
        with self._lock:
            return any(j.live for j in self._jobs.get(client, {}).values())

    def find(self, client: str, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(client, {}).get(job_id)

    def status(self, client: str, job_id: int) -> p.State:
        with self._lock:
            job = self._jobs.get(client, {}).get(job_id)
            if job is None:
                return p.State(job=job_id, state="unknown", position=0, bars_sent=0, bars_total=0)
            position = 0
            if job.state == "queued":
                position = self._queue.position(job) + (self._running is not None)
            return p.State(
                job=job_id,
                state=job.state,
                position=position,
                bars_sent=len(job.bars),
                bars_total=job.bars_total,
            )

    def expire(self, now: float | None = None) -> int:
        """Forget finished jobs older than RESULT_TTL_S (the daemon's timer); how many."""
        now = time.monotonic() if now is None else now
        dropped = 0
        with self._lock:
            for client, mine in list(self._jobs.items()):
                for job_id in [k for k, j in mine.items() if not j.live]:
                    if now - mine[job_id].ended > p.RESULT_TTL_S:
                        del mine[job_id]
                        dropped += 1
                if not mine:
                    del self._jobs[client]
        return dropped

    def kept(self) -> int:
        """Finished jobs kept for /result, all clients."""
        with self._lock:
            return sum(not j.live for mine in self._jobs.values() for j in mine.values())

    def _trim(self, client: str) -> None:
        """Keep at most RESULTS_PER_CLIENT finished jobs per client and RESULTS_KEPT in all."""
        mine = self._jobs[client]
        finished = [k for k, j in mine.items() if not j.live]
        for job_id in finished[: max(0, len(finished) - p.RESULTS_PER_CLIENT)]:
            del mine[job_id]
        every = [j for m in self._jobs.values() for j in m.values() if not j.live]
        every.sort(key=lambda j: j.ended)
        for job in every[: max(0, len(every) - p.RESULTS_KEPT)]:
            del self._jobs[job.client][job.id]

    def _cancel(self, job: Job, reason: str) -> None:
        if job.state == "queued":
            self._cancel_queued(job, reason)
        else:  # running: the worker notices within one model step and sends /cancelled
            job.reason = reason
            job.cancel.set()

    def _cancel_queued(self, job: Job, reason: str) -> None:
        self._queue.remove(job)
        job.reason = reason
        self._end(job, "cancelled", p.Cancelled(job=job.id, reason=reason))

    # -- the worker -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while not len(self._queue) and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job = self._running = self._queue.pop()
                job.state = "running"
            try:
                self._run(job)
            except Exception as e:  # a bug must not kill the worker: report it and go on
                self.logs.exception("job", "job %d of %s failed", job.id, job.client)
                self._end(job, "failed", p.failed(job.id, ErrorCode.internal, _line(e)))
            finally:
                with self._lock:
                    self._running = None

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        queue_ms = (started - job.submitted) * 1e3
        done = None
        try:
            for event in gen.generate(self.engine, job.piece, job.request, job.cancel):
                if isinstance(event, gen.Progress):
                    job.bars_total = event.bars_total
                    self._progress(job, event.bars_done / max(1, event.bars_total))
                elif isinstance(event, gen.BarDone):
                    self._bar(job, event)
                    self._progress(job, len(job.bars) / max(1, job.bars_total))
                elif isinstance(event, gen.Done):
                    done = event
        except (gen.GenerationError, gen.LanguageError, EngineError) as e:
            self._end(job, "failed", p.failed(job.id, ErrorCode.invalid_request, _line(e)))
            log.info("job %d of %s failed: %s", job.id, job.client, _line(e))
            return
        if done is None or done.cancelled:
            self._end(job, "cancelled", p.Cancelled(job=job.id, reason=job.reason))
            log.info("job %d of %s cancelled (%s)", job.id, job.client, job.reason)
            return
        reply = p.Done(
            job=job.id,
            variations=job.request.variations,
            bars=len(job.bars),
            queue_ms=round(queue_ms, 3),
            first_bar_ms=round(done.first_bar_ms or 0.0, 3),
            model_ms=round(done.model_ms, 3),
            total_ms=round(done.total_ms, 3),
            tokens=done.tokens,
            seed=done.seed,
        )
        self._end(job, "done", reply)
        log.info(
            "job %d of %s: %d bars, %d tokens, first bar %.0f ms, total %.0f ms, "
            "%d of %d prompt tokens reused",
            job.id, job.client, len(job.bars), done.tokens, done.first_bar_ms or 0, done.total_ms,
            done.reused_tokens, done.prompt_tokens,
        )  # fmt: skip

    def _bar(self, job: Job, event: gen.BarDone) -> None:
        notes = tuple(
            (int(n.pitch), ticks(n.start), max(1, ticks(n.duration)), int(n.velocity))
            for n in event.notes
        )
        group = BarGroup(
            variation=int(event.variation) + 1,
            track=int(event.track) + 1,
            bar=int(event.bar) + 1,
            start=ticks(event.start),
            end=ticks(event.end),
            notes=notes,
        )
        job.bars.append(group)
        for message in group.messages(job.id):
            self.send(job.client, message)
        if self.on_bar is not None:
            self.on_bar(job, event)

    def _progress(self, job: Job, fraction: float) -> None:
        self.send(job.client, p.Progress(job=job.id, fraction=min(1.0, fraction)))

    def _end(self, job: Job, state: str, final: p.Message) -> None:
        job.state, job.final, job.ended = state, final, time.monotonic()
        job.piece = None  # the piece may be 4 MB; the result needs only the bars
        self.send(job.client, final)


def ticks(quarters: float) -> int:
    """Quarters as protocol ticks (TICKS per quarter, rounded half up)."""
    return int(quarters * p.TICKS + 0.5)


def _line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
