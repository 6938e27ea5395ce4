"""`make serve`: a port of the user's choice, and no reinstall when the venv is up to date.

Checked with `make -n` (print, do not run) against a stand-in venv folder, so nothing installs.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(venv: Path, *args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "serve", f"VENV={venv}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def venv(tmp_path):
    """A folder that looks like an installed venv, installed after pyproject.toml changed."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    stamp = tmp_path / ".installed"
    stamp.write_text("")
    later = (ROOT / "pyproject.toml").stat().st_mtime + 60
    os.utime(stamp, (later, later))
    return tmp_path


def test_serve_takes_a_port(venv):
    out = dry_run(venv, "PORT=9100")
    assert f"{venv}/bin/midigen-server --port 9100" in out
    assert "--port 9000" in dry_run(venv)


def test_serve_does_not_reinstall_an_up_to_date_venv(venv):
    assert "pip" not in dry_run(venv)


def test_serve_installs_when_the_venv_is_missing_or_stale(venv, tmp_path):
    os.utime(venv / ".installed", (0, 0))  # older than pyproject.toml
    assert "pip install" in dry_run(venv)
    out = dry_run(tmp_path / "none")
    assert "-m venv" in out and "pip install" in out
