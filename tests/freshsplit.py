"""A dataset split computed in fresh interpreters, for the tests of the training splits.

Comparing `split_of(w)` with itself in one process cannot fail: a split keyed on Python's
`hash()` of a string is the same within a process and differs between processes (string
hashes are salted per process). Two children with different PYTHONHASHSEED must agree with
each other and with the parent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    "import importlib, sys; m = importlib.import_module(sys.argv[1]);"
    "print(' '.join(m.split_of(x) for x in sys.argv[2:]))"
)


def splits_in_fresh_processes(module: str, ids: list[str]) -> list[str]:
    """`module.split_of` of each id, as two fresh interpreters with different string-hash
    salts compute it; AssertionError when they disagree."""
    assert ids, "no ids: a split of nothing agrees with anything"
    seen = []
    for salt in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, module, *ids],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": salt},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        seen.append(out.stdout.split())
    assert seen[0] == seen[1], "the split depends on the process's string-hash salt"
    return seen[0]
