"""Faults around a real `midigen-server` process: SIGTERM and SIGINT in the middle of a job, a
truncated model file, `--midi-out` where no MIDI backend runs. Each ends in one clear line or
a clean exit; none leaves a traceback or a client waiting for an answer that never comes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import tiny_bundle
from deadlines import deadline
from midigen.server.daemon import protocol as p
from midigen.server.daemon.client import Client, Selection
from midigen.server.language.midifiles import read_midi

SERVER = Path(sys.executable).parent / "midigen-server"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def start(*args: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [str(SERVER), "--port", "0", "--device", "cpu", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    with deadline(proc):
        line = proc.stdout.readline()
    if not line.startswith("midigen-server "):
        proc.kill()
        raise AssertionError(f"no startup line: {line!r} {proc.stderr.read()}")
    return proc, int(line.rsplit(":", 1)[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_job_cancels_it_and_exits_cleanly(bundle, sig):
    proc, port = start("--model", str(bundle))
    try:
        with Client(("127.0.0.1", port)) as c:
            c.hello(30)
            c.upload(1, read_midi(tiny_bundle.MIDI / "prompt_bmw.mid"))
            c.generate(1, 1, "infill", [Selection(t, 1, 8) for t in (1, 2, 3)], variations=16)
            c.wait(lambda m: isinstance(m, p.Bar), 60)
            proc.send_signal(sig)
            assert c.finished(1, 20) == p.Cancelled(job=1, reason="shutdown")
        assert proc.wait(20) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_truncated_model_file_is_one_line(bundle, tmp_path):
    shutil.copytree(bundle, tmp_path / "cut")
    model = tmp_path / "cut" / "model.onnx"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    result = subprocess.run(
        [str(SERVER), "--port", "0", "--model", str(tmp_path / "cut")],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "cannot load the model" in lines[0]


def test_midi_out_without_a_backend_is_one_line(bundle):
    env = {**ENV, "JACK_NO_START_SERVER": "1"}
    try:
        result = subprocess.run(
            [str(SERVER), "--port", "0", "--model", str(bundle), "--midi-out", "faults"],
            capture_output=True, text=True, timeout=30, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:  # it opened a port and is serving
        pytest.skip("a MIDI backend is running here")
    if "no MIDI port could be opened" not in result.stderr:
        pytest.skip("a MIDI backend is running here (the server opened its port)")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "--midi-out" in lines[0]
