"""training/device_pack.py and training/device_train.sh: what a GPU training call carries and how
the call fails without it. (The whole call was rehearsed on the CPU: training/README.md.)"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from training import device_pack

REPO = Path(__file__).resolve().parents[1]


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    cache, songs = tmp_path / "corpus", tmp_path / "pop909"
    (cache / "bach").mkdir(parents=True)
    (cache / "bach" / "works.pkl").write_bytes(b"x" * 1000)
    (songs / "001").mkdir(parents=True)
    (songs / "001" / "001.mid").write_bytes(b"MThd" + b"\0" * 100)
    return cache, songs


def test_pack_holds_the_data_and_the_pure_python_packages(tmp_path):
    cache, songs = _inputs(tmp_path)
    out = tmp_path / "device-pack"
    record = device_pack.build(out, cache, songs, tree=1000)
    with tarfile.open(out / "data.tar.xz") as tar:
        names = set(tar.getnames())
    assert {"corpus/bach/works.pkl", "pop909/001/001.mid"} <= names
    assert (out / "site" / "mido" / "__init__.py").exists()
    assert (out / "site" / "packaging" / "version.py").exists()
    assert json.loads((out / "pack.json").read_text()) == record
    record_bytes = (out / "pack.json").stat().st_size
    assert record["pack_bytes"] == device_pack.folder_bytes(out) - record_bytes


def test_a_pack_over_the_limit_is_refused_and_the_old_one_kept(tmp_path):
    cache, songs = _inputs(tmp_path)
    out = tmp_path / "device-pack"
    device_pack.build(out, cache, songs, tree=1000)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ValueError, match="exceed the 1 MiB"):
        device_pack.build(out, cache, songs, tree=1 << 20, limit=1 << 20)
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("device-pack.")] == []
    with pytest.raises(ValueError, match="corpus cache .* missing or empty"):
        device_pack.build(out, tmp_path / "nowhere", songs, tree=0)


def test_the_device_call_says_what_is_missing(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PACK": str(tmp_path / "no-pack")}
    done = subprocess.run(["bash", str(REPO / "training" / "device_train.sh")], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "run python -m training.device_pack" in done.stderr
    env.pop("OUT")
    done = subprocess.run(["bash", str(REPO / "training" / "device_train.sh")], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0 and "OUT must name" in done.stderr
