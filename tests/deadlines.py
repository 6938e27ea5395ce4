"""A deadline on reading a process's pipe, so a process that never writes cannot hang the suite.

A `readline()` on a pipe has no timeout; `select` does, but cannot see lines Python has already
buffered. Killing the process (one the test started, by its pid) when the deadline passes
closes the pipe, and the read returns what it has: the test then fails with its own message.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SECONDS = 60.0  # a server's start on a loaded two-core machine takes a few seconds


@contextmanager
def deadline(proc: subprocess.Popen, seconds: float = SECONDS) -> Iterator[None]:
    """Kill `proc` if the block is still running after `seconds`."""
    timer = threading.Timer(seconds, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
