"""Rate limits for what a flood of bad input could otherwise multiply: log lines and refusals.

A hostile or broken client can send tens of thousands of datagrams a second; each may deserve
a log line or a refusal, but the log must stay readable and the server must not become a
reply amplifier. Both limits count what they drop, so the figures stay honest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class Budget:
    """At most `rate` events per second per key (a one-second window, reset each second)."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic, keys: int = 4096):
        self.rate, self.clock, self.keys = rate, clock, keys
        self._used: dict[object, tuple[int, int]] = {}  # key -> (second, events in it)
        self.dropped = 0
        self._lock = threading.Lock()

    def take(self, key: object) -> bool:
        """True when one more event for `key` fits this second's budget."""
        second = int(self.clock())
        with self._lock:
            if len(self._used) > self.keys:  # bounded: forget every key from older seconds
                self._used = {k: v for k, v in self._used.items() if v[0] == second}
            start, n = self._used.get(key, (second, 0))
            if start != second:
                n = 0
            if n >= self.rate:
                self.dropped += 1
                return False
            self._used[key] = (second, n + 1)
            return True


class LogLimiter:
    """A logger wrapper: at most `rate` lines per second per key; when a key's second had
    dropped lines, its next line says how many."""

    def __init__(self, logger: logging.Logger, rate: int = 5):
        self.log, self.budget = logger, Budget(rate)
        self._skipped: dict[str, int] = {}

    def _emit(self, level: int, key: str, fmt: str, *args: object, exc: bool = False) -> None:
        if not self.budget.take(key):
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return
        skipped = self._skipped.pop(key, 0)
        if skipped:
            fmt += f" (and {skipped} more like it)"
        self.log.log(level, fmt, *args, exc_info=exc)

    def info(self, key: str, fmt: str, *args: object) -> None:
        self._emit(logging.INFO, key, fmt, *args)

    def warning(self, key: str, fmt: str, *args: object) -> None:
        self._emit(logging.WARNING, key, fmt, *args)

    def error(self, key: str, fmt: str, *args: object) -> None:
        self._emit(logging.ERROR, key, fmt, *args)

    def exception(self, key: str, fmt: str, *args: object) -> None:
        """A server bug: logged with its traceback (rate-limited like everything else)."""
        self._emit(logging.ERROR, key, fmt, *args, exc=True)
