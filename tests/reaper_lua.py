"""What the REAPER-client tests share: where reaper_scripts/ is, and lua5.4 / busted / LuaSocket
found or the test skipped (or failed in CI, where .ci/run sets MIDIGEN_REQUIRE_PEERS and
`make install-peers` installs the Debian packages lua5.4, lua-socket and lua-busted)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "reaper_scripts"


def require(*tools: str) -> None:
    """Skip (fail under MIDIGEN_REQUIRE_PEERS) unless every tool is on PATH; "socket" means
    LuaSocket importable from lua5.4."""
    missing = [t for t in tools if t != "socket" and not shutil.which(t)]
    if "socket" in tools and shutil.which("lua5.4"):
        probe = subprocess.run(["lua5.4", "-e", "require 'socket'"], capture_output=True)
        if probe.returncode:
            missing.append("LuaSocket")
    if not missing:
        return
    text = f"{', '.join(missing)} missing: apt-get install lua5.4 lua-socket lua-busted"
    if os.environ.get("MIDIGEN_REQUIRE_PEERS"):
        pytest.fail(text)
    pytest.skip(text)


def lua(*args: str, stdin: str = "", timeout: float = 60, env: dict | None = None):
    """Run lua5.4 in reaper_scripts/ and return the finished process (text mode)."""
    return subprocess.run(
        ["lua5.4", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=SCRIPTS,
        env={**os.environ, **(env or {})},
    )


def busted(*args: str, env: dict | None = None, timeout: float = 300) -> list[str]:
    """Run busted (TAP output) in reaper_scripts/ and return its passed lines; fail on any
    failure, with the output."""
    require("lua5.4", "busted", "socket")
    result = subprocess.run(
        ["busted", "--lua=lua5.4", "-o", "TAP", *args],
        cwd=SCRIPTS,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    lines = result.stdout.splitlines()
    failures = [line for line in lines if line.startswith("not ok")]
    # The failing specs and their messages first: a long TAP log's tail may not hold them.
    summary = "\n".join(x for x in lines if x.startswith(("not ok", "# Failure message")))
    assert result.returncode == 0 and not failures, (
        summary + "\n---\n" + result.stdout[-6000:] + result.stderr[-3000:]
    )
    passed = [line for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert passed, result.stdout
    return passed
