"""`midigen-server` as a process: its one-line failures, its startup line, SIGTERM, and a whole
job driven by liblo's `oscsend` with replies read by `oscdump` (Debian package liblo-tools),
so the wire format is checked by an OSC implementation we did not write.

Every process a test starts is stopped by that test's fixture, by its own Popen handle.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from midigen.server.daemon import main as daemon

SERVER = Path(sys.executable).parent / "midigen-server"
ENV = {k: v for k, v in os.environ.items() if k != "MIDIGEN_MODEL"}


def liblo_or_skip():
    """CI (.ci/run sets MIDIGEN_REQUIRE_PEERS) installs liblo-tools; elsewhere, skip without it."""
    if shutil.which("oscsend") and shutil.which("oscdump"):
        return
    if os.environ.get("MIDIGEN_REQUIRE_PEERS"):
        pytest.fail("oscsend/oscdump missing: apt-get install liblo-tools")
    pytest.skip("liblo-tools (oscsend, oscdump) not installed")


def server(*args, timeout=60):
    """midigen-server on a free port unless the test names one: the suite must pass while the
    user's own server (make serve) holds the default port."""
    args = [str(a) for a in args]
    if "--port" not in args:
        args += ["--port", "0"]
    return subprocess.run(
        [str(SERVER), *args], capture_output=True, text=True, timeout=timeout, env=ENV
    )


