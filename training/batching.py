"""Batches for training/train.py: examples grouped by length into batches of about a token
budget, padded on the right, each row starting at position 0 as the server's prompts do (no
packing of several examples into one row, so positions mean what they mean at serving time).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from collections.abc import Callable, Iterable, Iterator
from queue import Empty

import numpy as np
import torch


def batches(stream: Iterable[np.ndarray], batch_tokens: int, pad: int, seed: int,
            buffer: int = 512) -> Iterator[torch.Tensor]:  # fmt: skip
    """Right-padded (B, L) batches of about `batch_tokens` tokens (padding included).

    Examples are read `buffer` at a time and sorted by length, so a batch holds examples of
    similar length and padding stays small; the batches of a buffer go out in random order.
    """
    return (torch.from_numpy(a) for a in batch_arrays(stream, batch_tokens, pad, seed, buffer))


def batch_arrays(stream: Iterable[np.ndarray], batch_tokens: int, pad: int, seed: int,
                 buffer: int = 512) -> Iterator[np.ndarray]:  # fmt: skip
    """`batches` as int64 arrays: what data workers build, since a forked process must not
    use torch (its thread pool, inherited mid-state, can deadlock the child)."""
    rng = np.random.default_rng(seed)
    it = iter(stream)
    while True:
        chunk = [x for _, x in zip(range(buffer), it)]
        if not chunk:
            return
        chunk.sort(key=len)
        groups, group, longest = [], [], 0
        for x in chunk:
            longest_if = max(longest, len(x))
            if group and longest_if * (len(group) + 1) > batch_tokens:
                groups.append(group)
                group, longest_if = [], len(x)
            group.append(x)
            longest = longest_if
        groups.append(group)
        for i in rng.permutation(len(groups)):
            yield pad_array(groups[i], pad)


def pad_array(rows: list[np.ndarray], pad: int) -> np.ndarray:
    out = np.full((len(rows), max(len(r) for r in rows)), pad, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class ParallelBatches:
    """Batches from `workers` processes, each running `make(its own seed)`, in the order they
    are ready; `close()` stops them. `make` yields arrays (`batch_arrays`): a forked child must
    not use torch. Why: building examples is plain Python at ~90k tokens/s on one core, enough
    for a CPU (~1,300 tokens/s) but what a GPU would wait on. The workers are forked when this
    is made, so `make` and the pieces it reads need not be picklable; make it before the model
    touches CUDA. Each stream is deterministic given the seed, their interleaving is not."""

    def __init__(self, make: Callable[[int], Iterator[np.ndarray]], workers: int, seed: int):
        context = mp.get_context("fork")
        self.queue = context.Queue(maxsize=4 * workers)
        self.procs = [context.Process(target=_produce, args=(make, seed * 1000 + 1 + w,
                                                             self.queue), daemon=True)
                      for w in range(workers)]  # fmt: skip
        for p in self.procs:
            p.start()
        self.ended = 0

    def __iter__(self) -> ParallelBatches:
        return self

    def __next__(self) -> torch.Tensor:
        while self.ended < len(self.procs):
            try:
                item = self.queue.get(timeout=60)
            except Empty:
                if not any(p.is_alive() for p in self.procs):
                    self.close()
                    raise RuntimeError("every data worker stopped without a word") from None
                continue
            if isinstance(item, str):
                self.close()
                raise RuntimeError(f"a data worker failed: {item}")
            if item is None:  # that worker's stream ended (finite streams: tests)
                self.ended += 1
                continue
            return torch.from_numpy(item)
        self.close()
        raise StopIteration

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


def _produce(make: Callable[[int], Iterator[np.ndarray]], seed: int, queue: object) -> None:
    """One worker: its batches, then None; a failure is sent as its message. SIGTERM gets its
    default back: a fork inherits the trainer's handler (which only asks the loop to stop), and
    the trainer stops its workers with SIGTERM."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        for batch in make(seed):
            queue.put(batch)
    except Exception as e:  # noqa: BLE001 - any failure must reach the trainer, not hang it
        queue.put(f"{type(e).__name__}: {e}")
        return
    queue.put(None)
