"""The REAPER scripts end to end: reaper_scripts/e2e/infill_spec.lua runs the real action
scripts under lua5.4 on a fake REAPER (spec/fake/reaper.lua), and they talk OSC over UDP to a
real `midigen-server` on a free port, serving the default model from models/. The server is
started here and stopped by its own Popen handle."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from reaper_lua import busted, require

SERVER = Path(sys.executable).parent / "midigen-server"
ENV = {k: v for k, v in os.environ.items() if k != "MIDIGEN_MODEL"}


@pytest.fixture(scope="module")
def server_port():
    """A midigen-server on a free port (it binds port 0 and prints the one it got)."""
    require("lua5.4", "busted", "socket")
    proc = subprocess.Popen(
        [str(SERVER), "--port", "0", "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    found = threading.Event()
    lines: list[str] = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("midigen-server "):
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert found.wait(120), "midigen-server did not start: " + "".join(lines[-20:])
        start_line = next(x for x in lines if x.startswith("midigen-server "))
        yield int(re.search(r":(\d+)\s*$", start_line).group(1))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_scripts_infill_continue_loop_cancel_against_the_real_server(server_port):
    passed = busted("e2e/infill_spec.lua", env={**ENV, "MIDIGEN_TEST_PORT": str(server_port)})
    assert len(passed) == 10
