"""The CI rule of strictskips.py, run on a small suite of its own in a fresh pytest: a skip,
a module-level importorskip and an empty parametrize fail under MIDIGEN_REQUIRE_PEERS and
only skip without it; the no-GPU skip is allowed either way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUITE = {
    "conftest.py": "from strictskips import pytest_make_collect_report, "
    "pytest_runtest_makereport  # noqa: F401\n",
    "test_a.py": "import pytest\n\n"
    "def test_runs():\n    pass\n\n"
    "def test_skips():\n    pytest.skip('shared MIDI not available')\n\n"
    "@pytest.mark.skipif(True, reason='no GPU on this machine')\n"
    "def test_gpu():\n    pass\n\n"
    "@pytest.mark.parametrize('x', [])\n"
    "def test_on_nothing(x):\n    pass\n",
    "test_b.py": "import pytest\n\npytest.importorskip('no_such_module_midigen')\n\n"
    "def test_never():\n    pass\n",
}


def outcomes(tmp_path: Path, ci: bool) -> dict[str, int]:
    for name, text in SUITE.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "MIDIGEN_REQUIRE_PEERS"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    if ci:
        env["MIDIGEN_REQUIRE_PEERS"] = "1"
    args = ["-q", "-p", "no:cacheprovider", "--continue-on-collection-errors", str(tmp_path)]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    summary = run.stdout.strip().splitlines()[-1]
    return {word.rstrip("s"): int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}


@pytest.mark.parametrize("ci", [False, True])
def test_stray_skips_fail_only_under_ci_and_the_gpu_skip_never(tmp_path, ci):
    got = outcomes(tmp_path, ci)
    if ci:  # the skip fails; the empty parametrize (at setup) and test_b (collection) error
        assert got == {"passed": 1, "failed": 1, "skipped": 1, "error": 2}, got
    else:
        assert got == {"passed": 1, "skipped": 4}, got