def one_line(result, code):
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("midigen-server: "), result.stderr
    return lines[0]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lines:
    """Collects a process's stdout lines on a thread, so tests can wait for one."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait(self, pattern, timeout=30.0, since=0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, line in enumerate(self.lines[since:], since):
                    if re.search(pattern, line):
                        return i, line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no line matching {pattern!r} in {self.lines[-5:]}")
                self._cond.wait(left)


@pytest.fixture
def running(bundle):
    """A midigen-server process on a free port; stopped with SIGTERM by this fixture."""
    proc = subprocess.Popen(
        [str(SERVER), "--port", "0", "--model", str(bundle), "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    out = Lines(proc.stdout)
    try:
        _, line = out.wait(r"^midigen-server ", 60)
        yield proc, line, int(line.rsplit(":", 1)[1])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def oscdump():
    """liblo's oscdump listening on a free port: (port, its printed lines)."""
    liblo_or_skip()
    port = free_port()
    proc = subprocess.Popen(
        ["oscdump", "-L", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = Lines(proc.stdout)
        _until_listening(port, lines)
        yield port, lines
    finally:
        proc.terminate()
        proc.wait(5)


READY = b"/ready\x00\x00,i\x00\x00" + struct.pack(">i", 1)  # an OSC message, by hand


def _until_listening(port, lines, timeout=10.0):
    """Probe oscdump with /ready until it prints one: a reply sent before it has bound its port
    is dropped by the kernel, and the test then waits for a line that never comes (seen once
    in a loaded full run)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        while True:
            probe.sendto(READY, ("127.0.0.1", port))
            try:
                lines.wait(r" /ready ", timeout=0.05)
                return
            except TimeoutError:
                assert time.monotonic() < deadline, "oscdump printed nothing in 10 s"


def oscsend(port, address, types, *args):
    subprocess.run(
        ["oscsend", "127.0.0.1", str(port), address, types, *map(str, args)],
        check=True, timeout=10, capture_output=True,
    )  # fmt: skip


def parse(line):
    """An oscdump line (time tag, address, type tags, arguments) as (address, args)."""
    _, address, types, *args = shlex.split(line)
    kinds = {"i": int, "f": float, "s": str}
    return address, [kinds[t](a) for t, a in zip(types, args)]


def test_help_lists_every_flag():
    result = server("--help")
    assert result.returncode == 0
    for flag in ("--port", "--host", "--model", "--device", "--allow", "--log-level",
                 "--max-refusals"):  # fmt: skip
        assert flag in result.stdout


def test_without_a_model_it_says_so_in_one_line(monkeypatch, capsys):
    """An install whose models/ lost its bundle (the shipped one is tested below)."""
    monkeypatch.setattr(daemon, "default_bundle", lambda gpu=False: None)
    monkeypatch.delenv("MIDIGEN_MODEL", raising=False)
    assert daemon.main(["--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no default model is installed" in err[0]


def test_missing_or_corrupt_model_and_bad_flags_are_one_line(bundle, tmp_path):
    line = one_line(server("--model", tmp_path / "nope"), 1)
    assert "no such file or folder" in line
    shutil.copytree(bundle, tmp_path / "broken")
    (tmp_path / "broken" / "model.onnx").write_bytes(b"not a protobuf")
    line = one_line(server("--model", tmp_path / "broken", "--port", "0"), 1)
    assert "cannot load the model" in line
    assert "--allow" in one_line(server("--allow", "10.0.0.0/33"), 2)


def test_port_in_use_is_one_line(bundle):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        line = one_line(server("--port", port, "--model", bundle), 1)
    assert f"port {port} on 127.0.0.1 is in use" in line


def test_liblo_peers_drive_a_whole_job(running, oscdump):
    proc, startup, port = running
    assert re.match(
        r"midigen-server \S+: model tiny-bundle on cpu, OSC protocol 2 on udp ", startup
    )
    me, dump = oscdump

    oscsend(port, "/midigen/ping", "i", me)
    _, line = dump.wait(r"/midigen/pong ")
    address, args = parse(line)
    assert args[:4] == [2, args[1], "tiny-bundle", "cpu"]
    oscsend(port, "/midigen/hello", "iis", 2, me, "liblo0123456789")
    _, line = dump.wait(r"/midigen/welcome ")
    token = parse(line)[1][0]

    # 2 tracks x 2 bars of 4/4; 3 notes on track 1 in one chunk (times in ticks, 96 a quarter)
    oscsend(port, "/midigen/upload/begin", "iiiif", token, 1, 2, 2, 96.0)
    oscsend(port, "/midigen/upload/track", "iiiiis", token, 1, 1, 33, 0, "Bass line")
    oscsend(port, "/midigen/upload/track", "iiiiis", token, 1, 2, 0, 1, "Drums")
    notes = [36, 0, 96, 100, 43, 96, 48, 90, 36, 384, 192, 80]
    oscsend(port, "/midigen/upload/notes", "iiii" + "iiii" * 3, token, 1, 1, 1, *notes)
    oscsend(port, "/midigen/upload/end", "iiiiii", token, 1, 2, 0, 1, 3)
    _, line = dump.wait(r"/midigen/uploaded ")
    assert parse(line) == ("/midigen/uploaded", [1, 3])

    sel = [1, 2, 2, -1, 3, -1, 1, -1, -1, -1, -1]  # track 1, bar 2, density 3, one voice
    oscsend(port, "/midigen/generate", "iiisiffiii" + "i" * 11, token, 1, 1, "infill", 1, 1.0,
            1.0, 7, 1, 0, *sel)  # fmt: skip
    end, line = dump.wait(r"/midigen/(done|failed|refused) ", 60)
    replies = [parse(x) for x in dump.lines[: end + 1]]
    assert line.split()[1] == "/midigen/done", replies[-3:]
    notes = [r[1][4:] for r in replies if r[0] == "/midigen/notes"]
    bars = [r[1] for r in replies if r[0] == "/midigen/bar"]
    assert len(bars) == 1 and bars[0][:4] == [1, 1, 1, 2] and bars[0][5:] == [384, 768]
    flat = [x for chunk in notes for x in chunk]
    assert len(flat) == 4 * bars[0][4]
    for pitch, start, duration, velocity in zip(*[iter(flat)] * 4):
        assert 0 <= pitch <= 127 and 384 <= start < 768 and duration > 0 and 1 <= velocity <= 127
    done = [r[1] for r in replies if r[0] == "/midigen/done"][0]
    assert done[:3] == [1, 1, 1] and done[-1] == 7  # job, variations, bars ... seed

    since = len(dump.lines)
    oscsend(port, "/midigen/upload/begin", "iiiis", token, 3, 4, 8, "fast")
    _, line = dump.wait(r"/midigen/refused ", since=since)
    address, (request, code, number, text) = parse(line)
    assert (request, code, number) == ("/midigen/upload/begin", "bad_message", 3)
    assert "tempo" in text

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert "Traceback" not in proc.stderr.read()
