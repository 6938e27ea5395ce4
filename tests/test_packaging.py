"""A non-editable install is a single `midigen` package whose subpackages are the folders, with
the language document (and the models folder) inside it."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_maps_the_folders_into_one_package(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    wheel = next(tmp_path.glob("midigen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("midigen-")}
    assert top == {"midigen"}, top  # no top-level `server`, `exporter`, ...
    for required in (
        "midigen/server/language.json",
        "midigen/server/grammar.py",
        "midigen/exporter/__init__.py",
        "midigen/models/__init__.py",
    ):
        assert required in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("midigen =", "midigen-server =", "midigen-export =", "midigen-bench ="):
        assert script in text

    # installed without the editable finder, the package data is found from site-packages
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import midigen.server.vocab as v; print(v.__file__); print(len(v.load()))"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, str(target)],
        capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(Path(__import__("numpy").__file__).parents[1])},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    where, size = out.stdout.split()
    assert where.startswith(str(target)) and size == "515"
