"""The one way midigen-bench times things: wall clock and this process's CPU time, read together.

Both clocks are kept because this machine is shared: other jobs inflate wall time, while process
CPU time (with one thread, the compute time) is what they disturb least. Callers choose the
statistic (median or best) that suits what they measure."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

DECODE_TOKENS = 32  # tokens a decode timing steps through
REPEATS = 5  # runs of which the best is kept
ALTERNATING_ROUNDS = 8  # turns of a two-engine comparison (alternating_ratio)


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.wall` and `sw.cpu` in seconds."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0


def time_runs(fn: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of `repeats` calls of `fn`."""
    wall, cpu = [], []
    for _ in range(repeats):
        with Stopwatch() as sw:
            fn()
        wall.append(sw.wall)
        cpu.append(sw.cpu)
    return wall, cpu


def best_ms(fn: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float]:
    """Best wall and best CPU time (ms) of `repeats` runs. On a shared machine the minimum is
    the least disturbed run; process CPU time is what other jobs disturb least of all (with one
    thread it is the compute time; with more it also counts the threads' spinning)."""
    wall, cpu = time_runs(fn, repeats)
    return min(wall) * 1e3, min(cpu) * 1e3


def decode_tokens(n: int = DECODE_TOKENS) -> list[int]:
    """Fixed decode inputs (pitch tokens): speed does not depend on which tokens they are."""
    return [400 + i % 64 for i in range(n)]


def timed_loop(
    start: Callable[[], object], step: Callable[[object, int], object]
) -> dict[str, float]:
    """Best over REPEATS of the mean wall and CPU time per decode step; `start` (the prefill)
    is untimed, so its noise does not leak into the per-token figure."""
    wall, cpu = [], []
    for _ in range(REPEATS):
        state = start()
        with Stopwatch() as sw:
            for tok in decode_tokens():
                state = step(state, tok)
        wall.append(sw.wall / DECODE_TOKENS)
        cpu.append(sw.cpu / DECODE_TOKENS)
    return {"decode_ms_per_token": min(wall) * 1e3, "decode_cpu_ms_per_token": min(cpu) * 1e3}


def alternating_ratio(ours: Callable[[], float], theirs: Callable[[], float],
                      rounds: int = ALTERNATING_ROUNDS) -> dict[str, float]:  # fmt: skip
    """theirs() / ours() over `rounds` turns, each side going first every other turn; the median
    of the per-turn ratios, with the lowest and highest. Two figures timed minutes apart on this
    shared machine can differ by 2x on their own; a slow spell within one turn slows both."""
    ratios = []
    for turn in range(rounds):
        if turn % 2:
            b, a = theirs(), ours()
        else:
            a, b = ours(), theirs()
        ratios.append(b / a)
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "rounds": float(rounds)}  # fmt: skip
