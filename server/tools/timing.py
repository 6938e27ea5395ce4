"""The one way midigen-bench times things: wall clock and this process's CPU time, read together.

Both clocks are kept because this machine is shared: other jobs inflate wall time, while process
CPU time (with one thread, the compute time) is what they disturb least. Callers choose the
statistic (median or best) that suits what they measure."""

from __future__ import annotations

import time
from collections.abc import Callable


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
